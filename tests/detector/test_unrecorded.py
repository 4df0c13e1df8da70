"""``unrecorded_call``: a tool server's linked record whose caller never sent its own.

Against a real embedded store, every span through the real writer (the helpers of the
writer's one-row-per-call tests). The caller's link is a claim: when its record does not
arrive within the grace the server's record is a finding; a record its caller row took,
a server row of an uninstrumented caller, and a record still within the grace are not.
"""

from __future__ import annotations

import time

from agentaudit.detector.unrecorded import GRACE_SECONDS, RULE, unrecorded_calls
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from tests.collector.writer.mcp_spans import server_of, store_batches, tool_span

LATER = int((GRACE_SECONDS + 1) * 1_000_000_000)


def test_a_claimed_call_whose_caller_record_never_came_is_found_after_the_grace(
    store: Store,
) -> None:
    claimed = tool_span(side=A.CALL_SIDE_CLIENT, call_id="call_ghost")
    server = server_of(claimed)
    store_batches(store, [server])  # the caller never sends its row
    assert unrecorded_calls(store).findings == []  # within the grace: it may still come

    sweep = unrecorded_calls(store, now_ns=time.time_ns() + LATER)
    (finding,) = sweep.findings
    assert (finding.rule, finding.severity) == (RULE, "high")
    assert (finding.agent_id, finding.user_id, finding.session_id) == (
        "calendar-assistant", "alice", "sess-a",
    )  # fmt: skip
    assert (finding.trace_id, finding.span_id, finding.tool_name) == (
        server.trace_id, server.span_id, "create_event",
    )  # fmt: skip
    assert finding.summary.startswith(
        "mcp server `calendar-server` ran create_event for agent calendar-assistant "
        "(user alice) but the caller's record of the call never arrived"
    )
    assert "the caller claimed to record it" in finding.summary
    assert finding.evidence["claimed_caller_span_id"] == claimed.span_id
    assert finding.evidence["resource_ids"] == ["calendar:evt-777"]
    assert store.query("SELECT count() FROM agentaudit.calls").rows == [(1,)]  # still a call

    # Examined once: the next sweep goes on after it.
    assert unrecorded_calls(store, after=sweep.cursor, now_ns=time.time_ns() + LATER) == (
        type(sweep)([], sweep.cursor, 0)
    )
    # Examined again (a cursor lost): the same finding, not a second one.
    (again,) = unrecorded_calls(store, now_ns=time.time_ns() + LATER).findings
    assert again.finding_id == finding.finding_id


def test_recorded_and_unlinked_calls_are_not_findings(store: Store) -> None:
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    uninstrumented = tool_span(side=A.CALL_SIDE_SERVER, kind="Server", call_id="")
    store_batches(store, [server_of(client), uninstrumented], [client])
    sweep = unrecorded_calls(store, now_ns=time.time_ns() + LATER)
    assert sweep.findings == []
    assert sweep.examined == 1  # the linked record; the unlinked row is in tool_calls


def test_a_second_record_under_one_recorded_call_is_found(store: Store) -> None:
    """The server ran an action its caller recorded once, twice."""
    client = tool_span(side=A.CALL_SIDE_CLIENT)
    first, second = server_of(client), server_of(client, resources=("calendar:evt-778",))
    store_batches(store, [first, second], [client])
    (finding,) = unrecorded_calls(store, now_ns=time.time_ns() + LATER).findings
    assert finding.span_id == max(first.span_id, second.span_id)
    assert store.query("SELECT count() FROM agentaudit.calls").rows == [(2,)]


def test_a_sweep_reads_at_most_its_limit_and_goes_on_from_its_cursor(store: Store) -> None:
    claims = [tool_span(side=A.CALL_SIDE_CLIENT, call_id=f"call_{i}") for i in range(5)]
    store_batches(store, [server_of(claim) for claim in claims])
    now = time.time_ns() + LATER
    found, cursor, sweeps = [], None, 0
    while True:
        sweep = unrecorded_calls(store, after=cursor, now_ns=now, limit=2)
        if not sweep.examined:
            break
        found += sweep.findings
        cursor, sweeps = sweep.cursor, sweeps + 1
    assert sweeps == 3
    assert sorted(f.evidence["tool_call_id"] for f in found) == [f"call_{i}" for i in range(5)]
