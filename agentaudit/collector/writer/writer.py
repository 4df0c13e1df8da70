"""The batch writer: durable spans in, Arrow inserts into the store out.

Seam: the pipeline hands it spans with :meth:`Writer.enqueue` (already in the WAL, with
its LSN, when a WAL is attached). Two background threads form a pipeline: the builder
groups spans into batches (``batch_rows`` spans or ``batch_seconds`` of waiting,
whichever comes first) and converts each into Arrow tables (Python work, holding the
GIL); the inserter stores each converted batch into ``otel_traces`` and, for tool
calls, ``tool_calls``, then appends an audit-chain link (ClickHouse work, the GIL
released). So the next batch is converted while the previous one is being stored, and
at most three batches are in memory (building, waiting, storing).

Invariants:

* Each batch carries a deterministic ``batch_id`` (SHA-256 over its span ids, in
  order) used as ClickHouse's insert deduplication token, so inserting the same batch
  twice (a retry after a timeout, a replay) stores its rows once.
* With a WAL: before inserting, the writer records where the batch ends in the WAL
  checkpoint (``inflight``); after the inserts and the chain link, it records the new
  committed position, which lets the WAL delete segments. A replay after a crash
  re-forms the in-flight batch exactly (same spans, same ``received_at``, same
  ``batch_id``, same chain link), so nothing acknowledged is lost or stored twice.
* A batch that fails with :class:`StoreUnavailable` is retried with exponential
  backoff until it succeeds or the writer is stopped; spans are never dropped (when
  :meth:`stop` gives up waiting, what was not written stays in the WAL).
* A batch is never skipped: if writing it fails unexpectedly, the same batch is tried
  again. A span that cannot be turned into rows at all (a normaliser bug, a value no
  column can hold) is appended to the ``dead_letter`` file (one span-codec record per
  line, redacted like the WAL) and counted, so one bad span cannot block the writer.
* Batches are stored one at a time, in the order they were taken: at most one batch
  is ``inflight``, and its chain link follows the previous batch's.
* :meth:`Writer.stop` returns after everything enqueued before it was written, or
  after its timeout.
* ``on_stored`` (optional) is called on the inserter thread after a batch of tool calls
  and its chain link are stored and committed (the detector wakes to read it); it must
  return quickly, and an exception from it is logged, never raised into the writer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import pyarrow as pa

from agentaudit.collector.metrics import CollectorMetrics
from agentaudit.collector.model import SpanRecord
from agentaudit.collector.wal.codec import encode_spans
from agentaudit.collector.wal.log import Checkpoint, Position, WalEntry
from agentaudit.collector.writer.arrow_tables import rows_table, traces_table
from agentaudit.collector.writer.normalise import (
    BlockedCheck,
    duplicates,
    is_tool_call,
    string_map,
    tool_call_row,
)
from agentaudit.collector.writer.table_schemas import TOOL_CALLS
from agentaudit.config import DEFAULT_BATCH_ROWS, DEFAULT_BATCH_SECONDS
from agentaudit.store import Store, StoreUnavailable
from agentaudit.store.audit_chain import AuditChain

__all__ = ["WalLike", "Writer", "WriterStats", "batch_id_of"]

log = logging.getLogger(__name__)

TOOL_CALLS_TABLE = "agentaudit.tool_calls"
OTEL_TRACES_TABLE = "agentaudit.otel_traces"
MAX_BACKOFF_SECONDS = 5.0
_T = TypeVar("_T")


class WalLike(Protocol):
    """What the writer needs of a log: :class:`Wal`, or a ``WalFollower``."""

    @property
    def checkpoint(self) -> Checkpoint: ...

    @property
    def synced_lsn(self) -> int: ...

    def take_replay(self) -> list[WalEntry]: ...

    def save_checkpoint(self, checkpoint: Checkpoint) -> None: ...


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


@dataclass
class _Entry:
    lsn: int
    received_ns: int
    spans: list[SpanRecord]
    start: int = 0  # the first span not yet taken into a batch


_Slice = tuple[_Entry, int, int]
_Tables = tuple[str, pa.Table, "pa.Table | None", int]
"""(batch id, otel_traces table, tool_calls table or None, number of tool calls)."""


@dataclass
class _Prepared:
    """A batch taken from the queue and converted, waiting to be stored."""

    end: Position  # where the batch ends in the WAL
    tables: _Tables | None  # None: nothing to insert, only the position to commit
    started: float


class _Stopped(Exception):
    """The writer was told to give up while a batch was failing."""


class Writer:
    """Batches spans into the store on a background thread."""

    def __init__(
        self,
        store: Store,
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        batch_seconds: float = DEFAULT_BATCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wal: WalLike | None = None,
        chain: AuditChain | None = None,
        metrics: CollectorMetrics | None = None,
        dead_letter: Path | None = None,
        was_blocked: BlockedCheck | None = None,
        first_use: Callable[[str], bool] | None = None,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._on_stored = on_stored
        self._was_blocked = was_blocked
        self._first_use = first_use
        self._dead_letter_path = dead_letter
        self._held_slices: tuple[list[_Slice], Position] | None = None  # build failed
        self._held_batch: _Prepared | None = None  # store failed (flush only)
        self._ready: queue.Queue[_Prepared | None] = queue.Queue(maxsize=1)
        self._batch_rows = batch_rows
        self._batch_seconds = batch_seconds
        self._clock = clock
        self._wal = wal
        self._chain = chain
        self._metrics = metrics
        self._entries: deque[_Entry] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._abandon = False
        self._threads: list[threading.Thread] = []
        self._checkpoint = wal.checkpoint if wal else Checkpoint(chain_id=uuid.uuid4().hex)
        self._taken_until = self._checkpoint.committed  # where the builder has taken to
        self._replay_until: Position | None = None
        self.stats = WriterStats()
        if wal is not None:
            self._load_replay(wal.take_replay())

    def _load_replay(self, entries: list[WalEntry]) -> None:
        committed = self._checkpoint.committed
        for entry in entries:
            start = committed.index if entry.lsn == committed.lsn else 0
            if start < len(entry.spans):
                self._entries.append(_Entry(entry.lsn, entry.received_ns, entry.spans, start))
                self._queued += len(entry.spans) - start
        self._replay_until = self._checkpoint.inflight
        if self._entries:
            log.info(
                "replaying %d spans from the WAL (%d records not yet in the store)",
                self._queued, len(self._entries),
            )  # fmt: skip

    # -- feeding -------------------------------------------------------------------

    def enqueue(self, spans: Iterable[SpanRecord]) -> None:
        """Queue spans held only in memory (no WAL) for writing. Thread-safe."""
        batch = list(spans)
        if batch:
            self._push(_Entry(0, time.time_ns(), batch))

    def enqueue_entry(self, entry: WalEntry) -> None:
        """Queue a WAL record; called in LSN order, it is written once it is synced."""
        if entry.spans:
            self._push(_Entry(entry.lsn, entry.received_ns, entry.spans))

    def _push(self, queued: _Entry) -> None:
        batch = queued.spans
        with self._cond:
            self._entries.append(queued)
            self._queued += len(batch)
            if self._queued >= self._batch_rows:
                self._cond.notify()

    @property
    def pending(self) -> int:
        """Spans queued and not yet taken into a batch."""
        return self._queued

    @property
    def checkpoint(self) -> Checkpoint:
        return self._checkpoint

    def oldest_pending_ns(self) -> int | None:
        """When the oldest span still waiting to be written was received."""
        entries = self._entries
        return entries[0].received_ns if entries else None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        # pyarrow imports pandas on its first pa.array() call (~0.5 s): pay it at start-up,
        # not in the first batch.
        pa.array([0])
        self._threads = [
            threading.Thread(target=self._build_loop, name="agentaudit-writer", daemon=True),
            threading.Thread(target=self._store_loop, name="agentaudit-inserter", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Write everything queued so far, then stop the threads.

        After ``timeout`` seconds the writer gives up (a store that stays down): the
        unwritten spans remain in the WAL and are replayed on the next start.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            self._abandon = True
            log.warning("writer stopped with %d spans unwritten (kept in the WAL)", self._queued)
            for thread in self._threads:
                thread.join(MAX_BACKOFF_SECONDS + 1)

    def flush(self) -> None:
        """Write everything queued so far on the calling thread (used when not started)."""
        while self._entries or self._held_slices is not None or self._held_batch is not None:
            held, self._held_batch = self._held_batch, None
            prepared = held if held is not None else self._prepare()
            if prepared is None:
                continue
            try:
                self._store_batch(prepared)
            except BaseException:
                self._held_batch = prepared  # never skip a batch: the next attempt is the same
                raise

    def _build_loop(self) -> None:
        """Take and convert batches; hand them to the inserter in order."""
        try:
            while True:
                with self._cond:
                    deadline = self._clock() + self._batch_seconds
                    while not self._stopping and self._queued < self._batch_rows:
                        remaining = deadline - self._clock()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    idle = not self._entries and self._held_slices is None
                    if (self._stopping and idle) or self._abandon:
                        break
                if not self._entries and self._held_slices is None:
                    continue
                try:
                    prepared = self._prepare()
                except Exception:  # a bug must not silently stop the writer
                    log.exception("converting a batch failed; retrying in 1s")
                    time.sleep(1.0)
                    continue
                if prepared is None:
                    time.sleep(0.002)  # queued spans not synced yet: do not spin
                    continue
                self._hand_over(prepared)
            self._hand_over(None)  # the inserter stops after what it was given
        except _Stopped:
            return

    def _hand_over(self, prepared: _Prepared | None) -> None:
        while True:
            if self._abandon:
                raise _Stopped
            try:
                self._ready.put(prepared, timeout=0.1)
                return
            except queue.Full:
                continue

    def _store_loop(self) -> None:
        """Store converted batches one at a time, in order, until told to stop."""
        while True:
            try:
                prepared = self._ready.get(timeout=0.1)
            except queue.Empty:
                if self._abandon:
                    return
                continue
            if prepared is None:
                return
            while True:  # never skip a batch: retry the same one until it is stored
                try:
                    self._store_batch(prepared)
                    break
                except _Stopped:
                    return
                except Exception:  # a bug must not silently stop the writer
                    log.exception("writing a batch failed; retrying in 1s")
                    if self._abandon:
                        return
                    time.sleep(1.0)

    # -- batching ------------------------------------------------------------------

    def _take(self) -> tuple[list[_Slice], Position]:
        """The next batch: whole or partial entries, and the position where it ends."""
        until, self._replay_until = self._replay_until, None
        slices: list[_Slice] = []
        count = 0
        end = self._taken_until
        synced = self._wal.synced_lsn if self._wal is not None else None
        with self._cond:
            while self._entries:
                entry = self._entries[0]
                if synced is not None and entry.lsn > synced:
                    break  # not durable yet: never store what a crash could un-acknowledge
                if until is not None:
                    if entry.lsn > until.lsn:
                        break
                    stop = until.index if entry.lsn == until.lsn else len(entry.spans)
                    take = max(0, min(len(entry.spans), stop) - entry.start)
                elif count >= self._batch_rows:
                    break
                else:
                    take = min(len(entry.spans) - entry.start, self._batch_rows - count)
                if take:
                    slices.append((entry, entry.start, entry.start + take))
                entry.start += take
                count += take
                self._queued -= take
                if entry.start >= len(entry.spans):
                    self._entries.popleft()
                    end = Position(entry.lsn + 1, 0)
                else:
                    end = Position(entry.lsn, entry.start)
                    if until is not None:
                        break
        return slices, end

    def _prepare(self) -> _Prepared | None:
        """Take the next batch and convert it; None when nothing was ready to take."""
        held, self._held_slices = self._held_slices, None
        slices, end = held if held is not None else self._take()
        if not slices and end == self._taken_until:
            return None
        started = time.perf_counter()
        try:
            spans = [(e.received_ns, span) for e, a, b in slices for span in e.spans[a:b]]
            tables = self._build(spans) if spans else None
        except BaseException:
            self._held_slices = (slices, end)  # the next attempt converts the same batch
            raise
        self._taken_until = end
        return _Prepared(end, tables, started)

    def _tables(self, spans: list[tuple[int, SpanRecord]]) -> _Tables:
        batch_id = batch_id_of(span for _, span in spans)
        only_spans = [span for _, span in spans]
        strings = [string_map(span.attributes) for span in only_spans]
        traces = traces_table(only_spans, attribute_strings=strings)
        resources: dict[int, tuple[object, dict[str, str]]] = {}  # one map per resource
        calls = []
        candidates = [i for i, span in enumerate(only_spans) if is_tool_call(span)]
        skipped = duplicates(only_spans, candidates)
        positions = [i for i in candidates if i not in skipped]
        for position in positions:
            received, span = spans[position]
            resource = span.resource_attributes
            cached = resources.get(id(resource))
            if cached is None or cached[0] is not resource:
                cached = resources[id(resource)] = (resource, string_map(resource))
            row = tool_call_row(
                span,
                received_ns=received,
                attribute_strings=strings[position],
                resource_strings=cached[1],
                was_blocked=self._was_blocked,
                first_use=self._first_use,
            )
            row["batch_id"] = batch_id
            calls.append(row)
        if not calls:
            return batch_id, traces, None, 0
        # The same string maps as otel_traces' columns: taken from there, not rebuilt.
        shared = {"attributes": "SpanAttributes", "resource_attributes": "ResourceAttributes"}
        every = len(positions) == len(spans)
        taken = pa.array(positions, pa.int32())
        columns = {}
        for name, source in shared.items():
            column = traces.column(source).combine_chunks()
            columns[name] = column if every else column.take(taken)
        return batch_id, traces, rows_table(TOOL_CALLS, calls, columns=columns), len(calls)

    def _build(self, spans: list[tuple[int, SpanRecord]]) -> _Tables | None:
        """The batch's tables; spans that cannot become rows go to the dead-letter file.

        Deterministic (the same spans fail the same way), so a replay forms the same batch.
        """
        try:
            return self._tables(spans)
        except Exception:
            log.exception(
                "a batch of %d spans cannot be converted; isolating the bad spans", len(spans)
            )
        good = []
        for item in spans:
            try:
                self._tables([item])
            except Exception as exc:
                self._dead_letter(item[1], exc)
            else:
                good.append(item)
        return self._tables(good) if good else None

    def _dead_letter(self, span: SpanRecord, exc: Exception) -> None:
        """Keep an acknowledged span that cannot be stored, instead of blocking the writer."""
        log.error(
            "span %s/%s cannot be stored (%s: %s); kept in %s",
            span.trace_id, span.span_id, type(exc).__name__, exc, self._dead_letter_path,
        )  # fmt: skip
        if self._metrics is not None:
            self._metrics.rejected.inc(1, "unstorable")
        if self._dead_letter_path is None:
            return
        with self._dead_letter_path.open("ab") as handle:
            handle.write(encode_spans([span], text=True) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _store_batch(self, prepared: _Prepared) -> None:
        """Insert a converted batch and its chain link, then commit its WAL position."""
        end = prepared.end
        if prepared.tables is None:
            if end != self._checkpoint.committed:
                self._retry(lambda: self._commit(end, None))
            return
        batch_id, traces, calls_table, calls = prepared.tables
        if self._wal is not None:
            self._retry(lambda: self._save(dataclasses.replace(self._checkpoint, inflight=end)))
        link = self._retry(lambda: self._insert(batch_id, traces, calls_table))
        self._retry(lambda: self._commit(end, link))
        if link is not None and self._on_stored is not None:
            try:
                self._on_stored()
            except Exception:  # a listener's bug must not stop the writer
                log.exception("the on_stored hook failed")
        self.stats.spans_written += traces.num_rows
        self.stats.tool_calls_written += calls
        self.stats.batches_written += 1
        if self._metrics is not None:
            self._metrics.written.inc(traces.num_rows, "otel_traces")
            self._metrics.written.inc(calls, "tool_calls")
            self._metrics.batches.inc()
            self._metrics.batch_seconds.observe(time.perf_counter() - prepared.started)

    def _insert(
        self, batch_id: str, traces: pa.Table, calls: pa.Table | None
    ) -> tuple[int, str] | None:
        self._store.insert_arrow(OTEL_TRACES_TABLE, traces, dedup_token=batch_id)
        if calls is None:
            return None
        self._store.insert_arrow(TOOL_CALLS_TABLE, calls, dedup_token=batch_id)
        if self._chain is None:
            return None
        checkpoint = self._checkpoint
        link = self._chain.append(
            chain_id=checkpoint.chain_id,
            seq=checkpoint.chain_seq + 1,
            prev_hash=checkpoint.chain_head,
            batch_id=batch_id,
        )
        return link.seq, link.chain_hash

    def _commit(self, end: Position, link: tuple[int, str] | None) -> None:
        checkpoint = dataclasses.replace(self._checkpoint, committed=end, inflight=None)
        if link is not None:
            checkpoint = dataclasses.replace(checkpoint, chain_seq=link[0], chain_head=link[1])
        if self._wal is not None:
            self._save(checkpoint)
        self._checkpoint = checkpoint

    def _save(self, checkpoint: Checkpoint) -> None:
        assert self._wal is not None
        self._wal.save_checkpoint(checkpoint)

    def _retry(self, action: Callable[[], _T]) -> _T:
        """Run ``action`` until it stops failing with a retryable error."""
        backoff = 0.05
        while True:
            try:
                return action()
            except (StoreUnavailable, OSError) as exc:
                self.stats.store_errors += 1
                self.stats.last_error = str(exc)
                if self._metrics is not None:
                    self._metrics.store_errors.inc()
                if self._abandon:
                    raise _Stopped from exc
                log.warning("store write failed, retrying in %.2fs: %s", backoff, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
