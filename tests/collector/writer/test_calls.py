"""One row per tool call: ``call_side``, where each side is stored, and the fold.

Rows go through the real writer into a real embedded store, each side in a batch of its
own (the server's first, as it usually arrives). ``tool_calls`` holds one row per call
when the caller is instrumented (the server's linked record goes to
``tool_call_server_sides``); the ``agentaudit.calls`` view (migration 0042),
:data:`agentaudit.schema.calls.ONE_PER_CALL` over every side and the detector's follower
must agree on what a call is, and no span may hide a call by claiming to be a duplicate.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentaudit.collector.identity.principals import AGENT, TOOL_SERVER
from agentaudit.collector.model import VERIFIED_AGENT, VERIFIED_PRINCIPAL, SpanRecord
from agentaudit.collector.writer.arrow_tables import rows_table
from agentaudit.collector.writer.normalise import tool_call_row
from agentaudit.collector.writer.table_schemas import TOOL_CALLS
from agentaudit.collector.writer.writer import TOOL_CALLS_TABLE
from agentaudit.dashboards.queries import SENT_BY
from agentaudit.detector.channel import decode_table, encode_calls
from agentaudit.detector.follower import Follower, StoreSource, agent_calls_sql, handed_rows
from agentaudit.schema import attributes as A
from agentaudit.schema.calls import (
    ALL_SIDES,
    LINKED_SERVER_SIDE,
    ONE_PER_CALL,
    is_linked_server_side,
)
from agentaudit.store import Store
from agentaudit.store.audit_chain import AuditChain
from tests.collector.writer.mcp_spans import T0, server_of, store_batches, tool_span


def store_legacy(store: Store, *spans: SpanRecord) -> None:
    """Rows as the writer stored them before migration 0042: every side in tool_calls."""
    rows = [tool_call_row(span, received_ns=T0) | {"batch_id": "legacy"} for span in spans]
    store.insert_arrow(TOOL_CALLS_TABLE, rows_table(TOOL_CALLS, rows))


def scalar(store: Store, sql: str) -> Any:
    return store.query(sql).rows[0][0]


def calls(store: Store, *, followed: bool = True) -> int:
    """Calls counted three ways, which must agree (the follower reads the chained
    ``tool_calls`` batches, so it sees the calls the callers recorded)."""
    view = int(scalar(store, "SELECT count() FROM agentaudit.calls"))
    fold = int(scalar(store, f"SELECT count() FROM {ALL_SIDES} WHERE {ONE_PER_CALL}"))  # noqa: S608
    assert view == fold
    if followed:
        assert view == sum(len(rows) for _, rows in Follower(StoreSource(store)).poll())
    return view


def rows(store: Store, table: str = "tool_calls") -> int:
    return int(scalar(store, f"SELECT count() FROM agentaudit.{table}"))  # noqa: S608


def sides(store: Store) -> int:
    return rows(store, "tool_call_server_sides")


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


@pytest.mark.parametrize(
    ("side", "call_id", "parent", "hashed", "linked"),
    [
        ("server", "call_1", "1" * 16, "sha256:ab", True),
        ("server", "", "1" * 16, "sha256:ab", False),  # no tool-call id: no link sent
        ("server", "call_1", "", "sha256:ab", False),  # no trace context
        ("server", "call_1", "1" * 16, "", False),  # a peer's span: nothing it could fold into
        ("client", "call_1", "1" * 16, "sha256:ab", False),
        ("local", "call_1", "1" * 16, "sha256:ab", False),
        ("", "call_1", "1" * 16, "sha256:ab", False),  # written before migration 0040
    ],
)
def test_only_a_server_row_its_caller_linked_is_a_server_side(  # noqa: PLR0917 - pytest passes parameters positionally
    store: Store, side: str, call_id: str, parent: str, hashed: str, linked: bool
) -> None:
    assert is_linked_server_side(side, call_id, parent, hashed) is linked
    assert not is_linked_server_side(side, call_id, parent, hashed, "agent_token")
    assert is_linked_server_side(side, call_id, parent, hashed, "tool_server_token") is linked
    assert is_linked_server_side(side, call_id, parent, hashed, "shared_token") is linked
    if not side:
        return  # the writer always gives a side
    span = tool_span(side=side, kind="Server", call_id=call_id, parent=parent)
    if not hashed:
        del span.attributes[A.ARGUMENTS_HASH]
    store_batches(store, [span])  # where the writer puts it
    assert (rows(store), sides(store)) == ((0, 1) if linked else (1, 0))


def test_an_instrumented_call_is_one_tool_calls_row_and_one_server_side(store: Store) -> None:
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)], [client])  # the server's row arrives first
    assert rows(store) == 1
    assert sides(store) == 1
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
        "SELECT span_id, call_side, service_name, resource_ids, tool_call_id, parent_span_id "
        "FROM agentaudit.tool_call_server_sides"
    ).as_dicts()
    assert server == [
        {
            "span_id": row["server_span_id"],
            "call_side": "server",
            "service_name": "calendar-server",
            "resource_ids": ["calendar:evt-777"],
            "tool_call_id": "call_1",
            "parent_span_id": client.span_id,
        }
    ]


def test_an_investigator_counts_calls_in_either_place(store: Store) -> None:
    """``agentaudit sql`` runs the guarded path: the view and both tables pass it."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)], [client])
    for table in ("agentaudit.calls", "calls", "agentaudit.tool_calls", "tool_calls"):
        (row,) = store.investigate(f"SELECT count() AS n FROM {table}").as_dicts()  # noqa: S608
        assert row["n"] == 1
    (row,) = store.investigate("SELECT count() AS n FROM tool_call_server_sides").as_dicts()
    assert row["n"] == 1


