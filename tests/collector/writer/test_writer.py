"""collector.arrow_batches + collector.writer against a real embedded store.

The round trip reads every column back, so a drift between the Arrow schemas and the
migrations (a renamed, missing, reordered or retyped column) fails here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest

from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.collector.writer.normalise import tool_call_row
from agentaudit.collector.writer.table_schemas import OTEL_TRACES, TOOL_CALLS
from agentaudit.collector.writer.writer import (
    OTEL_TRACES_TABLE,
    TOOL_CALLS_TABLE,
    StoredBatch,
    Writer,
    batch_id_of,
)
from agentaudit.schema import attributes as A
from agentaudit.store import Store, StoreUnavailable
from agentaudit.store.audit_chain import AuditChain, verify_chain
from tests.collector.writer.reference import to_arrow, trace_row

SpanFactory = Callable[..., SpanRecord]

NS_COLUMNS = {"ts", "Timestamp"}


def count(store: Store, table: str) -> int:
    """Rows in one of our tables (the table names are constants, never input)."""
    return int(store.query(f"SELECT count() FROM {table}").rows[0][0])  # noqa: S608


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the timeout")
        time.sleep(0.02)


def table_columns(store: Store, table: str) -> list[str]:
    """The columns an insert supplies (MATERIALIZED and ALIAS columns are the store's)."""
    rows = store.query(f"DESCRIBE TABLE {table}").rows
    return [row[0] for row in rows if row[2] not in ("MATERIALIZED", "ALIAS")]


# --- schema drift ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "schema"), [(TOOL_CALLS_TABLE, TOOL_CALLS), (OTEL_TRACES_TABLE, OTEL_TRACES)]
)
def test_arrow_schema_matches_the_table(store: Store, table: str, schema: Any) -> None:
    assert schema.names == table_columns(store, table)


def test_normalised_rows_have_exactly_the_schema_columns(make_span: SpanFactory) -> None:
    span = make_span()
    assert set(tool_call_row(span, received_ns=0)) == set(TOOL_CALLS.names)
    assert set(trace_row(span)) == set(OTEL_TRACES.names)


def test_tool_call_round_trip_column_by_column(store: Store, make_span: SpanFactory) -> None:
    span = make_span(
        start_ns=1_700_000_000_123_456_789,
        end_ns=1_700_000_000_223_456_790,
        parent_span_id="ef" * 8,
        redactions={"email": 2, "api_key": 1},
    )
    writer = Writer(store)
    writer.enqueue([span])
    writer.flush()
    expected = tool_call_row(span, received_ns=0)
    columns = ", ".join(
        f"toUnixTimestamp64Nano({c}) AS {c}"
        if c in NS_COLUMNS
        else "toUnixTimestamp64Milli(received_at) AS received_at"
        if c == "received_at"
        else f"toUnixTimestamp({c}) AS {c}"
        if c == "credential_expires_at"
        else c
        for c in TOOL_CALLS.names
    )
    result = store.query(f"SELECT {columns} FROM {TOOL_CALLS_TABLE}")  # noqa: S608
    assert len(result.rows) == 1
    got = result.as_dicts()[0]
    for name in TOOL_CALLS.names:
        if name in ("received_at", "batch_id"):
            continue
        assert got[name] == expected[name], name
    assert got["ts"] == 1_700_000_000_123_456_789  # nanoseconds survive
    assert got["duration_ns"] == 100_000_001
    assert got["batch_id"] == batch_id_of([span])
    assert abs(got["received_at"] - time.time() * 1000) < 3_600_000


def test_trace_round_trip_column_by_column(store: Store, make_span: SpanFactory) -> None:
    span = make_span(
        name="chat gpt-4o",
        kind="Client",
        trace_state="k=v",
        status_code="Error",
        status_message="boom",
        scope_name="agentaudit",
        scope_version="0.1.0",
        attributes={A.GEN_AI_OPERATION_NAME: A.OPERATION_CHAT, "n": 1, "flag": True},
        events=[
            SpanEvent(1_700_000_000_000_000_001, "first", {"a": "b"}),
            SpanEvent(1_700_000_000_000_000_002, "second", {}),
        ],
        links=[SpanLink("1" * 32, "2" * 16, "s=1", {"w": 0.5})],
    )
    writer = Writer(store)
    writer.enqueue([span])
    writer.flush()
    assert count(store, TOOL_CALLS_TABLE) == 0  # not a tool call
    expected = trace_row(span)
    columns = ", ".join(
        f"toUnixTimestamp64Nano(Timestamp) AS `{c}`"
        if c == "Timestamp"
        else f"arrayMap(t -> toUnixTimestamp64Nano(t), `{c}`) AS `{c}`"
        if c == "Events.Timestamp"
        else f"`{c}`"
        for c in OTEL_TRACES.names
    )
    got = store.query(f"SELECT {columns} FROM {OTEL_TRACES_TABLE}").as_dicts()  # noqa: S608
    assert len(got) == 1
    for name in OTEL_TRACES.names:
        assert got[0][name] == expected[name], name


