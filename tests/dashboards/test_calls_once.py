"""The dashboards count an MCP call once and keep what the tool server recorded of it.

A store of its own (the shared seeded store has no MCP calls): an agent's three calls to
an MCP server (the agent's row and the server's row of each), two local calls, a server
row whose client exported nothing (an uninstrumented caller: a call of its own) and a
server row under one of the agent's calls that records another action (a forged
duplicate claim: a call of its own too). Seven calls in ten rows: six in ``tool_calls``
(the calls the agent recorded, and the orphan), four linked server records in
``tool_call_server_sides``; every query agrees.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.writer import Writer
from agentaudit.dashboards import queries as q
from agentaudit.dashboards.filters import Filters, TimeRange
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations

AGENT = "calendar-assistant"
SESSION = "sess-mcp-once"
TRACE = "0c" * 16
CALLS, ROWS, SERVER_SIDES = 7, 10, 4
_ids = itertools.count(1)


def _span(
    tool: str,
    *,
    call_id: str,
    side: str,
    kind: str = "Internal",
    parent: str = "",
    arguments: dict[str, str] | None = None,
    service: str = "calendar-agent",
    resources: tuple[str, ...] = (),
    credential: str = "",
) -> SpanRecord:
    n = next(_ids)
    arguments = arguments or {"owner": "alice", "day": "2026-11-29"}
    text = json.dumps(arguments, sort_keys=True)
    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: tool,
        A.GEN_AI_TOOL_CALL_ID: call_id,
        A.GEN_AI_TOOL_CALL_ARGUMENTS: text,
        A.ARGUMENTS_HASH: "sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        A.GEN_AI_AGENT_ID: AGENT,
        A.ENDUSER_ID: "alice",
        A.SESSION_ID: SESSION,
        A.CALL_SIDE: side,
        A.RESOURCE_IDS: list(resources),
    }
    if credential:
        attributes[A.CREDENTIAL_ID] = credential
        attributes[A.CREDENTIAL_SCOPES] = ["calendar.write"]
    start = time.time_ns() - 600 * 1_000_000_000 + n * 1_000_000
    return SpanRecord(
        TRACE, f"{n:016x}", f"execute_tool {tool}", start, start + 1000,
        parent_span_id=parent, kind=kind, attributes=attributes,
        resource_attributes={A.SERVICE_NAME: service},
    )  # fmt: skip


def _server(client: SpanRecord, **overrides: Any) -> SpanRecord:
    fields: dict[str, Any] = {
        "call_id": str(client.attributes[A.GEN_AI_TOOL_CALL_ID]),
        "side": A.CALL_SIDE_SERVER,
        "kind": "Server",
        "parent": client.span_id,
        "arguments": json.loads(str(client.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS])),
        "service": "calendar-server",
        "resources": (f"calendar:evt-{client.span_id}",),
    }
    fields.update(overrides)
    return _span(str(client.attributes[A.GEN_AI_TOOL_NAME]), **fields)


@pytest.fixture(scope="module")
def mcp_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, list[str]]]:
    store = Store.open(f"chdb://{tmp_path_factory.mktemp('calls-once')}")
    apply_migrations(store)
    clients = [
        _span("list_events", call_id="call_list", side=A.CALL_SIDE_CLIENT),
        _span("create_event", call_id="call_create_1", side=A.CALL_SIDE_CLIENT, credential="c1"),
        _span("create_event", call_id="call_create_2", side=A.CALL_SIDE_CLIENT, credential="c2"),
    ]
    servers = [_server(client) for client in clients]
    local = [_span("summarise", call_id=f"call_local_{i}", side=A.CALL_SIDE_LOCAL) for i in (1, 2)]
    orphan = _span("create_event", call_id="", side=A.CALL_SIDE_SERVER, kind="Server")
    forged = _server(clients[1], arguments={"owner": "alice", "day": "all", "delete": "yes"})
    writer = Writer(store)
    for batch in ([*servers, orphan, forged], [*clients, *local]):  # servers' rows first
        writer.enqueue(batch)
        writer.flush()
    try:
        yield store, [s.span_id for s in clients]
    finally:
        store.close()


@pytest.fixture
def store(mcp_store: tuple[Store, list[str]]) -> Store:
    return mcp_store[0]


def _day() -> TimeRange:
    return TimeRange.parse("24h")


def test_the_store_holds_both_sides(store: Store) -> None:
    sides = store.query("SELECT count() FROM agentaudit.tool_call_server_sides").rows[0][0]
    assert sides == SERVER_SIDES
    assert store.query("SELECT count() FROM agentaudit.tool_calls").rows[0][0] == ROWS - sides
    assert store.query("SELECT count() FROM agentaudit.calls").rows[0][0] == CALLS


def test_overview_counts_calls_once(store: Store) -> None:
    series, tools = q.overview_activity(store, _day())
    assert int(series["calls"].sum()) == CALLS
    assert dict(zip(tools["tool_name"], tools["calls"], strict=True)) == {
        "create_event": 4,  # two calls, the orphan and the forged one
        "list_events": 1,
        "summarise": 2,
    }
    health = q.ingest_health(store)
    assert health["rows"] == ROWS  # what is stored
    assert health["calls_1h"] == CALLS  # what happened


def test_investigate_lists_each_call_once(store: Store) -> None:
    found = q.investigate(store, Filters(window="24h"))
    assert len(found) == CALLS
    only = q.investigate(store, Filters(window="24h", tool="list_events"))
    assert len(only) == 1
    # the fold is looked up among the rows the filters select: the counts stay the same
    assert len(q.investigate(store, Filters(window="24h", agent=AGENT))) == CALLS
    assert len(q.investigate(store, Filters(window="24h", session=SESSION))) == CALLS
    assert len(q.investigate(store, Filters(window="24h", tool="create_event"))) == 4


def test_agent_profile_and_blast_radius_count_calls_once(store: Store) -> None:
    mix = q.agent_tool_mix(store, AGENT, _day())
    assert int(mix["window_calls"].sum()) == CALLS
    profile = q.agent_window_profile(store, AGENT, _day())
    assert int(profile["cadence"]["calls"].iloc[0]) == CALLS
    transitions = profile["transitions"]
    assert int(transitions["calls"].sum()) == CALLS - 1  # one session, CALLS in a row
    blast = q.blast_tools(store, AGENT, _day())
    by_tool = {row["tool_name"]: row for row in blast.to_dict("records")}
    assert by_tool["create_event"]["calls"] == 4
    assert by_tool["list_events"]["calls"] == 1
    # ...while the resources the tool server touched are kept in the blast radius.
    assert by_tool["list_events"]["resources"] == 1
    credentials = q.blast_credentials(store, AGENT, _day())
    assert sorted(credentials["calls"]) == [1, 1]


def test_session_forensics_show_each_call_once_with_the_servers_side(
    mcp_store: tuple[Store, list[str]],
) -> None:
    store, clients = mcp_store
    calls = q.session_tool_calls(store, session=SESSION)
    assert len(calls) == CALLS
    served = calls[calls["span_id"].isin(clients)]
    assert set(served["server_service"]) == {"calendar-server"}
    assert [list(r) for r in served["server_resource_ids"]] == [
        [f"calendar:evt-{span}"] for span in served["span_id"]
    ]
    assert set(calls[~calls["span_id"].isin(clients)]["server_service"]) == {""}
    assert len(q.session_tool_calls(store, trace=TRACE)) == CALLS
    assert len(q.triggering_calls(store, [(TRACE, "")])) == CALLS
    assert len(q.triggering_calls(store, [(TRACE, clients[0])])) == 1


def test_the_window_bounds_the_fold_lookups(store: Store) -> None:
    """A window that ends before the calls finds none (and folds nothing it should not)."""
    past = TimeRange(
        dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime(2020, 1, 2, tzinfo=dt.timezone.utc),
        "custom",
    )
    series, _ = q.overview_activity(store, past)
    assert series.empty
