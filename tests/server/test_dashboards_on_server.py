"""The dashboards' queries on a ClickHouse server answer as on the embedded store.

The demo incident, benign sessions and the detector's rows are written through the real
write path to an embedded store and to the server (then to the cluster, through its
Distributed tables) with the same clock; every query of
:mod:`agentaudit.dashboards.queries` must return the same frame from each.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from agentaudit.config import embedded_dsn
from agentaudit.dashboards import queries
from agentaudit.dashboards.filters import Filters, TimeRange
from agentaudit.store import Store
from tests.dashboards.seed_store import (
    DEMO_AGENT,
    DEMO_CREDENTIAL,
    DEMO_FINDING,
    DEMO_SESSION,
    DEMO_TRACE,
    seed,
)
from tests.server.conftest import Server, open_store

NOW_NS = 1_760_000_000_000_000_000
NOW = dt.datetime.fromtimestamp(NOW_NS / 1e9, dt.timezone.utc)
WINDOW = TimeRange.parse("7d", now=NOW)
SINCE, UNTIL = WINDOW.since.isoformat(), WINDOW.until.isoformat()

QUERIES: dict[str, Callable[[Store], Any]] = {
    "overview_activity": lambda s: queries.overview_activity(s, WINDOW),
    "unasked_calls": lambda s: queries.unasked_calls(s, WINDOW),
    "ingest_health": lambda s: {
        k: v for k, v in queries.ingest_health(s).items() if k in ("rows", "spans", "batches_1h")
    },
    "optional_table": lambda s: queries.optional_table(s, "quarantine"),
    "findings": lambda s: queries.findings(s, since=WINDOW.since - dt.timedelta(days=30)),
    "finding": lambda s: queries.finding(s, DEMO_FINDING),
    "triggering_calls": lambda s: queries.triggering_calls(s, [(DEMO_TRACE, "")]),
    "agent_baseline": lambda s: queries.agent_baseline(s, DEMO_AGENT),
    "investigate": lambda s: queries.investigate(s, Filters(since=SINCE, until=UNTIL)),
    "investigate by agent, untrusted": lambda s: queries.investigate(
        s, Filters(since=SINCE, until=UNTIL, agent=DEMO_AGENT, untrusted=True), sort="tool_name"
    ),
    "investigate by credential and text": lambda s: queries.investigate(
        s, Filters(since=SINCE, until=UNTIL, credential=DEMO_CREDENTIAL, q="evil")
    ),
    "agents": lambda s: queries.agents(s, WINDOW),
    "session_tool_calls": lambda s: queries.session_tool_calls(s, session=DEMO_SESSION),
    "session_tool_calls by trace": lambda s: queries.session_tool_calls(s, trace=DEMO_TRACE),
    "session_model_calls": lambda s: queries.session_model_calls(
        s, trace_ids=[DEMO_TRACE], prompt_hashes=[]
    ),
    "agent_tool_mix": lambda s: queries.agent_tool_mix(s, DEMO_AGENT, WINDOW),
    "agent_cadence": lambda s: queries.agent_cadence(s, DEMO_AGENT, WINDOW),
    "agent_resources": lambda s: queries.agent_resources(s, DEMO_AGENT, WINDOW),
    "agent_scopes": lambda s: queries.agent_scopes(s, DEMO_AGENT, WINDOW),
    "agent_window_profile": lambda s: queries.agent_window_profile(s, DEMO_AGENT, WINDOW),
    "blast_tools": lambda s: queries.blast_tools(s, DEMO_AGENT, WINDOW),
    "blast_credentials": lambda s: queries.blast_credentials(s, DEMO_AGENT, WINDOW),
    "revocations": queries.revocations,
    "quarantined_agents": queries.quarantined_agents,
}
_VOLATILE = ("updated_at", "received_at", "last_received", "lag_ms_1h", "last_5m", "calls_1h")
"""Columns of the time a row was written, which differ between the two stores."""


def _normal(value: Any) -> Any:
    """A comparable form: frames sorted with a fresh index, volatile columns dropped."""
    if isinstance(value, pd.DataFrame):
        frame = value.drop(columns=[c for c in _VOLATILE if c in value.columns])
        frame = frame.astype(str)
        return (
            frame.sort_values(list(frame.columns)).reset_index(drop=True) if len(frame) else frame
        )
    if isinstance(value, tuple | list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k not in _VOLATILE}
    return value


def test_every_dashboard_query_is_compared() -> None:
    public = {
        name
        for name in queries.__all__
        if inspect.isfunction(getattr(queries, name)) and name != "SORTABLE"
    }
    covered = {name.split(" ")[0] for name in QUERIES}
    assert public <= covered, f"add to QUERIES: {sorted(public - covered)}"


@pytest.fixture(scope="module")
def embedded_answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("dashboards-embedded")
    with Store.open(embedded_dsn(folder / "store")) as store:
        seed(store, NOW_NS, findings=True)
        return {name: _normal(query(store)) for name, query in QUERIES.items()}


@pytest.fixture(scope="module", params=["server", "cluster"])
def seeded(request: pytest.FixtureRequest) -> Iterator[Store]:
    found: Server = request.getfixturevalue(
        "server" if request.param == "server" else "cluster_server"
    )
    with open_store(found) as store:
        seed(store, NOW_NS, findings=True)
        yield store


@pytest.mark.parametrize("name", list(QUERIES))
def test_the_query_answers_as_on_the_embedded_store(
    embedded_answers: dict[str, Any], seeded: Store, name: str
) -> None:
    answer = _normal(QUERIES[name](seeded))
    expected = embedded_answers[name]
    if isinstance(expected, pd.DataFrame):
        assert len(expected) or name in ("quarantined_agents", "optional_table", "revocations")
        pd.testing.assert_frame_equal(answer, expected, check_dtype=False)
    else:
        assert str(answer) == str(expected)
