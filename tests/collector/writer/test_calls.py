"""One row per tool call: ``call_side``, and folding a tool server's row into its caller's.

Rows go through the real writer into a real embedded store, each side in a batch of its
own (the server's first, as it usually arrives); the ``agentaudit.calls`` view (migration
0041), :data:`agentaudit.schema.calls.ONE_PER_CALL` and the detector's follower must
agree on what a call is, and no span may hide a call by claiming to be a duplicate.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import pytest

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.normalise import tool_call_row
from agentaudit.collector.writer.writer import Writer
from agentaudit.detector.follower import Follower, StoreSource, agent_calls_sql
from agentaudit.schema import attributes as A
from agentaudit.schema.calls import ONE_PER_CALL
from agentaudit.store import Store
from agentaudit.store.audit_chain import AuditChain

_ids = itertools.count(1)
T0 = 1_700_000_000_000_000_000
TRACE = "ab" * 16


def _hash(arguments: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()


def tool_span(
    *,
    side: str | None = None,
    kind: str = "Internal",
    parent: str = "",
    call_id: str = "call_1",
    tool: str = "create_event",
    arguments: dict[str, Any] | None = None,
    service: str = "calendar-agent",
    resources: tuple[str, ...] = ("calendar:alice/2026-11-29",),
    trace_id: str = TRACE,
) -> SpanRecord:
    n = next(_ids)
    arguments = {"owner": "alice", "title": "Prep"} if arguments is None else arguments
    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: tool,
        A.GEN_AI_TOOL_CALL_ID: call_id,
        A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(arguments),
        A.ARGUMENTS_HASH: _hash(arguments),
        A.GEN_AI_AGENT_ID: "calendar-assistant",
        A.ENDUSER_ID: "alice",
        A.SESSION_ID: "sess-a",
        A.FRAMEWORK: "mcp",
        A.RESOURCE_IDS: list(resources),
    }
    if side is not None:
        attributes[A.CALL_SIDE] = side
    return SpanRecord(
        trace_id,
        f"{n:016x}",
        f"execute_tool {tool}",
        T0 + n * 1_000_000,
        T0 + n * 1_000_000 + 500,
        parent_span_id=parent,
        kind=kind,
        attributes=attributes,
        resource_attributes={A.SERVICE_NAME: service},
    )


def server_of(client: SpanRecord, **overrides: Any) -> SpanRecord:
    """The tool server's span of ``client``'s call (as the MCP integration records it)."""
    fields: dict[str, Any] = {
        "side": A.CALL_SIDE_SERVER,
        "kind": "Server",
        "parent": client.span_id,
        "call_id": str(client.attributes[A.GEN_AI_TOOL_CALL_ID]),
        "tool": str(client.attributes[A.GEN_AI_TOOL_NAME]),
        "arguments": json.loads(str(client.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS])),
        "service": "calendar-server",
        "resources": ("calendar:evt-777",),
        "trace_id": client.trace_id,
    }
    fields.update(overrides)
    return tool_span(**fields)


def store_batches(store: Store, *batches: list[SpanRecord]) -> None:
    """Each list in a batch (and audit-chain link) of its own, in this order."""
    writer = Writer(store, chain=AuditChain(store))
    for batch in batches:
        writer.enqueue(batch)
        writer.flush()


def scalar(store: Store, sql: str) -> Any:
    return store.query(sql).rows[0][0]


def calls(store: Store) -> int:
    """Calls counted three ways, which must agree."""
    view = int(scalar(store, "SELECT count() FROM agentaudit.calls"))
    fold = int(scalar(store, f"SELECT count() FROM agentaudit.tool_calls WHERE {ONE_PER_CALL}"))  # noqa: S608
    followed = sum(len(rows) for _, rows in Follower(StoreSource(store)).poll())
    assert view == fold == followed
    return view


def rows(store: Store) -> int:
    return int(scalar(store, "SELECT count() FROM agentaudit.tool_calls"))


@pytest.mark.parametrize(
    ("side", "kind", "expected"),
    [
        (None, "Internal", "local"),
        (None, "Server", "server"),
        (None, "Client", "client"),
        ("client", "Internal", "client"),
        ("server", "Server", "server"),
        ("sideways", "Server", "server"),  # not a side: the kind decides
        ("sideways", "Internal", "local"),
    ],
)
def test_call_side_is_the_attribute_else_the_kind(
    side: str | None, kind: str, expected: str
) -> None:
    assert tool_call_row(tool_span(side=side, kind=kind), received_ns=0)["call_side"] == expected


def test_both_sides_are_stored_and_the_call_counts_once(store: Store) -> None:
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)], [client])  # the server's row arrives first
    assert rows(store) == 2
    assert calls(store) == 1
    (row,) = store.query(
        "SELECT span_id, call_side, service_name, tool_call_id, server_service, "
        "server_span_id, server_resource_ids FROM agentaudit.calls"
    ).as_dicts()
    assert row["span_id"] == client.span_id
    assert row["call_side"] == "client"
    assert row["service_name"] == "calendar-agent"
    assert row["tool_call_id"] == "call_1"
    assert row["server_service"] == "calendar-server"  # what only the server knows, kept
    assert row["server_resource_ids"] == ["calendar:evt-777"]
    server = store.query(
        "SELECT service_name, resource_ids, tool_call_id, parent_span_id "
        "FROM agentaudit.tool_calls WHERE call_side = 'server'"
    ).as_dicts()
    assert server == [
        {
            "service_name": "calendar-server",
            "resource_ids": ["calendar:evt-777"],
            "tool_call_id": "call_1",
            "parent_span_id": client.span_id,
        }
    ]


def test_an_investigator_counts_calls_through_the_view(store: Store) -> None:
    """``agentaudit sql`` runs the guarded path: the view passes it, either spelling."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)], [client])
    for table in ("agentaudit.calls", "calls"):
        (row,) = store.investigate(f"SELECT count() AS n FROM {table}").as_dicts()  # noqa: S608
        assert row["n"] == 1
    (row,) = store.investigate("SELECT count() AS n FROM agentaudit.tool_calls").as_dicts()
    assert row["n"] == 2