def test_to_arrow_needs_every_column(make_span: SpanFactory) -> None:
    row = tool_call_row(make_span(), received_ns=0)
    del row["agent_id"]
    with pytest.raises(KeyError):
        to_arrow(TOOL_CALLS, [row])


# --- batch ids and dedup ---------------------------------------------------------------


def test_batch_id_is_deterministic(make_span: SpanFactory) -> None:
    spans = [make_span() for _ in range(3)]
    same = [SpanRecord(s.trace_id, s.span_id, "other", 0, 0) for s in spans]
    assert batch_id_of(spans) == batch_id_of(spans) == batch_id_of(same)
    assert batch_id_of(spans) != batch_id_of(list(reversed(spans)))
    assert batch_id_of(spans) != batch_id_of(spans[:2])
    assert len(batch_id_of(spans)) == 32
    int(batch_id_of(spans), 16)


def test_same_batch_twice_stores_its_rows_once(store: Store, make_span: SpanFactory) -> None:
    chat = make_span(name="chat m", attributes={A.GEN_AI_OPERATION_NAME: A.OPERATION_CHAT})
    spans = [make_span(), make_span(), chat]
    first = Writer(store)
    first.enqueue(spans)
    first.flush()
    assert (first.stats.spans_written, first.stats.tool_calls_written) == (3, 2)
    again = Writer(store)  # another writer (a restart, another collector): the store has them
    again.enqueue(spans)
    again.flush()
    assert (again.stats.spans_written, again.stats.duplicates_dropped) == (0, 3)
    # No FINAL, no GROUP BY: the rows are simply there once.
    assert count(store, OTEL_TRACES_TABLE) == 3
    assert count(store, TOOL_CALLS_TABLE) == 2


def test_a_batch_inserted_twice_under_its_token_stores_its_rows_once(
    store: Store, make_span: SpanFactory
) -> None:
    """The token alone (no lookup): what makes a replayed in-flight batch a no-op."""
    writer = Writer(store)
    writer.enqueue([make_span(), make_span()])
    prepared = writer._prepare()
    assert prepared is not None
    assert prepared.tables is not None
    for _ in range(2):
        batch = prepared.tables
        store.insert_arrow(OTEL_TRACES_TABLE, batch.traces, dedup_token=batch.batch_id)
        assert batch.calls is not None
        store.insert_arrow(TOOL_CALLS_TABLE, batch.calls, dedup_token=batch.batch_id)
    assert count(store, OTEL_TRACES_TABLE) == 2
    assert count(store, TOOL_CALLS_TABLE) == 2


def test_batch_across_partitions_is_deduplicated(store: Store, make_span: SpanFactory) -> None:
    january = make_span(start_ns=1_704_067_200_000_000_000, end_ns=1_704_067_200_000_000_001)
    march = make_span(start_ns=1_709_251_200_000_000_000, end_ns=1_709_251_200_000_000_001)
    for _ in range(2):
        writer = Writer(store)
        writer.enqueue([january, march])
        writer.flush()
    assert writer.stats.duplicates_dropped == 2  # found in the store, two months apart
    assert count(store, TOOL_CALLS_TABLE) == 2
    assert count(store, OTEL_TRACES_TABLE) == 2


def test_different_batches_are_not_deduplicated(store: Store, make_span: SpanFactory) -> None:
    writer = Writer(store, batch_rows=2)
    writer.enqueue([make_span() for _ in range(5)])
    writer.flush()
    assert writer.stats.batches_written == 3
    assert count(store, TOOL_CALLS_TABLE) == 5
    batch_ids = store.query(f"SELECT uniqExact(batch_id) FROM {TOOL_CALLS_TABLE}").rows[0][0]  # noqa: S608
    assert batch_ids == 3


