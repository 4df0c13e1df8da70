"""The data of the Agents and Blast radius pages: the identity-card catalog, joined with
the store (observed use, the agent registry, sign-offs, open findings).

The catalog is the one the dashboard's config names (``--catalog`` /
``AGENTAUDIT_CATALOG`` / ``catalog`` in the config file, through
:func:`agentaudit.dashboards.get_config`); it is re-read when the file changes. Cards
are built with :func:`agentaudit.catalog.build_card`, as ``agentaudit card`` builds
them, over a :class:`~agentaudit.catalog.StoreSource` of the dashboard's store. Results
are cached per store, catalog file version and window for
:data:`~agentaudit.dashboards.data.TTL_SECONDS`.

Pages render what this returns as text: tables in ``st.dataframe`` cells, other values
through ``md``/``fmt`` (docs/catalog.md: the card's Markdown is for a terminal, the
dashboard does not render it).
"""

# S608: the SQL below splices only literals quoted by quote_string.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd
import streamlit as st

from agentaudit.catalog import (
    Card,
    Catalog,
    CatalogError,
    Observations,
    StoreSource,
    ToolUse,
    Vocabularies,
    build_card,
    load_catalog,
    load_vocabularies,
    newest_signoff,
    observe,
    open_findings,
    parse_since,
)
from agentaudit.dashboards import get_config, get_store
from agentaudit.dashboards.data import OPEN_STATES, TTL_SECONDS
from agentaudit.dashboards.filters import TimeRange
from agentaudit.schema.identifiers import canonical_id

__all__ = [
    "AGENT_COLUMNS",
    "OBSERVED_WINDOWS",
    "CatalogState",
    "agent_card",
    "agents_table",
    "catalog_state",
    "tool_uses",
    "vocabularies",
]

OBSERVED_WINDOWS: Final = ("24h", "7d", "30d", "90d")
"""How far back the Agents page reads observed use (a card's default is 30d)."""
_NO_CATALOG: Final = Catalog("")
AGENT_COLUMNS: Final = (
    "agent", "owner", "card", "excess scopes", "problems", "high problems", "open findings",
    "calls", "catalogued", "registry", "signed by",
)  # fmt: skip
"""The Agents page's table."""


@dataclass(frozen=True)
class CatalogState:
    """The configured catalog: its path (None: none configured), the catalog when it
    loads, else why not."""

    path: Path | None
    catalog: Catalog | None = None
    error: str = ""

    @property
    def key(self) -> str:
        """Changes when the file does: part of every cache key below."""
        if self.path is None:
            return ""
        try:
            status = self.path.stat()
        except OSError:
            return str(self.path)
        return f"{self.path}|{status.st_mtime_ns}|{status.st_size}"


@st.cache_resource(show_spinner=False, max_entries=8)
def _load(key: str) -> Catalog:
    return load_catalog(key.split("|", 1)[0])


def catalog_state() -> CatalogState:
    """The catalog the config names, loaded (or the error that names its line)."""
    path = get_config().catalog
    if path is None:
        return CatalogState(None)
    state = CatalogState(path)
    try:
        return CatalogState(path, _load(state.key))
    except CatalogError as exc:
        return CatalogState(path, error=str(exc))


@st.cache_resource(show_spinner=False)
def vocabularies() -> Vocabularies:
    return load_vocabularies()


def _dsn() -> str:
    return get_store().dsn.raw


def _catalog() -> tuple[Catalog, str]:
    state = catalog_state()
    return (state.catalog or _NO_CATALOG), state.key


# -- the Agents page --------------------------------------------------------------------


def _registry(source: StoreSource) -> dict[str, tuple[str, str]]:
    """Canonical agent id -> (state, owner) of each registered agent's newest version
    (tool servers are registered too; they have no card)."""
    rows = source.rows(
        "SELECT name, state, owner FROM (SELECT name, state, owner, kind, updated_at FROM "
        "agentaudit.agents ORDER BY updated_at DESC LIMIT 1 BY name) WHERE kind = 'agent'"
    )
    return {canonical_id(str(r[0])) or str(r[0]): (str(r[1]), str(r[2])) for r in rows}


