"""The batch writer: durable spans in, Arrow inserts into the store out.

Seam: the pipeline hands it spans with :meth:`Writer.enqueue` (already in the WAL, with
its LSN, when a WAL is attached). Two background threads form a pipeline: the builder
groups spans into batches (``batch_rows`` spans or ``batch_seconds`` of waiting,
whichever comes first) and converts each into Arrow tables (Python work, holding the
GIL); the inserter stores each converted batch into ``otel_traces`` and, for tool
calls, ``tool_calls`` (the tool server's record of a call its caller linked to its own:
``tool_call_server_sides``, :mod:`agentaudit.schema.calls`), then appends an audit-chain
link over the batch's ``tool_calls`` rows (ClickHouse work, the GIL released). So the
next batch is converted while the previous one is being stored, and at most three
batches are in memory (building, waiting, storing).

Invariants:

* Each batch carries a deterministic ``batch_id`` (SHA-256 over its span ids, in
  order) used as ClickHouse's insert deduplication token (each table keeps its own
  tokens, so one batch's rows in several tables share it), so inserting the same batch
  twice (a retry after a timeout, a replay) stores its rows once.
* Exactly once per span (:mod:`~agentaudit.collector.writer.dedup`): right before a
  batch is inserted, spans that occur earlier in it, that another writer of this
  process is storing right now (:class:`SpanClaims`), or that the store already has
  are left out, so a copy a client resent (or another worker received) is never a
  second row. The ``batch_id`` is taken over the spans kept.
* With a WAL: before inserting, the writer records where the batch ends in the WAL
  checkpoint (``inflight``) and which span keys it left out (``inflight_dropped``);
  after the inserts and the chain link, it records the new committed position, which
  lets the WAL delete segments. A replay after a crash re-forms the in-flight batch
  exactly (same spans kept, same ``received_at``, same ``batch_id``; its keys are
  claimed when the writer is built, before any writer starts), so nothing acknowledged
  is lost or stored twice. Its chain link, if stored before the crash, is looked up and
  followed rather than appended again (as after a lost reply to the link's insert): a
  link records when it was written, so a second append would not hash the same.
* A batch that fails with :class:`StoreUnavailable` is retried with exponential
  backoff until it succeeds or the writer is stopped; spans are never dropped (when
  :meth:`stop` gives up waiting, what was not written stays in the WAL).
* No poison batch: a batch the store refuses for good (:class:`StoreRejected`: a value,
  a constraint, the table's schema) is split in halves, recursively, until the rows it
  refuses are alone; those spans go to the dead-letter file with the reason
  (:mod:`~agentaudit.collector.writer.dead_letter`), the rest is stored (each part with
  its own deduplication token, derived from the batch's), and the writer moves on. A
  span whose ``otel_traces`` row is refused gets no ``tool_calls`` row either. A span
  that cannot be turned into rows at all (a normaliser bug, a value no column can hold)
  is dead-lettered when the batch is converted.
* Batches are stored one at a time, in the order they were taken: at most one batch
  is ``inflight``, and its chain link follows the previous batch's.
* :meth:`Writer.stop` returns after everything enqueued before it was written, or
  after its timeout.
* ``on_stored`` (optional) is called on the inserter thread after a batch of tool calls
  and its chain link are stored and committed, with a :class:`StoredBatch`: the link and
  the ``tool_calls`` rows exactly as inserted (None when some were refused, or the link
  was found stored already: then they are read back from the store), so the detector of
  this process reads them without a query. It must return quickly, and an exception
  from it is logged, never raised into the writer.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import pyarrow as pa

from agentaudit.collector.metrics import CollectorMetrics
from agentaudit.collector.model import SpanRecord
from agentaudit.collector.wal.log import Checkpoint, Position, WalEntry
from agentaudit.collector.writer.batch import Batch, BatchBuilder, batch_id_of
from agentaudit.collector.writer.dead_letter import UNCONVERTIBLE, DeadLetters
from agentaudit.collector.writer.dedup import SpanClaims, span_key, stored_keys
from agentaudit.collector.writer.isolate import RowIsolator
from agentaudit.collector.writer.normalise import BlockedCheck
from agentaudit.config import DEFAULT_BATCH_ROWS, DEFAULT_BATCH_SECONDS
from agentaudit.schema import calls as call_tables
from agentaudit.store import Store, StoreUnavailable
from agentaudit.store.audit_chain import CHAIN_TABLE, AuditChain

__all__ = ["StoredBatch", "WalLike", "Writer", "WriterStats", "batch_id_of"]

log = logging.getLogger(__name__)

TOOL_CALLS_TABLE = call_tables.CALLS_TABLE
SERVER_SIDES_TABLE = call_tables.SERVER_SIDES_TABLE
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
    server_sides_written: int = 0
    batches_written: int = 0
    duplicates_dropped: int = 0
    dead_lettered: int = 0
    store_errors: int = 0
    last_error: str = ""


@dataclass
class _Entry:
    lsn: int
    received_ns: int
    spans: list[SpanRecord]
    start: int = 0  # the first span not yet taken into a batch


_Slice = tuple[_Entry, int, int]


@dataclass
class _Taken:
    """A batch taken from the queue: its slices and where it ends in the WAL.

    ``replayed``: for the batch a crash interrupted, the keys it left out then (it
    leaves out the same now); ``forced``: the keys it claimed when the writer was built.
    """

    slices: list[_Slice]
    end: Position
    replayed: frozenset[str] | None = None
    forced: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoredBatch:
    """A batch of tool calls stored and committed, with its audit-chain link: what
    ``on_stored`` is given. ``calls``: the ``tool_calls`` rows exactly as inserted, or
    None when that is not known for sure (a reader then reads the batch from the store)."""

    chain_id: str
    seq: int
    batch_id: str
    calls: pa.Table | None


@dataclass(frozen=True)
class _Inserted:
    spans: int
    calls: int
    sides: int
    link: tuple[int, str] | None
    rows: pa.Table | None  # the tool_calls rows as inserted, when every one was


@dataclass
class _Prepared:
    """A batch taken from the queue and converted, waiting to be stored."""

    end: Position  # where the batch ends in the WAL
    tables: Batch | None  # None: nothing to insert, only the position to commit
    started: float
    replayed: frozenset[str] | None = None
    forced: list[str] = field(default_factory=list)
    decided: tuple[Batch, tuple[str, ...], list[str]] | None = None
    """Once deduplicated: the rows to insert, the keys left out, the keys claimed."""


class _Stopped(Exception):
    """The writer was told to give up while a batch was failing."""


class Writer:
    """Batches spans into the store on a background thread.

    ``claims``: shared by every writer of the process (the store-owning process's own
    WAL and each worker WAL it drains); by default the writer has its own.
    """

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
        on_stored: Callable[[StoredBatch], None] | None = None,
        claims: SpanClaims | None = None,
    ) -> None:
        self._store = store
        self._on_stored = on_stored
        self._dead_letters = DeadLetters(dead_letter, metrics)
        self._builder = BatchBuilder(
            dead_letter=self._unconvertible, was_blocked=was_blocked, first_use=first_use
        )
        self._isolator = RowIsolator(self._insert_arrow, self._dead_letter)
        self._claims = claims if claims is not None else SpanClaims()
        self._held: _Taken | None = None  # taken, not converted yet (or conversion failed)
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

    @property
    def dead_letter(self) -> Path | None:
        return self._dead_letters.path

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
        if self._replay_until is not None and self._entries:
            self._claim_inflight()

    def _claim_inflight(self) -> None:
        """Take the batch a crash interrupted now, and claim the keys it keeps.

        Before any writer of the process starts, so no other writer can store its own
        copy of a span this batch stored (or is about to store again) in the meantime.
        """
        slices, end = self._take()
        dropped = frozenset(self._checkpoint.inflight_dropped)
        keys = dict.fromkeys(span_key(s) for entry, a, b in slices for s in entry.spans[a:b])
        forced = [key for key in keys if key not in dropped]
        taken = self._claims.force(self, forced)
        if taken:
            log.warning("%d spans of the interrupted batch were claimed by another", taken)
        self._held = _Taken(slices, end, dropped, forced)

    # -- feeding -------------------------------------------------------------------

    def enqueue(self, spans: Iterable[SpanRecord], *, received_ns: int | None = None) -> None:
        """Queue spans held only in memory (no WAL) for writing. Thread-safe.

        ``received_ns``: when they were received (their ``received_at``); now by
        default. Only a trusted import of history sets it: the detector's clock believes
        a call's claimed time only shortly before its receipt.
        """
        batch = list(spans)
        if batch:
            self._push(_Entry(0, time.time_ns() if received_ns is None else received_ns, batch))

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
        while self._entries or self._held is not None or self._held_batch is not None:
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
                    idle = not self._entries and self._held is None
                    if (self._stopping and idle) or self._abandon:
                        break
                if not self._entries and self._held is None:
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
        held, self._held = self._held, None
        taken = held if held is not None else _Taken(*self._take())
        if not taken.slices and taken.end == self._taken_until:
            return None
        started = time.perf_counter()
        try:
            spans = [(e.received_ns, s) for e, a, b in taken.slices for s in e.spans[a:b]]
            tables = self._builder.build(spans) if spans else None
        except BaseException:
            self._held = taken  # the next attempt converts the same batch
            raise
        self._taken_until = taken.end
        return _Prepared(taken.end, tables, started, taken.replayed, taken.forced)

    def _unconvertible(self, spans: Sequence[SpanRecord], error: str) -> None:
        self._dead_letter(spans, UNCONVERTIBLE, error)
        if self._metrics is not None:
            self._metrics.rejected.inc(len(spans), "unstorable")

    def _dead_letter(
        self, spans: Sequence[SpanRecord], reason: str, error: str, table: str = ""
    ) -> None:
        """Keep acknowledged spans the store will not take, instead of blocking the writer."""
        self._dead_letters.add(spans, reason=reason, error=error, table=table)
        self.stats.dead_lettered += len(spans)

    # -- exactly once ----------------------------------------------------------------

    def _deduplicate(self, prepared: _Prepared) -> tuple[Batch, tuple[str, ...], list[str]]:
        """The rows to insert, the keys left out, and the keys this writer now claims."""
        assert prepared.tables is not None
        tables = prepared.tables
        keys = [span_key(span) for span in tables.spans]
        if prepared.replayed is not None:  # the interrupted batch: leave out what it did
            dropped, owned = prepared.replayed, prepared.forced
            seen: set[str] = set()
            kept = []
            for key in keys:
                kept.append(key not in dropped and key not in seen)
                seen.add(key)
            found = {"replay": len(keys) - sum(kept)}
        else:
            kept, elsewhere = self._claims.claim(self, keys)
            owned = [key for key, keep in zip(keys, kept, strict=True) if keep]
            in_flight = sum(key in elsewhere for key in keys) if elsewhere else 0
            in_batch = len(keys) - len(owned) - in_flight
            candidates = [span for span, keep in zip(tables.spans, kept, strict=True) if keep]
            try:
                stored = self._retry(lambda: stored_keys(self._store, candidates))
            except BaseException:
                self._claims.release(self, owned)
                raise
            if stored:
                kept = [keep and key not in stored for key, keep in zip(keys, kept, strict=True)]
            dropped = frozenset(elsewhere | stored)
            found = {"batch": in_batch, "in_flight": in_flight, "store": len(stored)}
        copies = sum(found.values())
        if copies:
            self.stats.duplicates_dropped += copies
            if self._metrics is not None:
                for where, count in found.items():
                    if count:
                        self._metrics.deduplicated.inc(count, where)
            tables = tables.keep(kept)
        return tables, tuple(sorted(dropped)), owned

    # -- storing ---------------------------------------------------------------------

    def _store_batch(self, prepared: _Prepared) -> None:
        """Insert a converted batch and its chain link, then commit its WAL position."""
        end = prepared.end
        if prepared.tables is None:
            if end != self._checkpoint.committed:
                self._retry(lambda: self._commit(end, None))
            return
        if prepared.decided is None:  # decided once: a retry of the batch inserts the same
            prepared.decided = self._deduplicate(prepared)
        tables, dropped, owned = prepared.decided
        if not tables.spans:  # every span was a copy of one stored already
            self._retry(lambda: self._commit(end, None))
            self._claims.release(self, owned)
            return
        if self._wal is not None:
            inflight = dataclasses.replace(self._checkpoint, inflight=end, inflight_dropped=dropped)
            self._retry(lambda: self._save(inflight))
        chain_id = self._checkpoint.chain_id
        done = self._insert(tables, replayed=prepared.replayed is not None)
        spans, calls, sides, link = done.spans, done.calls, done.sides, done.link
        self._retry(lambda: self._commit(end, link))
        self._claims.release(self, owned)
        if link is not None and self._on_stored is not None:
            try:
                self._on_stored(StoredBatch(chain_id, link[0], tables.batch_id, done.rows))
            except Exception:  # a listener's bug must not stop the writer
                log.exception("the on_stored hook failed")
        self.stats.spans_written += spans
        self.stats.tool_calls_written += calls
        self.stats.server_sides_written += sides
        self.stats.batches_written += 1
        if self._metrics is not None:
            self._metrics.written.inc(spans, "otel_traces")
            self._metrics.written.inc(calls, "tool_calls")
            if sides:
                self._metrics.written.inc(sides, "tool_call_server_sides")
            self._metrics.batches.inc()
            self._metrics.batch_seconds.observe(time.perf_counter() - prepared.started)

    def _insert(self, batch: Batch, *, replayed: bool = False) -> _Inserted:
        """Insert the tables and the chain link: spans, tool calls and server sides
        stored, the link, and the tool-call rows when every one was stored.

        A linked server side (:mod:`agentaudit.schema.calls`) goes to
        ``tool_call_server_sides``, sealed like the other audit tables; the chain link
        covers the batch's ``tool_calls`` rows.
        """
        every = list(range(len(batch.spans)))
        refused = self._isolator.insert(OTEL_TRACES_TABLE, batch.traces, batch, every)
        # A span whose trace row was refused is all refused.
        calls, sides = batch.split(refused)
        stored_calls = 0
        inserted: pa.Table | None = None
        if calls is not None:
            rows, rows_of = calls
            stored_calls = rows.num_rows - len(
                self._isolator.insert(TOOL_CALLS_TABLE, rows, batch, rows_of)
            )
            inserted = rows if stored_calls == rows.num_rows else None
        stored_sides = 0
        if sides is not None:
            rows, rows_of = sides
            stored_sides = rows.num_rows - len(
                self._isolator.insert(SERVER_SIDES_TABLE, rows, batch, rows_of)
            )
        spans = len(batch.spans) - len(refused)
        if not stored_calls or self._chain is None:
            return _Inserted(spans, stored_calls, stored_sides, None, None)
        chain = self._chain
        checkpoint = self._checkpoint
        attempts = 0

        found_stored = False

        def append() -> tuple[int, str]:
            nonlocal attempts, found_stored
            attempts += 1
            seq = checkpoint.chain_seq + 1
            if replayed or attempts > 1:  # the link may be stored already: take that one
                stored = self._stored_link(checkpoint.chain_id, seq, batch.batch_id)
                if stored is not None:
                    found_stored = True
                    return seq, stored
            link = chain.append(
                chain_id=checkpoint.chain_id,
                seq=seq,
                prev_hash=checkpoint.chain_head,
                batch_id=batch.batch_id,
            )
            return link.seq, link.chain_hash

        link = self._retry(append)
        # A link stored before (a replay after a crash) may cover rows an earlier attempt
        # stored: the reader takes the batch from the store then.
        handed = None if (replayed or found_stored) else inserted
        return _Inserted(spans, stored_calls, stored_sides, link, handed)

    def _stored_link(self, chain_id: str, seq: int, batch_id: str) -> str | None:
        """The hash of link ``seq`` of ``chain_id`` for ``batch_id``, if it is stored.

        A link is stored once under its deduplication token, but appending it again (a
        replay after a crash, a retry after a lost reply) need not produce the same hash
        (it records when it was written): the next link must follow the stored one.
        """
        rows = self._store.query(
            f"SELECT chain_hash FROM {CHAIN_TABLE} "  # noqa: S608 - the table is ours
            "WHERE chain_id = {c:String} AND seq = {s:UInt64} AND batch_id = {b:String} "
            "LIMIT 1",
            {"c": chain_id, "s": seq, "b": batch_id},
        ).rows
        return str(rows[0][0]) if rows else None

    def _insert_arrow(self, table: str, rows: pa.Table, token: str) -> None:
        self._retry(lambda: self._store.insert_arrow(table, rows, dedup_token=token))

    def _commit(self, end: Position, link: tuple[int, str] | None) -> None:
        checkpoint = dataclasses.replace(
            self._checkpoint, committed=end, inflight=None, inflight_dropped=()
        )
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
