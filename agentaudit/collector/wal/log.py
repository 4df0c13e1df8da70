"""The write-ahead log: acknowledged spans survive a crash until they are in the store.

Layout of a WAL directory (owned by one process: an exclusive ``flock`` on ``LOCK``):

* ``<first lsn, 20 digits>.wal`` segment files. Each starts with :data:`MAGIC`, then
  records ``<u32 length><u32 crc32><u64 lsn><i64 received_ns><payload>``; the CRC
  covers lsn, received_ns and payload. A payload is a span batch in the
  :mod:`~agentaudit.collector.wal.codec` format (redacted, decoded spans).
* ``checkpoint.json``: how far the store has the log (:class:`Checkpoint`), replaced
  atomically (write, fsync, rename, fsync the directory).

Invariants:

* :meth:`Wal.append` returns only after its record is on disk (``fsync``); concurrent
  appends share fsyncs (group commit: one thread syncs everything written so far while
  the others wait), so an acknowledgement costs about one fsync, not one per request.
* LSNs increase by one per record, across segments and restarts.
* A segment is deleted only when every record in it is before the checkpoint's
  position, i.e. in the store.
* When the segments on disk reach ``max_bytes``, :meth:`append` raises
  :class:`Backpressure` instead of writing: acknowledged data is never dropped to
  make room.
* ``shared=True``: another process drains the log (a worker's WAL, drained by the
  store-owning process through :class:`~agentaudit.collector.wal.follower.WalFollower`);
  this side only appends, and the follower owns the checkpoint and deletes segments.
* On open, a torn or corrupt record at the end of the newest segment (a crash during a
  write that was never acknowledged) is truncated away; corruption anywhere else is
  logged and counted in :attr:`Wal.corrupt_records`, and the segment's readable prefix
  is kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from agentaudit.collector.errors import Backpressure, CollectorError
from agentaudit.collector.model import SpanRecord
from agentaudit.collector.wal.codec import CodecError, decode_spans, encode_spans
from agentaudit.config import DEFAULT_WAL_MAX_BYTES, DEFAULT_WAL_SEGMENT_BYTES

__all__ = [
    "Checkpoint",
    "Position",
    "Wal",
    "WalEntry",
    "WalError",
]

log = logging.getLogger(__name__)

MAGIC = b"AAWAL01\n"
_HEADER = struct.Struct("<IIQq")
_CRC_PART = struct.Struct("<Qq")
CHECKPOINT_FILE = "checkpoint.json"
LOCK_FILE = "LOCK"
MAX_RECORD_BYTES = 1 << 30


class WalError(CollectorError):
    """The WAL directory cannot be used."""


@dataclass(frozen=True, order=True)
class Position:
    """A place in the log: span ``index`` of record ``lsn``."""

    lsn: int
    index: int = 0


@dataclass(frozen=True)
class Checkpoint:
    """What the store holds, and the batch being written when the process stopped.

    ``committed``: every span before this position is in the store. ``inflight``: the
    end of the batch the writer had started to insert (replay re-forms exactly that
    batch first, so its deduplication token and chain link are the same).
    ``inflight_dropped``: the span keys (trace id + span id) the in-flight batch left
    out because the store or another batch had them (usually none): the replay leaves
    out the same, even though by then the store may hold the batch's own rows.
    ``chain_seq``/``chain_head``: the last link of this log's audit chain.
    """

    chain_id: str
    committed: Position = Position(1, 0)
    inflight: Position | None = None
    chain_seq: int = 0
    chain_head: str = ""
    inflight_dropped: tuple[str, ...] = ()

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        inflight = data.get("inflight")
        return cls(
            chain_id=str(data["chain_id"]),
            committed=Position(**data["committed"]),
            inflight=Position(**inflight) if inflight else None,
            chain_seq=int(data.get("chain_seq", 0)),
            chain_head=str(data.get("chain_head", "")),
            inflight_dropped=tuple(str(key) for key in data.get("inflight_dropped", ())),
        )


@dataclass
class WalEntry:
    """One appended record: the spans of one accepted request."""

    lsn: int
    received_ns: int
    spans: list[SpanRecord]
    size: int = 0


@dataclass
class _Segment:
    path: Path
    first_lsn: int
    last_lsn: int
    size: int


@dataclass
class WalStats:
    appends: int = 0
    fsyncs: int = 0
    corrupt_records: int = 0
    truncated_bytes: int = 0
    backpressure: int = 0
    fsync_seconds: float = 0.0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _segment_name(first_lsn: int) -> str:
    return f"{first_lsn:020d}.wal"


class Wal:
    """A segmented, checksummed, fsync'd log of span batches. Thread-safe."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_WAL_MAX_BYTES,
        segment_bytes: int = DEFAULT_WAL_SEGMENT_BYTES,
        fsync: bool = True,
        observe_fsync: Callable[[float], None] | None = None,
        shared: bool = False,
        lock_wait: float = 0.0,
    ) -> None:
        """``lock_wait``: seconds to wait for a directory another process holds (a worker
        of a killed collector is still stopping) before giving up with :class:`WalError`."""
        self.directory = Path(directory)
        self._observe_fsync = observe_fsync
        self._shared = shared  # drained by a WalFollower in another process
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._fsync = fsync
        self.stats = WalStats()
        self._lock = threading.Lock()
        self._sync_cond = threading.Condition()
        self._syncing = False
        self._synced = 0
        self._written = 0
        self._fd = -1
        self._segments: list[_Segment] = []
        self._closed = False
        self._lock_handle = self._take_lock(lock_wait)
        try:
            self._checkpoint = self._load_checkpoint()
            self._pending: list[WalEntry] = []
            self._next_lsn = self._scan()
            self._synced = self._written = self._next_lsn - 1
            self._open_segment()
        except BaseException:
            self._lock_handle.close()
            raise

    # -- opening ---------------------------------------------------------------------

    def _take_lock(self, wait: float) -> IO[str]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = (self.directory / LOCK_FILE).open("a+")
        except OSError as exc:
            raise WalError(
                f"cannot use WAL directory {self.directory}: {exc.strerror}; "
                "choose a writable directory with --wal-dir DIR"
            ) from None
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                handle.close()
                raise WalError(
                    f"WAL directory {self.directory} is in use by another process; "
                    "give each collector (and each worker) its own --wal-dir"
                ) from None

    def _load_checkpoint(self) -> Checkpoint:
        path = self.directory / CHECKPOINT_FILE
        try:
            return Checkpoint.from_json(path.read_text())
        except FileNotFoundError:
            checkpoint = Checkpoint(chain_id=uuid.uuid4().hex)
            self._write_checkpoint(checkpoint)
            return checkpoint
        except (ValueError, KeyError, TypeError) as exc:
            raise WalError(f"WAL checkpoint {path} is corrupt: {exc}") from None

    def _scan(self) -> int:
        """Read every segment; keep unwritten entries; return the next LSN."""
        paths = sorted(self.directory.glob("*.wal"))
        last_lsn = self._checkpoint.committed.lsn - 1
        for number, path in enumerate(paths):
            newest = number == len(paths) - 1
            segment_last = 0
            for entry in self._read_segment(path, truncate_tail=newest):
                segment_last = entry.lsn
                last_lsn = max(last_lsn, entry.lsn)
                if entry.lsn >= self._checkpoint.committed.lsn and not self._shared:
                    self._pending.append(entry)
            first = int(path.stem) if path.stem.isdigit() else 0
            segment = _Segment(path, first, segment_last, path.stat().st_size)
            empty = not segment_last and segment.size <= len(MAGIC)
            written = segment_last and segment_last < self._checkpoint.committed.lsn
            if empty or (written and not self._shared):
                self._delete(segment)
            else:
                self._segments.append(segment)
        return last_lsn + 1

    def _read_segment(self, path: Path, *, truncate_tail: bool) -> Iterator[WalEntry]:
        data = path.read_bytes()
        if data[: len(MAGIC)] != MAGIC:
            if truncate_tail and len(data) < len(MAGIC):
                path.unlink()
                return
            self.stats.corrupt_records += 1
            log.error("WAL segment %s has no valid header; skipping it", path)
            return
        offset = len(MAGIC)
        while offset < len(data):
            bad = offset + _HEADER.size > len(data)
            if not bad:
                length, crc, lsn, received = _HEADER.unpack_from(data, offset)
                end = offset + _HEADER.size + length
                payload = data[offset + _HEADER.size : end]
                bad = end > len(data) or crc != zlib.crc32(
                    payload, zlib.crc32(_CRC_PART.pack(lsn, received))
                )
            if bad:
                if truncate_tail:
                    self.stats.truncated_bytes += len(data) - offset
                    log.warning(
                        "WAL %s: truncating %d bytes of an unfinished record at offset %d",
                        path,
                        len(data) - offset,
                        offset,
                    )
                    with path.open("r+b") as handle:
                        handle.truncate(offset)
                        os.fsync(handle.fileno())
                else:
                    self.stats.corrupt_records += 1
                    log.error(
                        "WAL %s: corrupt record at offset %d; the rest of the segment is lost",
                        path,
                        offset,
                    )
                return
            try:
                spans = decode_spans(payload)
            except CodecError as exc:
                self.stats.corrupt_records += 1
                log.error("WAL %s: record %d does not decode: %s", path, lsn, exc)
            else:
                yield WalEntry(lsn, received, spans, _HEADER.size + length)
            offset = end

    def _open_segment(self) -> None:
        path = self.directory / _segment_name(self._next_lsn)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.write(fd, MAGIC)
        if self._fsync:
            os.fsync(fd)
            _fsync_dir(self.directory)
        self._fd = fd
        self._segments.append(_Segment(path, self._next_lsn, 0, len(MAGIC)))

    # -- reading state -------------------------------------------------------------

    @property
    def checkpoint(self) -> Checkpoint:
        return self._checkpoint

    def take_replay(self) -> list[WalEntry]:
        """The entries not yet in the store, read at open (returned once)."""
        entries, self._pending = self._pending, []
        return entries

    @property
    def bytes(self) -> int:
        """Bytes of segment files on disk (what ``max_bytes`` caps)."""
        return sum(s.size for s in self._segments)

    @property
    def last_lsn(self) -> int:
        return self._next_lsn - 1

    # -- appending -----------------------------------------------------------------

    @property
    def synced_lsn(self) -> int:
        """Every record up to this LSN is on disk."""
        return self._synced if self._fsync else self._written

    def append(
        self,
        spans: list[SpanRecord],
        received_ns: int | None = None,
        *,
        on_written: Callable[[WalEntry], None] | None = None,
    ) -> WalEntry:
        """Write ``spans`` as one record and return once it is durable.

        ``on_written`` runs under the log's lock right after the write (before the
        fsync), so consumers see entries in LSN order; they must not use an entry
        beyond :attr:`synced_lsn` for anything that outlives a crash.
        """
        received = time.time_ns() if received_ns is None else received_ns
        payload = encode_spans(spans)
        if len(payload) > MAX_RECORD_BYTES:
            raise WalError(f"a batch of {len(payload)} bytes is larger than a WAL record may be")
        with self._lock:
            if self._closed:
                raise Backpressure("the collector is shutting down", retry_after=1.0)
            size = _HEADER.size + len(payload)
            if self._shared and self.bytes + size > self.max_bytes:
                self._forget_deleted()  # the follower may have deleted written segments
            if self.bytes + size > self.max_bytes:
                self.stats.backpressure += 1
                raise Backpressure(
                    f"the write-ahead log is full ({self.bytes} of {self.max_bytes} bytes): "
                    "the store is behind; retry later",
                    retry_after=2.0,
                )
            current = self._segments[-1]
            if current.size + size > self.segment_bytes and current.last_lsn:
                self._rotate()
                current = self._segments[-1]
            lsn = self._next_lsn
            crc = zlib.crc32(payload, zlib.crc32(_CRC_PART.pack(lsn, received)))
            os.write(self._fd, _HEADER.pack(len(payload), crc, lsn, received) + payload)
            self._next_lsn += 1
            self._written = lsn
            current.last_lsn = lsn
            current.size += size
            self.stats.appends += 1
            entry = WalEntry(lsn, received, spans, size)
            if on_written is not None:
                on_written(entry)
        self._sync_to(lsn)
        return entry

    def _forget_deleted(self) -> None:
        self._segments = [s for s in self._segments[:-1] if s.path.exists()] + self._segments[-1:]

    def _rotate(self) -> None:
        """Close the active segment (synced) and start the next; caller holds the lock."""
        if self._fsync:
            os.fsync(self._fd)
        with self._sync_cond:
            self._synced = max(self._synced, self._written)
            self._sync_cond.notify_all()
        os.close(self._fd)
        self._open_segment()

    def _sync_to(self, lsn: int) -> None:
        """Return once record ``lsn`` is synced; one waiter syncs for all (group commit)."""
        if not self._fsync:
            return
        while True:
            with self._sync_cond:
                while self._syncing and self._synced < lsn:
                    self._sync_cond.wait()
                if self._synced >= lsn:
                    return
                self._syncing = True
            target = lsn
            try:
                with self._lock:
                    target = self._written
                    fd = os.dup(self._fd) if self._fd >= 0 else -1
                if fd >= 0:  # closed: close() synced everything
                    started = time.perf_counter()
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    elapsed = time.perf_counter() - started
                    self.stats.fsyncs += 1
                    self.stats.fsync_seconds += elapsed
                    if self._observe_fsync is not None:
                        self._observe_fsync(elapsed)
            finally:
                with self._sync_cond:
                    self._syncing = False
                    self._synced = max(self._synced, target)
                    self._sync_cond.notify_all()

    # -- checkpointing -------------------------------------------------------------

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Record ``checkpoint`` durably, then delete segments wholly before it."""
        self._write_checkpoint(checkpoint)
        self._checkpoint = checkpoint
        with self._lock:
            active = self._segments[-1]
            caught_up = active.last_lsn and active.last_lsn < checkpoint.committed.lsn
            big = active.size > self.segment_bytes // 4 or self.bytes > self.max_bytes // 2
            if caught_up and big and not self._closed:
                self._rotate()  # so the wholly written active segment can go too
            keep = []
            for segment in self._segments:
                is_active = segment is self._segments[-1]
                if not is_active and segment.last_lsn < checkpoint.committed.lsn:
                    self._delete(segment)
                else:
                    keep.append(segment)
            self._segments = keep

    def _write_checkpoint(self, checkpoint: Checkpoint) -> None:
        path = self.directory / CHECKPOINT_FILE
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as handle:
            handle.write(checkpoint.to_json())
            handle.flush()
            if self._fsync:
                os.fsync(handle.fileno())
        temporary.replace(path)
        if self._fsync:
            _fsync_dir(self.directory)

    def _delete(self, segment: _Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        log.debug("WAL segment %s deleted (in the store)", segment.path.name)

    def close(self) -> None:
        """Sync and close the active segment, release the directory. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._fd >= 0:
                if self._fsync:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
        self._lock_handle.close()
