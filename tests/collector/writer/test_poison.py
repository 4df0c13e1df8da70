"""No poison batch: rows a real ClickHouse (chdb) refuses for good are isolated and
dead-lettered with the reason, the rest of the batch lands, and ingestion goes on; a
store that cannot take writes *now* still spools in the WAL and drains after.

The refusals are the engine's own: a constraint added to a table, a column whose type
cannot take a value, a renamed column; the outage is the engine's "too many parts"
(merges stopped), so no fake store is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.metrics import CollectorMetrics
from agentaudit.collector.model import SpanRecord
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.dead_letter import DeadLetters, read_dead_letters
from agentaudit.collector.writer.writer import OTEL_TRACES_TABLE, TOOL_CALLS_TABLE, Writer
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.audit_chain import AuditChain, verify_chain
from tests.conftest import _tool_attributes

SpanFactory = Callable[..., SpanRecord]


class CountingStore:
    """A real store that counts the inserts into each table."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.inserts: dict[str, int] = {}

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        self.inserts[table] = self.inserts.get(table, 0) + 1
        self._store.insert_arrow(table, data, dedup_token=dedup_token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def span_ids(store: Store, table: str) -> list[str]:
    column = "SpanId" if table == OTEL_TRACES_TABLE else "span_id"
    rows = store.query(f"SELECT {column} FROM {table} ORDER BY {column}").rows  # noqa: S608
    return [str(row[0]) for row in rows]


def write(
    store: Store, tmp_path: Path, spans: list[SpanRecord], metrics: CollectorMetrics
) -> tuple[Writer, CountingStore]:
    """Accept ``spans`` (one export) through the pipeline and the WAL, then store them."""
    counting = CountingStore(store)
    wal = Wal(tmp_path / "wal")
    writer = Writer(
        cast(Store, counting),
        wal=wal,
        chain=AuditChain(store),
        metrics=metrics,
        dead_letter=tmp_path / "wal" / "dead-letter.spans",
    )
    Pipeline(writer, wal=wal, metrics=metrics).accept(spans)
    writer.flush()
    wal.close()
    return writer, counting


def poisoned(make_span: SpanFactory, good: int, poison_at: list[int]) -> list[SpanRecord]:
    spans = [make_span() for _ in range(good)]
    for position in poison_at:
        spans.insert(position, make_span(attributes=_tool_attributes("poison")))
    return spans


def test_a_poison_span_is_dead_lettered_with_its_reason_and_the_good_ones_land(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    store.command(
        "ALTER TABLE agentaudit.tool_calls ADD CONSTRAINT no_poison CHECK tool_name != 'poison'"
    )
    spans = poisoned(make_span, 6, [3])
    poison = spans[3]
    metrics = CollectorMetrics()
    writer, counting = write(store, tmp_path, spans, metrics)
    good = sorted(s.span_id for s in spans if s is not poison)
    assert span_ids(store, TOOL_CALLS_TABLE) == good
    assert span_ids(store, OTEL_TRACES_TABLE) == sorted(s.span_id for s in spans)  # its trace
    [letter] = read_dead_letters(tmp_path / "wal" / "dead-letter.spans")
    assert (letter.reason, letter.table, letter.span_id) == (
        "constraint_violated", TOOL_CALLS_TABLE, poison.span_id,
    )  # fmt: skip
    assert "no_poison" in letter.error
    assert letter.span is not None
    assert letter.span.attributes[A.GEN_AI_TOOL_NAME] == "poison"
    assert metrics.dead_lettered.value("constraint_violated") == 1
    assert writer.stats.tool_calls_written == 6
    assert counting.inserts[TOOL_CALLS_TABLE] <= 2 * 3 + 1  # about 2·log2(7), not 7
    assert verify_chain(store) == []  # the link covers the rows stored under the batch id
    assert Wal(tmp_path / "wal").take_replay() == []  # the writer moved on


def test_ingestion_goes_on_after_a_poison_batch(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    store.command(
        "ALTER TABLE agentaudit.tool_calls ADD CONSTRAINT no_poison CHECK tool_name != 'poison'"
    )
    metrics = CollectorMetrics()
    dead = tmp_path / "dead-letter.spans"
    wal = Wal(tmp_path / "wal")
    writer = Writer(store, wal=wal, metrics=metrics, dead_letter=dead, batch_rows=50)
    pipeline = Pipeline(writer, wal=wal, metrics=metrics)
    writer.start()
    try:
        spans = poisoned(make_span, 120, [0, 37, 119])
        for start in range(0, len(spans), 10):
            pipeline.accept(spans[start : start + 10])
        later = [make_span() for _ in range(20)]
        pipeline.accept(later)
        deadline = time.monotonic() + 60
        while len(span_ids(store, TOOL_CALLS_TABLE)) < 140 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        writer.stop()
        wal.close()
    assert len(span_ids(store, TOOL_CALLS_TABLE)) == 140
    assert metrics.dead_lettered.value("constraint_violated") == 3
    assert len(list(read_dead_letters(dead))) == 3


def test_a_span_whose_trace_row_is_refused_gets_no_row_anywhere(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    store.command(
        "ALTER TABLE agentaudit.otel_traces "
        "ADD CONSTRAINT no_poison CHECK SpanName != 'execute_tool poison'"
    )
    spans = [make_span(), make_span(name="execute_tool poison"), make_span()]
    metrics = CollectorMetrics()
    write(store, tmp_path, spans, metrics)
    good = sorted([spans[0].span_id, spans[2].span_id])
    assert span_ids(store, OTEL_TRACES_TABLE) == span_ids(store, TOOL_CALLS_TABLE) == good
    [letter] = read_dead_letters(tmp_path / "wal" / "dead-letter.spans")
    assert (letter.table, letter.span_id) == (OTEL_TRACES_TABLE, spans[1].span_id)
    assert verify_chain(store) == []


def test_a_value_the_column_cannot_take_is_dead_lettered(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """A column changed to a number: the calls whose id is a number land, the other not."""
    store.command("ALTER TABLE agentaudit.tool_calls MODIFY COLUMN tool_call_id UInt64")
    numeric = [make_span(attributes={**_tool_attributes(), A.GEN_AI_TOOL_CALL_ID: str(n)})
               for n in range(4)]  # fmt: skip
    words = make_span()  # tool_call_id "call_1"
    metrics = CollectorMetrics()
    write(store, tmp_path, [*numeric[:2], words, *numeric[2:]], metrics)
    assert span_ids(store, TOOL_CALLS_TABLE) == sorted(s.span_id for s in numeric)
    assert metrics.dead_lettered.value("cannot_parse") == 1
    [letter] = read_dead_letters(tmp_path / "wal" / "dead-letter.spans")
    assert letter.span_id == words.span_id


def test_a_schema_mismatch_dead_letters_the_batch_without_splitting_it(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """Every row fails alike: one insert, not one per row."""
    store.command("ALTER TABLE agentaudit.tool_calls RENAME COLUMN approver TO approved_by")
    spans = [make_span() for _ in range(8)]
    metrics = CollectorMetrics()
    writer, counting = write(store, tmp_path, spans, metrics)
    assert counting.inserts[TOOL_CALLS_TABLE] == 1
    assert metrics.dead_lettered.value("schema_mismatch") == 8
    assert len(span_ids(store, OTEL_TRACES_TABLE)) == 8  # what could be stored, was
    assert writer.stats.dead_lettered == 8


def test_a_store_that_cannot_take_writes_now_spools_in_the_wal_and_drains_after(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """ClickHouse's own "too many parts" (merges stopped): retried, never dead-lettered."""
    metrics = CollectorMetrics()
    wal = Wal(tmp_path / "wal")
    writer = Writer(store, wal=wal, metrics=metrics, batch_rows=5, batch_seconds=0.01)
    pipeline = Pipeline(writer, wal=wal, metrics=metrics)
    pipeline.accept([make_span()])
    writer.flush()  # one part exists
    for table in (OTEL_TRACES_TABLE, TOOL_CALLS_TABLE):
        store.command(f"SYSTEM STOP MERGES {table}")
        store.command(f"ALTER TABLE {table} MODIFY SETTING parts_to_throw_insert = 1")
    writer.start()
    accepted = 1
    try:
        for _ in range(10):
            pipeline.accept([make_span() for _ in range(5)])  # acknowledged all the same
            accepted += 5
        deadline = time.monotonic() + 30
        while metrics.store_errors.value() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metrics.store_errors.value() >= 3
        assert len(span_ids(store, OTEL_TRACES_TABLE)) == 1
        assert wal.bytes > 0
        for table in (OTEL_TRACES_TABLE, TOOL_CALLS_TABLE):
            store.command(f"ALTER TABLE {table} MODIFY SETTING parts_to_throw_insert = 3000")
            store.command(f"SYSTEM START MERGES {table}")
        deadline = time.monotonic() + 60
        while len(span_ids(store, TOOL_CALLS_TABLE)) < accepted and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        writer.stop()
        wal.close()
    assert len(span_ids(store, TOOL_CALLS_TABLE)) == accepted
    assert "Too many parts" in writer.stats.last_error
    assert writer.stats.dead_lettered == 0


def test_dead_letter_lines_that_cannot_be_read_are_skipped(
    tmp_path: Path, make_span: SpanFactory
) -> None:
    """A line torn by a crash mid-write, or garbage, does not hide the lines around it."""
    path = tmp_path / "dead-letter.spans"
    first, second = make_span(), make_span()
    metrics = CollectorMetrics()
    letters = DeadLetters(path, metrics)
    letters.add([first], reason="cannot_parse", error="Code: 6. x" * 3, table=TOOL_CALLS_TABLE)
    with path.open("ab") as handle:
        handle.write(b'{"reason": "x", "trace_id": 5}\n\x00\xff not json\n{"reason":\n')
    letters.add([second], reason="constraint_violated", error="Code: 469.")
    read = list(read_dead_letters(path))
    assert [(r.reason, r.span_id) for r in read] == [
        ("cannot_parse", first.span_id), ("constraint_violated", second.span_id),
    ]  # fmt: skip
    assert read[0].span is not None
    assert read[0].span.attributes == first.attributes
    assert metrics.dead_lettered.value("cannot_parse") == 1