def test_out_of_range_values_do_not_sink_their_batch(store: Store, make_span: SpanFactory) -> None:
    """One bad span (a far-future time, an expiry in ms) must not lose the good ones."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    from agentaudit.collector.ingest.otlp_decode import decode_export_request

    far_future = trace_pb2.Span(
        trace_id=b"\x07" * 16,
        span_id=b"\x07" * 8,
        name="execute_tool late",
        start_time_unix_nano=2**64 - 1,
        end_time_unix_nano=2**64 - 1,
        events=[trace_pb2.Span.Event(time_unix_nano=2**64 - 1, name="late")],
    )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[far_future])])
        ]
    )
    (late,) = decode_export_request(request)
    ms_expiry = make_span()
    ms_expiry.attributes[A.CREDENTIAL_EXPIRES_AT] = 1_800_000_000_000
    good = [make_span() for _ in range(3)]
    writer = Writer(store)
    writer.enqueue([good[0], late, good[1], ms_expiry, good[2]])
    writer.flush()
    assert count(store, OTEL_TRACES_TABLE) == 5
    assert count(store, TOOL_CALLS_TABLE) == 5
    expiry = store.query(
        "SELECT toUnixTimestamp(credential_expires_at), attributes[{k:String}] "
        "FROM agentaudit.tool_calls WHERE span_id = {s:String}",
        {"k": A.CREDENTIAL_EXPIRES_AT, "s": ms_expiry.span_id},
    ).rows
    assert expiry == [(0, "1800000000000")]  # unknown, the raw value kept


# --- retries ---------------------------------------------------------------------------


class FlakyStore:
    """A real store whose inserts into ``table`` fail ``failures`` times first."""

    def __init__(self, store: Store, failures: int, table: str | None = None) -> None:
        self._store = store
        self._failures = failures
        self._table = table
        self.attempts = 0

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        if self._table in (None, table):
            self.attempts += 1
            if self._failures > 0:
                self._failures -= 1
                raise StoreUnavailable("simulated: connection reset")
        self._store.insert_arrow(table, data, dedup_token=dedup_token)

    def __getattr__(self, name: str) -> Any:  # queries go to the real store
        return getattr(self._store, name)


def test_writer_retries_until_the_store_accepts(store: Store, make_span: SpanFactory) -> None:
    flaky = FlakyStore(store, failures=3)
    writer = Writer(cast(Store, flaky))
    writer.enqueue([make_span() for _ in range(4)])
    writer.flush()
    assert writer.stats.store_errors == 3
    assert "simulated" in writer.stats.last_error
    assert count(store, TOOL_CALLS_TABLE) == 4
    assert count(store, OTEL_TRACES_TABLE) == 4


def test_retry_after_a_partial_batch_does_not_duplicate(
    store: Store, make_span: SpanFactory
) -> None:
    # otel_traces succeeds, tool_calls fails twice: the retry re-inserts otel_traces.
    flaky = FlakyStore(store, failures=2, table=TOOL_CALLS_TABLE)
    writer = Writer(cast(Store, flaky))
    writer.enqueue([make_span() for _ in range(3)])
    writer.flush()
    assert writer.stats.store_errors == 2
    assert flaky.attempts == 3
    assert count(store, OTEL_TRACES_TABLE) == 3
    assert count(store, TOOL_CALLS_TABLE) == 3


def test_background_writer_retries(store: Store, make_span: SpanFactory) -> None:
    flaky = FlakyStore(store, failures=2)
    writer = Writer(cast(Store, flaky), batch_rows=3, batch_seconds=0.05)
    writer.start()
    try:
        writer.enqueue([make_span() for _ in range(7)])
        wait_until(lambda: writer.stats.spans_written == 7)
    finally:
        writer.stop()
    assert writer.stats.store_errors == 2
    assert count(store, TOOL_CALLS_TABLE) == 7


class GatedStore:
    """A real store whose ``otel_traces`` inserts wait until the test opens the gate."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.gate = threading.Event()
        self.inserting = threading.Event()

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        if table == OTEL_TRACES_TABLE:
            self.inserting.set()
            self.gate.wait(30)
        self._store.insert_arrow(table, data, dedup_token=dedup_token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_next_batches_are_converted_while_one_is_stored(
    store: Store, make_span: SpanFactory
) -> None:
    gated = cast(Store, GatedStore(store))
    writer = Writer(gated, batch_rows=5, batch_seconds=0.05, chain=AuditChain(gated))
    writer.start()
    try:
        writer.enqueue([make_span() for _ in range(15)])
        assert cast(GatedStore, gated).inserting.wait(10)  # batch 1 is being stored...
        wait_until(lambda: writer.pending == 0)  # ...while batches 2 and 3 were taken
        assert writer.stats.batches_written == 0
        cast(GatedStore, gated).gate.set()
        wait_until(lambda: writer.stats.spans_written == 15)
    finally:
        cast(GatedStore, gated).gate.set()
        writer.stop()
    assert writer.stats.batches_written == 3
    links = store.query("SELECT seq FROM agentaudit.audit_chain ORDER BY seq").rows
    assert links == [(1,), (2,), (3,)]
    assert verify_chain(store) == []  # each link follows the batch stored before it


def test_stop_gives_up_on_a_store_that_stays_down(store: Store, make_span: SpanFactory) -> None:
    gated = GatedStore(store)
    writer = Writer(cast(Store, gated), batch_rows=5, batch_seconds=0.05)
    writer.start()
    writer.enqueue([make_span() for _ in range(15)])
    assert gated.inserting.wait(10)
    started = time.monotonic()
    writer.stop(timeout=0.5)
    gated.gate.set()
    assert time.monotonic() - started < 15
    assert writer.stats.batches_written <= 1  # the rest stays queued (in the WAL, with one)


# --- lifecycle -------------------------------------------------------------------------


def test_stop_drains_everything_pending(store: Store, make_span: SpanFactory) -> None:
    # Neither trigger (rows, seconds) would fire during the test: only stop() writes.
    writer = Writer(store, batch_rows=1000, batch_seconds=3600)
    writer.start()
    writer.enqueue([make_span() for _ in range(25)])
    writer.stop()
    assert writer.pending == 0
    assert writer.stats.spans_written == 25
    assert count(store, TOOL_CALLS_TABLE) == 25


def test_full_batch_is_written_without_waiting_for_the_timer(
    store: Store, make_span: SpanFactory
) -> None:
    writer = Writer(store, batch_rows=10, batch_seconds=3600)
    writer.start()
    try:
        writer.enqueue([make_span() for _ in range(10)])
        wait_until(lambda: writer.stats.spans_written == 10)
    finally:
        writer.stop()
    assert count(store, TOOL_CALLS_TABLE) == 10


def test_concurrent_enqueues_all_land(store: Store, make_span: SpanFactory) -> None:
    writer = Writer(store, batch_rows=50, batch_seconds=0.05)
    writer.start()
    batches = [[make_span() for _ in range(20)] for _ in range(8)]
    threads = [threading.Thread(target=writer.enqueue, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    writer.stop()
    assert writer.stats.spans_written == 160
    assert count(store, TOOL_CALLS_TABLE) == 160
    distinct = store.query(f"SELECT uniqExact(span_id) FROM {TOOL_CALLS_TABLE}").rows[0][0]  # noqa: S608
    assert distinct == 160


def test_on_stored_is_called_once_a_batch_and_its_chain_link_are_stored(
    store: Store, make_span: SpanFactory
) -> None:
    seen: list[tuple[int, int]] = []
    handed: list[StoredBatch] = []

    def on_stored(batch: StoredBatch) -> None:  # what the detector sees at that moment
        links = store.query("SELECT count() FROM agentaudit.audit_chain").rows[0][0]
        seen.append((count(store, TOOL_CALLS_TABLE), int(links)))
        handed.append(batch)

    writer = Writer(store, batch_rows=5, chain=AuditChain(store), on_stored=on_stored)
    writer.enqueue([make_span() for _ in range(10)])
    writer.flush()
    assert seen == [(5, 1), (10, 2)]
    links = store.query(
        "SELECT chain_id, seq, batch_id FROM agentaudit.audit_chain ORDER BY seq"
    ).rows
    assert [(b.chain_id, b.seq, b.batch_id) for b in handed] == [tuple(r) for r in links]
    for batch in handed:  # the rows handed over are the rows stored, exactly
        assert batch.calls is not None
        stored = store.query(
            f"SELECT span_id, arguments FROM {TOOL_CALLS_TABLE} "  # noqa: S608
            "WHERE batch_id = {b:String} ORDER BY span_id",
            {"b": batch.batch_id},
        ).rows
        given = sorted(
            zip(
                batch.calls.column("span_id").to_pylist(),
                batch.calls.column("arguments").to_pylist(),
                strict=True,
            )
        )
        assert [tuple(r) for r in stored] == given


def test_a_failing_on_stored_hook_does_not_stop_the_writer(
    store: Store, make_span: SpanFactory
) -> None:
    def broken(batch: StoredBatch) -> None:
        raise RuntimeError("a listener's bug")

    writer = Writer(store, batch_rows=5, chain=AuditChain(store), on_stored=broken)
    writer.enqueue([make_span() for _ in range(10)])
    writer.flush()
    assert count(store, TOOL_CALLS_TABLE) == 10
    assert verify_chain(store) == []