def test_a_server_row_without_its_client_row_is_a_call(store: Store) -> None:
    """An uninstrumented MCP client: the server's row is the only record of the call."""
    store_batches(store, [tool_span(side=A.CALL_SIDE_SERVER, kind="Server")])
    assert calls(store) == 1


def test_a_forged_duplicate_claim_cannot_hide_a_call(store: Store) -> None:
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    local = tool_span(side=A.CALL_SIDE_LOCAL, call_id="call_9")
    real_server = server_of(client)
    forged = [
        # Another action under the client's span: other arguments.
        server_of(client, arguments={"owner": "alice", "title": "Delete everything"}),
        # The same action again: a client row folds one server row at most.
        server_of(client, resources=("calendar:evt-778",)),
        # Another tool, or another call id, than the client row it names.
        server_of(client, tool="delete_event"),
        server_of(client, call_id="call_2"),
        # A parent that is not stored, or is not a client row.
        server_of(client, parent="f" * 16),
        # A real call that calls itself a server duplicate of a stored local call.
        server_of(local, kind="Internal"),
        # The right parent and action, in another trace.
        server_of(client, trace_id="cd" * 16),
    ]
    store_batches(store, [real_server, *forged], [client, local])
    assert rows(store) == 2 + len(forged) + 1
    assert calls(store) == 1 + len(forged) + 1  # only the real server row is folded
    folded_sql = f"SELECT span_id FROM agentaudit.tool_calls WHERE NOT {ONE_PER_CALL}"  # noqa: S608
    folded = store.query(folded_sql).rows
    assert folded == [(real_server.span_id,)]


def test_the_client_row_alone_folds_nothing_it_claims(store: Store) -> None:
    """A client row claiming another call's server row as its own changes nothing for it."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    other_client = tool_span(side=A.CALL_SIDE_CLIENT, call_id="call_2")
    store_batches(store, [server_of(client)], [other_client])  # the real client never came
    assert calls(store) == 2


def test_the_follower_reads_a_folded_row_without_handing_it_over(store: Store) -> None:
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [client])
    follower = Follower(StoreSource(store))
    assert [len(rows) for _, rows in follower.poll()] == [1]
    other = tool_span(call_id="call_3")
    store_batches(store, [server_of(client), other])
    (batch,) = follower.poll()  # complete (2 rows stored), one of them folded
    link, handed = batch
    assert link.row_count == 2
    assert [row.span_id for row in handed] == [other.span_id]
    assert follower.poll() == []


def test_the_follower_hands_over_a_server_row_read_before_its_client_row(store: Store) -> None:
    """Never skipped on its claim alone: the detector sees that call twice, not zero times."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)])
    follower = Follower(StoreSource(store))
    assert [len(rows) for _, rows in follower.poll()] == [1]
    store_batches(store, [client])
    assert [len(rows) for _, rows in follower.poll()] == [1]


def test_an_agents_replay_counts_each_call_once(store: Store) -> None:
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)], [client])
    found = store.query(agent_calls_sql("calendar-assistant", after=None, limit=100)).rows
    assert [row[2] for row in found] == [client.span_id]
