"""Exactly once per span in the writer, against a real embedded store.

Every check reads the tables with plain SELECTs (no FINAL). A "copy" is a span with the
same trace and span id received again: an exporter's retransmission, another worker's
copy, a WAL replay. Crashes are simulated by a store that raises at a chosen insert,
after which the writer and its WAL are abandoned and reopened, as a restart would.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from agentaudit.collector.metrics import CollectorMetrics
from agentaudit.collector.model import SpanRecord
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.dedup import (
    LOOKUP_CHUNK,
    SpanClaims,
    span_key,
    stored_keys,
)
from agentaudit.collector.writer.writer import (
    OTEL_TRACES_TABLE,
    SERVER_SIDES_TABLE,
    TOOL_CALLS_TABLE,
    Writer,
)
from agentaudit.schema import attributes as A
from agentaudit.store import Store, StoreUnavailable
from agentaudit.store.audit_chain import AuditChain, verify_chain

SpanFactory = Callable[..., SpanRecord]


def counts(store: Store) -> dict[str, dict[str, int]]:
    """Rows per span id in each span table: plain SELECTs, no FINAL."""
    traces = store.query("SELECT SpanId, count() FROM agentaudit.otel_traces GROUP BY SpanId")
    calls = store.query("SELECT span_id, count() FROM agentaudit.tool_calls GROUP BY span_id")
    return {
        "otel_traces": {str(s): int(n) for s, n in traces.rows},
        "tool_calls": {str(s): int(n) for s, n in calls.rows},
    }


def assert_once(store: Store, spans: list[SpanRecord]) -> None:
    expected = {span.span_id: 1 for span in spans}
    assert counts(store) == {"otel_traces": expected, "tool_calls": expected}


def copies(spans: list[SpanRecord]) -> list[SpanRecord]:
    """What a resent request decodes to: equal spans, new objects."""
    return [copy.deepcopy(span) for span in spans]


class Crash(BaseException):
    """The process died here (not an error any code path handles)."""


class CrashingStore:
    """A real store that 'crashes' at the ``after``-th insert into ``table``: before the
    insert, or (``landed``) right after it, before the caller hears back."""

    def __init__(
        self,
        store: Store,
        table: str,
        after: int = 1,
        *,
        landed: bool = False,
        failure: BaseException | None = None,
    ) -> None:
        self._store = store
        self._table = table
        self._left = after
        self._landed = landed
        self._failure = failure or Crash()

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        if table == self._table:
            self._left -= 1
            if self._left == 0:
                if self._landed:
                    self._store.insert_arrow(table, data, dedup_token=dedup_token)
                raise self._failure
        self._store.insert_arrow(table, data, dedup_token=dedup_token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def crash_writing(
    store: Store, wal_dir: Path, spans: list[SpanRecord], table: str, **writer: Any
) -> dict[str, Any]:
    """Append ``spans`` as one WAL record and crash while storing them; the checkpoint."""
    wal = Wal(wal_dir)
    crashing = cast(Store, CrashingStore(store, table))
    doomed = Writer(crashing, wal=wal, chain=AuditChain(crashing), **writer)
    wal.append(spans, on_written=doomed.enqueue_entry)
    with pytest.raises(Crash):
        doomed.flush()
    wal.close()  # the process is gone: its lock goes with it
    checkpoint: dict[str, Any] = json.loads((wal_dir / "checkpoint.json").read_text())
    return checkpoint


def drain(store: Store, wal_dir: Path, **writer: Any) -> Writer:
    wal = Wal(wal_dir)
    restarted = Writer(store, wal=wal, chain=AuditChain(store), **writer)
    restarted.flush()
    wal.close()
    return restarted


# -- copies in one batch, in later batches, in other writers -----------------------------


def test_a_request_resent_into_the_same_batch_is_stored_once(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    spans = [make_span() for _ in range(4)]
    metrics = CollectorMetrics()
    wal = Wal(tmp_path / "wal")
    writer = Writer(store, wal=wal, chain=AuditChain(store), metrics=metrics)
    wal.append(spans, on_written=writer.enqueue_entry)
    # the exporter's retransmission: a second WAL record
    wal.append(copies(spans), on_written=writer.enqueue_entry)
    writer.flush()
    assert writer.stats.batches_written == 1
    assert_once(store, spans)
    assert metrics.deduplicated.value("batch") == 4
    assert verify_chain(store) == []


def test_a_copy_in_a_later_batch_is_found_in_the_store(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    first = [make_span() for _ in range(3)]
    metrics = CollectorMetrics()
    writer = Writer(store, wal=Wal(tmp_path / "wal"), chain=AuditChain(store), metrics=metrics)
    writer.enqueue(first)
    writer.flush()
    later = [make_span(), *copies(first[1:]), make_span()]
    writer.enqueue(later)
    writer.flush()
    assert_once(store, [*first, later[0], later[-1]])
    assert metrics.deduplicated.value("store") == 2
    assert verify_chain(store) == []


def test_a_copy_resent_after_a_restart_is_found_in_the_store(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """Stored and committed, then the collector restarts and the client resends."""
    spans = [make_span() for _ in range(3)]
    wal = Wal(tmp_path / "wal")
    writer = Writer(store, wal=wal, chain=AuditChain(store))
    wal.append(spans, on_written=writer.enqueue_entry)
    writer.flush()
    wal.close()
    wal = Wal(tmp_path / "wal")  # restarted: nothing in memory
    restarted = Writer(store, wal=wal, chain=AuditChain(store))
    new = make_span()
    wal.append([new, *copies(spans)], on_written=restarted.enqueue_entry)
    restarted.flush()
    assert restarted.stats.duplicates_dropped == 3
    assert_once(store, [*spans, new])


def test_two_collectors_sharing_a_store_store_a_resent_request_once(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """Server mode: two collectors (own WAL, own claims) get the same request in turn."""
    request = [make_span() for _ in range(3)]
    one = Writer(store, wal=Wal(tmp_path / "one"), chain=AuditChain(store))
    other = Writer(store, wal=Wal(tmp_path / "other"), chain=AuditChain(store))
    one.enqueue([make_span(), *request])
    one.flush()
    other.enqueue([*copies(request), make_span()])
    other.flush()
    assert other.stats.duplicates_dropped == 3
    stored = counts(store)
    assert len(stored["otel_traces"]) == 5
    assert set(stored["otel_traces"].values()) == set(stored["tool_calls"].values()) == {1}
    assert verify_chain(store) == []


class GatedStore:
    """A real store whose ``otel_traces`` inserts wait for the test to open the gate."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        if table == OTEL_TRACES_TABLE and not self.gate.is_set():
            self.waiting.set()
            assert self.gate.wait(30)
        self._store.insert_arrow(table, data, dedup_token=dedup_token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_two_workers_wals_with_the_same_request_store_it_once(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """The store-owning process drains two worker WALs with two writers: while one is
    storing a span, the other's copy is not in the store yet, and is left out all the same."""
    request = [make_span() for _ in range(3)]
    claims = SpanClaims()
    metrics = CollectorMetrics()
    gated = GatedStore(store)
    first = Writer(cast(Store, gated), claims=claims, metrics=metrics)
    second = Writer(store, claims=claims, metrics=metrics)
    first.enqueue([make_span(), *request])
    storing = threading.Thread(target=first.flush)
    storing.start()
    assert gated.waiting.wait(10)  # the first writer holds the request's spans, unstored
    second.enqueue([*copies(request), make_span()])
    second.flush()
    gated.gate.set()
    storing.join(30)
    assert metrics.deduplicated.value("in_flight") == 3
    stored = counts(store)
    assert len(stored["otel_traces"]) == 5
    assert set(stored["otel_traces"].values()) == set(stored["tool_calls"].values()) == {1}
    assert len(claims) == 0  # every claim was released once its batch was stored


# -- a crash in the middle of a batch ------------------------------------------------------


def test_a_batch_replayed_after_a_crash_between_its_inserts_stores_nothing_twice(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """The batch left out a copy; it crashed after otel_traces and before tool_calls. The
    replay leaves out the same copy (recorded in the checkpoint), although the store now
    also holds the batch's own spans, so its otel_traces part deduplicates by token and
    its tool_calls part lands."""
    earlier = make_span()
    first = Writer(store, chain=AuditChain(store))
    first.enqueue([earlier])
    first.flush()
    batch = [make_span(), *copies([earlier]), make_span()]
    checkpoint = crash_writing(store, tmp_path / "wal", batch, TOOL_CALLS_TABLE)
    assert checkpoint["inflight"] is not None
    assert checkpoint["inflight_dropped"] == [span_key(earlier)]
    assert counts(store)["tool_calls"] == {earlier.span_id: 1}  # the crash left it half-done
    restarted = drain(store, tmp_path / "wal")
    assert restarted.stats.spans_written == 2
    assert_once(store, [earlier, batch[0], batch[2]])
    assert verify_chain(store) == []
    assert Wal(tmp_path / "wal").take_replay() == []  # and the position is committed


@pytest.mark.parametrize("table", [OTEL_TRACES_TABLE, TOOL_CALLS_TABLE, "agentaudit.audit_chain"])
def test_wal_replay_after_a_crash_at_any_insert_stores_nothing_twice(
    store: Store, tmp_path: Path, make_span: SpanFactory, table: str
) -> None:
    spans = [make_span() for _ in range(5)]
    crash_writing(store, tmp_path / "wal", spans, table)
    drain(store, tmp_path / "wal")
    assert_once(store, spans)
    assert verify_chain(store) == []


def test_a_link_stored_before_a_crash_is_the_one_the_chain_goes_on_from(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """The crash came after the chain link was stored and before the checkpoint: the
    replay follows the stored link (a link records when it was written, so appending it
    again gives another hash, which the link's token would silently drop)."""
    wal_dir = tmp_path / "wal"
    wal = Wal(wal_dir)
    crashing = cast(Store, CrashingStore(store, "agentaudit.audit_chain", landed=True))
    doomed = Writer(crashing, wal=wal, chain=AuditChain(crashing))
    first = [make_span() for _ in range(3)]
    wal.append(first, on_written=doomed.enqueue_entry)
    with pytest.raises(Crash):
        doomed.flush()
    wal.close()
    assert store.query("SELECT count() FROM agentaudit.audit_chain").rows == [(1,)]
    wal = Wal(wal_dir)
    restarted = Writer(store, wal=wal, chain=AuditChain(store))
    restarted.flush()
    later = [make_span() for _ in range(2)]
    wal.append(later, on_written=restarted.enqueue_entry)
    restarted.flush()
    wal.close()
    assert_once(store, first + later)
    assert store.query("SELECT count() FROM agentaudit.audit_chain").rows == [(2,)]
    assert verify_chain(store) == []


def test_a_link_whose_reply_was_lost_is_not_appended_again(
    store: Store, make_span: SpanFactory
) -> None:
    """The link's insert landed but the reply did not (a timeout): the retry finds it."""
    lost = cast(
        Store,
        CrashingStore(
            store, "agentaudit.audit_chain", landed=True, failure=StoreUnavailable("timed out")
        ),
    )
    writer = Writer(lost, chain=AuditChain(lost))
    for _ in range(2):
        writer.enqueue([make_span(), make_span()])
        writer.flush()
    assert writer.stats.store_errors == 1
    assert store.query("SELECT count() FROM agentaudit.audit_chain").rows == [(2,)]
    assert verify_chain(store) == []


def test_an_interrupted_batch_claims_its_spans_before_another_writer_stores_them(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """Worker WAL A crashed with span s in flight (nothing stored yet); worker WAL B holds a
    copy of s. Building A's writer claims s, so B's writer, run first, leaves its copy out
    and A's replay stores s: once (without the claim, B's batch and A's replay, whose
    decision to keep s is recorded, would both store it)."""
    shared = make_span()
    crash_writing(store, tmp_path / "a", [shared, make_span()], OTEL_TRACES_TABLE)
    b = Wal(tmp_path / "b")
    b.append([make_span(), *copies([shared])])
    b.close()
    b = Wal(tmp_path / "b")  # B's record is replayed too (as after the restart)
    claims = SpanClaims()
    writer_a = Writer(store, wal=Wal(tmp_path / "a"), chain=AuditChain(store), claims=claims)
    writer_b = Writer(store, wal=b, chain=AuditChain(store), claims=claims)
    writer_b.flush()  # B runs first
    assert writer_b.stats.duplicates_dropped == 1
    writer_a.flush()
    stored = counts(store)
    assert len(stored["otel_traces"]) == 3
    assert set(stored["otel_traces"].values()) == set(stored["tool_calls"].values()) == {1}
    assert verify_chain(store) == []


# -- the parts ----------------------------------------------------------------------------


def test_claims_keep_the_first_occurrence_and_leave_out_what_another_holds() -> None:
    claims = SpanClaims()
    one, two = object(), object()
    assert claims.claim(one, ["a", "b", "a"]) == ([True, True, False], set())
    assert claims.claim(one, ["a"]) == ([True], set())  # a retry of the same batch
    assert claims.claim(two, ["b", "c"]) == ([False, True], {"b"})
    claims.release(two, ["b", "c"])  # "b" is not two's to release
    assert claims.claim(two, ["b"]) == ([False], {"b"})
    assert claims.force(two, ["b"]) == 1
    claims.release(one, ["a", "b"])
    assert len(claims) == 1  # "b", now two's


def test_the_lookup_finds_stored_spans_across_chunks_and_distant_times(
    store: Store, make_span: SpanFactory
) -> None:
    day = 86_400 * 10**9
    stored = [make_span(start_ns=1_700_000_000_000_000_000 + i * 40 * day) for i in range(6)]
    writer = Writer(store)
    writer.enqueue(stored)
    writer.flush()
    fresh = [make_span(start_ns=1_700_000_000_000_000_000 + i) for i in range(LOOKUP_CHUNK + 50)]
    other_trace = make_span(span_id=stored[0].span_id, start_ns=stored[0].start_ns)
    looked_up = [*stored[:3], *fresh, *copies(stored[3:]), other_trace]
    assert stored_keys(store, looked_up) == {span_key(span) for span in stored}


def test_the_replayed_batch_keeps_its_batch_id(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """The rows of a batch stored in two attempts carry one batch id (the chain's)."""
    earlier = make_span()
    first = Writer(store)
    first.enqueue([earlier])
    first.flush()
    crash_writing(store, tmp_path / "wal", [make_span(), earlier, make_span()], TOOL_CALLS_TABLE)
    drain(store, tmp_path / "wal")
    ids = store.query("SELECT DISTINCT batch_id FROM agentaudit.tool_calls").rows
    links = store.query("SELECT batch_id FROM agentaudit.audit_chain").rows
    assert len(ids) == 2  # the first writer's batch, and the replayed one
    assert {r[0] for r in links} <= {r[0] for r in ids}


@pytest.mark.parametrize(
    "span_id",
    ["x'); DROP TABLE agentaudit.otel_traces; --", "a\\'b", "0123,4567", "", "é" * 16],
)
def test_the_lookup_takes_hostile_span_ids_as_data(
    store: Store, make_span: SpanFactory, span_id: str
) -> None:
    """Ids the pipeline would refuse (not 16 hex digits) still cannot change the query."""
    stored = make_span()
    writer = Writer(store)
    writer.enqueue([stored])
    writer.flush()
    hostile = make_span(span_id=span_id, start_ns=stored.start_ns)
    assert stored_keys(store, [hostile, copies([stored])[0]]) == {span_key(stored)}
    assert counts(store)["otel_traces"] == {stored.span_id: 1}


# -- both tool-call tables: a linked server side and its caller's row ----------------------


def _mcp_call(make_span: SpanFactory) -> list[SpanRecord]:
    """An MCP call's two spans: the caller's and the tool server's linked record of it."""
    client = make_span()
    client.attributes[A.CALL_SIDE] = A.CALL_SIDE_CLIENT
    server_attributes = {**client.attributes, A.CALL_SIDE: A.CALL_SIDE_SERVER}
    server = make_span(
        trace_id=client.trace_id,
        parent_span_id=client.span_id,
        kind="Server",
        attributes=server_attributes,
        resource_attributes={A.SERVICE_NAME: "mail-server"},
    )
    return [client, server]


def per_table(store: Store) -> dict[str, dict[str, int]]:
    """Rows per span id in tool_calls and tool_call_server_sides (no FINAL)."""
    found = {}
    for table in (TOOL_CALLS_TABLE, SERVER_SIDES_TABLE):
        result = store.query(f"SELECT span_id, count() FROM {table} GROUP BY span_id")  # noqa: S608
        found[table] = {str(s): int(n) for s, n in result.rows}
    return found


def test_a_request_resent_after_a_lost_ack_stores_each_side_once(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """The exporter never heard back and sent the identical request again, to a collector
    that had stored it: neither tool-call table gets a second row."""
    spans = _mcp_call(make_span) + _mcp_call(make_span)
    wal = Wal(tmp_path / "wal")
    writer = Writer(store, wal=wal, chain=AuditChain(store))
    wal.append(spans, on_written=writer.enqueue_entry)
    writer.flush()  # stored; the acknowledgement is lost on the way back
    wal.append(copies(spans), on_written=writer.enqueue_entry)
    writer.flush()
    wal.close()
    clients, servers = spans[0::2], spans[1::2]
    assert per_table(store) == {
        TOOL_CALLS_TABLE: {s.span_id: 1 for s in clients},
        SERVER_SIDES_TABLE: {s.span_id: 1 for s in servers},
    }
    assert writer.stats.duplicates_dropped == len(spans)
    assert (writer.stats.tool_calls_written, writer.stats.server_sides_written) == (2, 2)
    assert store.query("SELECT count() FROM agentaudit.calls").rows == [(2,)]
    assert verify_chain(store) == []


@pytest.mark.parametrize("landed", [False, True])
def test_a_crash_at_the_server_side_insert_stores_nothing_twice(
    store: Store, tmp_path: Path, make_span: SpanFactory, landed: bool
) -> None:
    """The process died at the tool_call_server_sides insert (before it, or after it and
    before hearing back); the WAL replay and the client's resend store each side once."""
    spans = _mcp_call(make_span)
    wal_dir = tmp_path / "wal"
    wal = Wal(wal_dir)
    crashing = cast(Store, CrashingStore(store, SERVER_SIDES_TABLE, landed=landed))
    doomed = Writer(crashing, wal=wal, chain=AuditChain(crashing))
    wal.append(spans, on_written=doomed.enqueue_entry)
    with pytest.raises(Crash):
        doomed.flush()
    wal.close()
    wal = Wal(wal_dir)
    restarted = Writer(store, wal=wal, chain=AuditChain(store))
    wal.append(copies(spans), on_written=restarted.enqueue_entry)  # and the client resends
    restarted.flush()
    wal.close()
    assert per_table(store) == {
        TOOL_CALLS_TABLE: {spans[0].span_id: 1},
        SERVER_SIDES_TABLE: {spans[1].span_id: 1},
    }
    assert verify_chain(store) == []