def test_a_server_row_without_a_link_is_a_call_in_tool_calls(store: Store) -> None:
    """An uninstrumented MCP client: the server's row is the only record of the call."""
    store_batches(
        store,
        [tool_span(side=A.CALL_SIDE_SERVER, kind="Server", call_id="")],
        [tool_span(side=A.CALL_SIDE_SERVER, kind="Server", parent="e" * 16, call_id="")],
    )
    assert (rows(store), sides(store)) == (2, 0)
    assert calls(store) == 2


def test_a_claimed_link_whose_caller_row_never_comes_is_still_a_call(store: Store) -> None:
    """The link is the caller's claim: its record may never arrive; the call still counts."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)])  # the caller never sends its row
    assert (rows(store), sides(store)) == (0, 1)
    assert calls(store, followed=False) == 1
    (row,) = store.query(
        "SELECT call_side, service_name, server_service FROM agentaudit.calls"
    ).as_dicts()
    assert row == {"call_side": "server", "service_name": "calendar-server", "server_service": ""}


def test_rows_written_before_the_split_still_count_once(store: Store) -> None:
    """Both sides in tool_calls (as stored before migration 0042), next to new rows."""
    old_client = tool_span(side=A.CALL_SIDE_CLIENT, call_id="call_old")
    store_legacy(store, server_of(old_client), old_client)
    new_client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(new_client)], [new_client])
    assert (rows(store), sides(store)) == (3, 1)
    assert calls(store, followed=False) == 2
    found = store.query(
        "SELECT tool_call_id, server_service FROM agentaudit.calls ORDER BY tool_call_id"
    ).rows
    assert found == [("call_1", "calendar-server"), ("call_old", "calendar-server")]
    legacy_fold = f"SELECT count() FROM agentaudit.tool_calls WHERE {ONE_PER_CALL}"  # noqa: S608
    assert scalar(store, legacy_fold) == 2


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
    assert (rows(store), sides(store)) == (2, 1 + len(forged))
    assert calls(store, followed=False) == 1 + len(forged) + 1  # only the real one is folded
    folded_sql = f"SELECT span_id FROM {ALL_SIDES} WHERE NOT {ONE_PER_CALL}"  # noqa: S608
    assert store.query(folded_sql).rows == [(real_server.span_id,)]
    joined = "SELECT server_span_id FROM agentaudit.calls WHERE span_id = {s:String}"
    assert store.query(joined, {"s": client.span_id}).rows == [(real_server.span_id,)]


LINKED_IN_ALL_SIDES = f"SELECT count() FROM {ALL_SIDES} WHERE {LINKED_SERVER_SIDE}"  # noqa: S608


def _sent_by(span: SpanRecord, principal: str, role: str = AGENT) -> SpanRecord:
    """``span`` as the pipeline stamps it when ``principal``'s own token sent it (an
    agent's, or a tool server's with ``role=TOOL_SERVER``; ``""``: the shared token)."""
    span.verified.update({VERIFIED_PRINCIPAL: role, VERIFIED_AGENT: principal})
    return span


def test_an_agent_cannot_make_its_own_calls_server_records(store: Store) -> None:
    # The agent's own token sends a "server record" naming the agent itself, linked to a
    # span of its own: it is the agent's record of its call, kept where its baseline
    # (the detector reads tool_calls) sees it.
    decoy = tool_span(side=A.CALL_SIDE_CLIENT, call_id="call_decoy")
    hidden = server_of(decoy, tool="export_customers", call_id="call_decoy")
    store_batches(store, [_sent_by(hidden, "calendar-assistant")])
    assert (rows(store), sides(store)) == (1, 0)
    assert scalar(store, LINKED_IN_ALL_SIDES) == 0  # the SQL form says the same
    follower = Follower(StoreSource(store))
    assert [row.tool_name for _, got in follower.poll() for row in got] == ["export_customers"]
    assert calls(store, followed=False) == 1


def test_an_agent_cannot_file_a_server_record_under_another_agents_call(store: Store) -> None:
    # Agent mail-assistant, with its own token, sends a "server record" that names
    # calendar-assistant and links to that agent's real call: it is mail-assistant's
    # record (flagged as a mismatch), kept in tool_calls where its baseline sees it, not
    # a server side filed under the other agent's call.
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    forged = server_of(client, tool="export_customers")
    store_batches(
        store, [_sent_by(forged, "mail-assistant")], [_sent_by(client, "calendar-assistant")]
    )
    assert (rows(store), sides(store)) == (2, 0)
    assert scalar(store, LINKED_IN_ALL_SIDES) == 0
    stored = store.query(
        "SELECT authenticated_agent, authentication, agent_mismatch FROM agentaudit.tool_calls "
        "WHERE tool_name = 'export_customers'"
    ).rows
    assert stored == [("mail-assistant", "agent_token", 1)]
    followed = {
        row.tool_name: row.principal
        for _, got in Follower(StoreSource(store)).poll()
        for row in got
    }
    assert followed == {"create_event": "calendar-assistant", "export_customers": "mail-assistant"}
    assert calls(store) == 2


@pytest.mark.parametrize(("principal", "role"), [("calendar-server", TOOL_SERVER), ("", AGENT)])
def test_a_tool_servers_record_is_a_server_side_with_its_own_or_the_shared_token(
    store: Store, principal: str, role: str
) -> None:
    # A tool server's record names its caller: sent with the server's registered token
    # (kind tool_server) or the shared token (no principal), it is a server side.
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    server = _sent_by(server_of(client), principal, role)
    store_batches(store, [server], [_sent_by(client, "calendar-assistant")])
    assert (rows(store), sides(store)) == (1, 1)
    assert scalar(store, LINKED_IN_ALL_SIDES) == 1
    assert calls(store) == 1
    stored = store.query(
        "SELECT authenticated_agent, authentication, agent_mismatch "
        "FROM agentaudit.tool_call_server_sides"
    ).rows
    expected = "tool_server_token" if principal else "shared_token"
    assert stored == [(principal, expected, 0)]


def test_a_tool_servers_unlinked_record_counts_for_the_caller_it_names(store: Store) -> None:
    # No caller span to link to (an uninstrumented caller): the server's record stays in
    # tool_calls, as a call of the agent it names; the server's token is the sender, not
    # the agent, so the detector neither keys it to the server nor flags a mismatch.
    record = _sent_by(
        tool_span(side=A.CALL_SIDE_SERVER, kind="Server"), "calendar-server", TOOL_SERVER
    )
    handed: list[Any] = []
    store_batches(store, [record], on_stored=handed.append)
    assert (rows(store), sides(store)) == (1, 0)
    (followed,) = [row for _, got in Follower(StoreSource(store)).poll() for row in got]
    assert (followed.principal, followed.authenticated_agent) == ("calendar-assistant", "")
    (batch,) = handed
    (crossed,) = handed_rows(decode_table(encode_calls(batch.calls)))
    assert (crossed.principal, crossed.authenticated_agent) == ("calendar-assistant", "")
    sent_by = store.query(f"SELECT {SENT_BY} FROM agentaudit.tool_calls").rows  # noqa: S608
    assert sent_by == [("calendar-server (tool server)",)]


def test_the_client_row_alone_folds_nothing_it_claims(store: Store) -> None:
    """A client row claiming another call's server row as its own changes nothing for it."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    other_client = tool_span(side=A.CALL_SIDE_CLIENT, call_id="call_2")
    store_batches(store, [server_of(client)], [other_client])  # the real client never came
    assert calls(store, followed=False) == 2


