"""The batch writer: decoded spans in, Arrow inserts into the store out.

Seam: receivers hand spans to :meth:`Writer.enqueue` (a plain callable); a background
thread groups them into batches (``batch_rows`` spans or ``batch_seconds`` of waiting,
whichever comes first) and inserts each batch into ``otel_traces`` and, for tool
calls, ``tool_calls``.

Invariants:

* Each batch carries a deterministic ``batch_id`` (SHA-256 over its span ids, in
  order) used as ClickHouse's insert deduplication token, so inserting the same batch
  twice (a retry after a timeout, a replay) stores its rows once.
* A batch that fails with :class:`StoreUnavailable` is retried with exponential
  backoff until it succeeds or the writer is stopped; spans are never dropped.
* :meth:`Writer.stop` returns after everything enqueued before it was written.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agentaudit.collector.arrow_batches import OTEL_TRACES, TOOL_CALLS, to_arrow
from agentaudit.collector.normalise import is_tool_call, tool_call_row, trace_row
from agentaudit.collector.spans import SpanRecord
from agentaudit.collector.store import Store, StoreUnavailable

__all__ = ["Writer", "WriterStats", "batch_id_of"]

log = logging.getLogger(__name__)

TOOL_CALLS_TABLE = "agentaudit.tool_calls"
OTEL_TRACES_TABLE = "agentaudit.otel_traces"
MAX_BACKOFF_SECONDS = 5.0


@dataclass
class WriterStats:
    spans_written: int = 0
    tool_calls_written: int = 0
    batches_written: int = 0
    store_errors: int = 0
    last_error: str = ""


def batch_id_of(spans: Iterable[SpanRecord]) -> str:
    """The deterministic id (and dedup token) of a batch: SHA-256 of its span ids."""
    digest = hashlib.sha256()
    for span in spans:
        digest.update(span.trace_id.encode())
        digest.update(span.span_id.encode())
    return digest.hexdigest()[:32]


class Writer:
    """Batches spans into the store on a background thread."""

    def __init__(
        self,
        store: Store,
        *,
        batch_rows: int = 5000,
        batch_seconds: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._batch_rows = batch_rows
        self._batch_seconds = batch_seconds
        self._clock = clock
        self._pending: deque[tuple[int, SpanRecord]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stats = WriterStats()

    def enqueue(self, spans: Iterable[SpanRecord]) -> None:
        """Queue spans for writing (thread-safe, never blocks on the store)."""
        received = time.time_ns()
        with self._cond:
            self._pending.extend((received, span) for span in spans)
            if len(self._pending) >= self._batch_rows:
                self._cond.notify()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="agentaudit-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Write everything queued so far, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def flush(self) -> None:
        """Write everything queued so far on the calling thread (used when not started)."""
        while self._pending:
            self._write(self._take())

    def _take(self) -> list[tuple[int, SpanRecord]]:
        with self._cond:
            count = min(len(self._pending), self._batch_rows)
            return [self._pending.popleft() for _ in range(count)]

    def _run(self) -> None:
        while True:
            with self._cond:
                deadline = self._clock() + self._batch_seconds
                while not self._stopping and len(self._pending) < self._batch_rows:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._stopping and not self._pending:
                    return
            batch = self._take()
            if batch:
                self._write(batch)

    def _write(self, batch: list[tuple[int, SpanRecord]]) -> None:
        batch_id = batch_id_of(span for _, span in batch)
        traces = [trace_row(span) for _, span in batch]
        calls = []
        for received, span in batch:
            if is_tool_call(span):
                row = tool_call_row(span, received_ns=received)
                row["batch_id"] = batch_id
                calls.append(row)
        backoff = 0.05
        while True:
            try:
                self._store.insert_arrow(
                    OTEL_TRACES_TABLE, to_arrow(OTEL_TRACES, traces), dedup_token=batch_id
                )
                if calls:
                    self._store.insert_arrow(
                        TOOL_CALLS_TABLE, to_arrow(TOOL_CALLS, calls), dedup_token=batch_id
                    )
                break
            except StoreUnavailable as exc:
                self.stats.store_errors += 1
                self.stats.last_error = str(exc)
                log.warning("store write failed, retrying in %.2fs: %s", backoff, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        self.stats.spans_written += len(traces)
        self.stats.tool_calls_written += len(calls)
        self.stats.batches_written += 1
