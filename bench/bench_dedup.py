"""What exactly-once per span costs the writer, per span (``writer/dedup.py``).

Before inserting a batch the writer (1) claims the batch's span keys in the process's
:class:`SpanClaims` and releases them after the insert, and (2) looks the claimed spans
up in ``otel_traces`` (:func:`stored_keys`: span ids within the batch's start-time
ranges, one query per 8,000 spans). Both are timed here on their own, as CPU time of
the whole process (chdb runs its queries on threads of this process) and wall time:

* claims: key building, claim and release for a 20,000-span batch;
* lookup: a 20,000-span batch against an embedded store holding 1,000,000 spans over
  the last ~8 minutes (2,000 spans/s), the batch's start times overlapping the newest
  stored ones as live traffic's do, 1 % of it copies of stored spans; then the same
  batch spread over an hour of start times (late or long spans), and a 500-span batch
  (a light load's batch: the query's fixed cost shows).

Side by side, in the same run and store: the insert the lookup precedes (the same
20,000-span batch's ``otel_traces`` rows, pre-built Arrow, into the same store). For
scale: the collector spends ~140 µs of CPU per span end to end (docs/collector.md).

    python -m bench dedup
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.dedup import SpanClaims, span_key, stored_keys
from agentaudit.collector.writer.table_schemas import OTEL_TRACES
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations

STORED = 1_000_000
RATE = 2_000  # spans per second of start time in the store
BATCH = 20_000
RUNS = 9
NOW = 1_767_225_600 * 10**9


def _spans(count: int, first_ns: int, step_ns: int) -> list[SpanRecord]:
    return [
        SpanRecord(os.urandom(16).hex(), os.urandom(8).hex(), "execute_tool t", t, t + 1000)
        for t in range(first_ns, first_ns + count * step_ns, step_ns)
    ]


def _traces(spans: list[SpanRecord]) -> pa.Table:
    """``otel_traces`` rows with the ids and times of ``spans`` (the rest empty)."""
    count = len(spans)
    columns = {
        "Timestamp": pa.array([s.start_ns for s in spans], OTEL_TRACES.field("Timestamp").type),
        "TraceId": pa.array([s.trace_id for s in spans]),
        "SpanId": pa.array([s.span_id for s in spans]),
        "SpanName": pa.array([f"execute_tool t{i % 20}" for i in range(count)]),
        "ServiceName": pa.array([f"svc{i % 5}" for i in range(count)]),
    }
    arrays = []
    for field in OTEL_TRACES:
        if field.name in columns:
            arrays.append(columns[field.name])
        elif pa.types.is_string(field.type):
            arrays.append(pa.array([""] * count, field.type))
        elif pa.types.is_integer(field.type):
            arrays.append(pa.array([0] * count, field.type))
        else:  # maps and lists
            arrays.append(pa.array([[]] * count, field.type))
    return pa.Table.from_arrays(arrays, schema=OTEL_TRACES)


def _time(action: Callable[[], object], spans: int) -> tuple[float, float]:
    """Median CPU and wall µs per span over RUNS runs."""
    cpu, wall = [], []
    for _ in range(RUNS):
        started_cpu, started = time.process_time(), time.perf_counter()
        action()
        cpu.append((time.process_time() - started_cpu) / spans * 1e6)
        wall.append((time.perf_counter() - started) / spans * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def _claims(batch: list[SpanRecord]) -> None:
    claims = SpanClaims()
    owner = object()
    keys = [span_key(span) for span in batch]
    kept, _ = claims.claim(owner, keys)
    claims.release(owner, [key for key, keep in zip(keys, kept, strict=True) if keep])


def run() -> str:
    step = 10**9 // RATE
    first = NOW - STORED * step
    stored = _spans(STORED, first, step)
    copies = stored[-BATCH // 100 :]
    live = _spans(BATCH - len(copies), NOW - 5 * 10**9, 10**9 // 4_000)  # the last 5 s
    batch = [*live, *copies]
    spread = [*_spans(BATCH - len(copies), NOW - 3600 * 10**9, 3600 * 10**9 // BATCH), *copies]
    small = [*live[:495], *copies[:5]]
    rows: list[tuple[str, float, float]] = []
    rows.append(
        ("claims: key, claim, release (20,000 spans)", *_time(lambda: _claims(batch), BATCH))
    )
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(embedded_dsn(Path(directory) / "store")) as store,
    ):
        apply_migrations(store)
        for start in range(0, STORED, 50_000):
            store.insert_arrow("agentaudit.otel_traces", _traces(stored[start : start + 50_000]))
        store.command("OPTIMIZE TABLE agentaudit.otel_traces FINAL")  # a settled store
        assert stored_keys(store, batch) == {span_key(s) for s in copies}
        for label, spans in (
            ("lookup: 20,000 spans, start times within 5 s", batch),
            ("lookup: 20,000 spans, start times over 1 hour", spread),
            ("lookup: 500 spans (a light load's batch)", small),
        ):
            rows.append((label, *_time(lambda spans=spans: stored_keys(store, spans), len(spans))))  # type: ignore[misc]
        table = _traces(batch)
        rows.append(
            (
                "for comparison: insert the batch's `otel_traces` rows (ids, times, names only)",
                *_time(lambda: store.insert_arrow("agentaudit.otel_traces", table), BATCH),
            )
        )
    lines = [
        "## Exactly once per span: the writer's deduplication",
        "",
        f"`python -m bench dedup`. Store: embedded chdb, {STORED:,} spans in `otel_traces` "
        f"({RATE:,}/s of start time, merged); 1 % of each batch are copies of stored spans. "
        f"Median of {RUNS} runs; CPU is the whole process's (chdb's query threads included). "
        "The collector spends ~140 µs of CPU per span end to end.",
        "",
        "| step | CPU µs/span | wall µs/span |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {cpu:.2f} | {wall:.2f} |" for label, cpu, wall in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