def test_the_follower_reads_a_folded_legacy_row_without_handing_it_over(store: Store) -> None:
    """A batch replayed from before migration 0042 holds both sides in tool_calls."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [client])
    follower = Follower(StoreSource(store))
    assert [len(rows) for _, rows in follower.poll()] == [1]
    other = tool_span(call_id="call_3")
    store_legacy(store, server_of(client), other)
    AuditChain(store).append(chain_id="legacy", seq=1, prev_hash="", batch_id="legacy")
    (batch,) = follower.poll()  # complete (2 rows stored), one of them folded
    link, handed = batch
    assert link.row_count == 2
    assert [row.span_id for row in handed] == [other.span_id]
    assert follower.poll() == []


def test_the_follower_hands_over_each_recorded_call_once(store: Store) -> None:
    """The server's linked record arrives first: the detector is handed the call once,
    when the caller's row comes (the server side is not a tool_calls row)."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)])
    follower = Follower(StoreSource(store))
    assert follower.poll() == []
    store_batches(store, [client])
    assert [len(rows) for _, rows in follower.poll()] == [1]


def test_an_agents_replay_counts_each_call_once(store: Store) -> None:
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    store_batches(store, [server_of(client)], [client])
    found = store.query(agent_calls_sql("calendar-assistant", after=None, limit=100)).rows
    assert [row[2] for row in found] == [client.span_id]
