"""The one data-access module pages call: cached wrappers over :mod:`.queries`.

Results are cached per store (keyed by its DSN) with ``st.cache_data`` and a short TTL,
so a page rerun after a widget change does not query again; the store itself comes from
:func:`agentaudit.dashboards.get_store` (``st.cache_resource`` or the registered store).
Revocation history, quarantined agents, legal holds, the Findings page's findings and
console queries are never cached: they must show the newest state; after a revocation,
release or triage :func:`forget_cached` drops the cached results so the Overview shows the new
quarantine and open findings at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

import pandas as pd
import streamlit as st

from agentaudit.dashboards import get_store, queries
from agentaudit.dashboards.filters import Filters, TimeRange
from agentaudit.store.evidence.holds import Hold, list_holds

__all__ = [
    "OPEN_STATES",
    "TTL_SECONDS",
    "agent_baseline",
    "agent_cadence",
    "agent_calls_claimed_elsewhere",
    "agent_resources",
    "agent_scopes",
    "agent_tool_mix",
    "agent_window_profile",
    "agents",
    "blast_credentials",
    "blast_tools",
    "finding",
    "findings",
    "forget_cached",
    "ingest_health",
    "investigate",
    "legal_holds",
    "open_findings",
    "optional_table",
    "overview_activity",
    "quarantined_agents",
    "revocations",
    "run_sql",
    "session_model_calls",
    "session_tool_calls",
    "triggering_calls",
    "unasked_calls",
]

TTL_SECONDS: Final = 15
OPEN_STATES: Final = ("open", "escalated")
"""The states of findings that still need a human (the Overview's panel)."""


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=512)
def _cached(dsn: str, name: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    del dsn  # part of the cache key only: one entry per store
    return getattr(queries, name)(get_store(), *args, **dict(kwargs))


def _run(name: str, *args: Any, **kwargs: Any) -> Any:
    return _cached(get_store().dsn.raw, name, args, tuple(sorted(kwargs.items())))


def overview_activity(window: TimeRange) -> tuple[pd.DataFrame, pd.DataFrame]:
    series, tools = _run("overview_activity", window)
    return series, tools


def unasked_calls(window: TimeRange) -> pd.DataFrame:
    return _run("unasked_calls", window)


def ingest_health() -> dict[str, Any]:
    return dict(_run("ingest_health"))


def optional_table(table: str) -> pd.DataFrame | None:
    return _run("optional_table", table)


def investigate(filters: Filters, *, sort: str, descending: bool) -> pd.DataFrame:
    return _run("investigate", filters, sort=sort, descending=descending)


def agents(window: TimeRange) -> list[str]:
    return list(_run("agents", window))


def session_tool_calls(*, session: str = "", trace: str = "") -> pd.DataFrame:
    return _run("session_tool_calls", session=session, trace=trace)


def session_model_calls(*, trace_ids: list[str], prompt_hashes: list[str]) -> pd.DataFrame:
    return _run(
        "session_model_calls", trace_ids=tuple(trace_ids), prompt_hashes=tuple(prompt_hashes)
    )


def agent_tool_mix(agent: str, window: TimeRange) -> pd.DataFrame:
    return _run("agent_tool_mix", agent, window)


def agent_cadence(agent: str, window: TimeRange) -> pd.DataFrame:
    return _run("agent_cadence", agent, window)


def agent_calls_claimed_elsewhere(agent: str, window: TimeRange) -> int:
    return int(_run("agent_calls_claimed_elsewhere", agent, window))


def agent_resources(agent: str, window: TimeRange) -> pd.DataFrame:
    return _run("agent_resources", agent, window)


def agent_scopes(agent: str, window: TimeRange) -> pd.DataFrame:
    return _run("agent_scopes", agent, window)


def blast_tools(agent: str, window: TimeRange) -> pd.DataFrame:
    return _run("blast_tools", agent, window)


def blast_credentials(agent: str, window: TimeRange) -> pd.DataFrame:
    return _run("blast_credentials", agent, window)


def agent_baseline(agent: str) -> dict[str, Any] | None:
    found = _run("agent_baseline", agent)
    return dict(found) if found is not None else None


def agent_window_profile(agent: str, window: TimeRange) -> dict[str, pd.DataFrame]:
    return dict(_run("agent_window_profile", agent, window))


def open_findings(limit: int = 50) -> pd.DataFrame | None:
    """Findings whose newest version is open or escalated (cached, for the Overview)."""
    return _run("findings", states=OPEN_STATES, limit=limit)


def findings(
    *,
    states: Sequence[str] = (),
    severities: Sequence[str] = (),
    agent: str = "",
    since: dt.datetime | None = None,
    limit: int = 200,
) -> pd.DataFrame | None:
    """The Findings page's list: uncached, so a triage shows at once."""
    return queries.findings(
        get_store(), states=states, severities=severities, agent=agent, since=since, limit=limit
    )


def finding(finding_id: str) -> dict[str, Any] | None:
    return queries.finding(get_store(), finding_id)


def triggering_calls(calls: Sequence[tuple[str, str]]) -> pd.DataFrame:
    return _run("triggering_calls", tuple(calls))


def revocations() -> pd.DataFrame:
    return queries.revocations(get_store())


def quarantined_agents() -> pd.DataFrame:
    return queries.quarantined_agents(get_store())


def legal_holds() -> list[Hold]:
    """Every legal hold, placed and released (uncached: a hold or release shows at once)."""
    return list_holds(get_store())


def forget_cached() -> None:
    """Drop every cached query result (after a revocation or release changed the state)."""
    _cached.clear()


def run_sql(sql: str) -> pd.DataFrame:
    """Investigate ``sql`` typed on the SQL page: the guard, then a read-only handle.

    Raises QueryRefused (nothing ran; the message names what is not allowed) and the
    other store errors of :meth:`~agentaudit.store.Store.investigate`.
    """
    result = get_store().investigate(sql)
    return pd.DataFrame.from_records(result.rows, columns=list(result.columns))