def _findings_count(source: StoreSource) -> dict[str, int]:
    """Canonical agent id -> findings whose newest version is open or escalated."""
    states = ", ".join(f"'{s}'" for s in OPEN_STATES)
    rows = source.rows(
        "SELECT agent_id, count() FROM (SELECT finding_id, agent_id, state FROM "
        "agentaudit.findings ORDER BY updated_at DESC LIMIT 1 BY finding_id) "
        f"WHERE state IN ({states}) GROUP BY agent_id"
    )
    counts: dict[str, int] = {}
    for agent, count in rows:
        key = canonical_id(str(agent)) or str(agent)
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _calls(observations: Observations) -> dict[str, int]:
    calls: dict[str, int] = {}
    for use in observations.tools:
        key = canonical_id(use.agent) or use.agent
        calls[key] = calls.get(key, 0) + use.calls
    return calls


def _card(
    source: StoreSource,
    catalog: Catalog,
    agent: str,
    *,
    observations: Observations,
    owners: Mapping[str, str],
    findings: Sequence[Mapping[str, Any]],
    window: str,
    vocab: Vocabularies,
) -> Card:
    signoff = newest_signoff(source, agent) if catalog.agent(agent) is not None else None
    since_signoff = (
        observe(source, since_ns=signoff.signed_at_ms * 1_000_000, agent=agent)
        if signoff is not None
        else None
    )
    return build_card(
        catalog,
        agent,
        vocabularies=vocab,
        observations=observations,
        since_signoff=since_signoff,
        registry_owners=owners,
        findings=findings,
        signoff=signoff,
        window=window,
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=32)
def _agents_table(dsn: str, catalog_key: str, window: str) -> pd.DataFrame:
    del dsn, catalog_key  # cache keys
    catalog, _ = _catalog()
    source = StoreSource(get_store())
    vocab = vocabularies()
    observations = observe(source, since_ns=parse_since(window))
    registry = _registry(source)
    owners = {name: owner for name, (_, owner) in registry.items() if owner}
    counts = _findings_count(source)
    calls = _calls(observations)
    names = sorted({*catalog.agent_names, *observations.agents, *registry})
    rows = []
    for name in names:
        card = _card(
            source,
            catalog,
            name,
            observations=observations,
            owners=owners,
            findings=(),
            window=window,
            vocab=vocab,
        )
        state, registered_owner = registry.get(card.agent, ("", ""))
        excess = [
            f"{scope} ({tool.name})"
            for tool in card.tools
            if tool.granted_scopes is not None
            for scope in tool.granted_scopes
            if scope not in (tool.min_scopes or ())
        ]
        rows.append(
            {
                "agent": card.agent,
                "owner": card.owner or registered_owner,
                "card": card.status,
                "excess scopes": excess,
                "problems": len(card.problems),
                "high problems": sum(1 for p in card.problems if p.severity == "high"),
                "open findings": counts.get(card.agent, 0),
                "calls": calls.get(card.agent, 0),
                "catalogued": catalog.agent(name) is not None,
                "registry": state,
                "signed by": card.signed_by,
            }
        )
    return pd.DataFrame(rows, columns=AGENT_COLUMNS)


def agents_table(window: str) -> pd.DataFrame:
    """One row per agent seen in ``window``, catalogued or registered: :data:`AGENT_COLUMNS`
    (``card`` is its status: signed, unsigned, drifted, none)."""
    _, key = _catalog()
    return _agents_table(_dsn(), key, window)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=64)
def _agent_card(dsn: str, catalog_key: str, agent: str, window: str) -> Card:
    del dsn, catalog_key
    catalog, _ = _catalog()
    source = StoreSource(get_store())
    registry = _registry(source)
    return _card(
        source,
        catalog,
        agent,
        observations=observe(source, since_ns=parse_since(window), agent=agent),
        owners={name: owner for name, (_, owner) in registry.items() if owner},
        findings=open_findings(source, agent),
        window=window,
        vocab=vocabularies(),
    )


def agent_card(agent: str, window: str) -> Card:
    """``agent``'s card as ``agentaudit card`` builds it (status ``none`` when no catalog
    is configured or the agent is not in it), with its open findings."""
    _, key = _catalog()
    return _agent_card(_dsn(), key, agent, window)


# -- the Blast radius page ----------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=64)
def _tool_uses(dsn: str, agent: str, since_ns: int, until_ns: int) -> tuple[ToolUse, ...]:
    del dsn
    observed = observe(StoreSource(get_store()), since_ns=since_ns, until_ns=until_ns, agent=agent)
    return tuple(observed.tools)


def tool_uses(agent: str, window: TimeRange) -> tuple[ToolUse, ...]:
    """``agent``'s tool use in ``window`` (per tool, scopes presented, resource types)."""
    since = int(window.since.timestamp() * 1e9)
    until = int(window.until.timestamp() * 1e9)
    return _tool_uses(_dsn(), agent, since, until)
