"""Exactly once per span: a batch leaves out the spans the store or another batch has.

A span (trace id, span id) can reach the writer more than once: an OTLP exporter sends
a request again after UNAVAILABLE, a timeout or a lost acknowledgement (a crash
between the WAL fsync and the reply), and the copy may land in the same process's WAL,
in another worker's WAL, or at another collector. The per-batch deduplication token
cannot see this (the copy is in a different batch), so right before a batch is
inserted the writer drops every span that

1. occurs earlier in the same batch (the first occurrence is kept);
2. is *claimed* by a batch another writer of this process is storing right now
   (:class:`SpanClaims`, one per store-owning process, shared by the writer of its own
   WAL and the writers draining each worker's WAL): neither has inserted it yet, so
   the store cannot tell them apart;
3. is already in the store (:func:`stored_keys`: a lookup in ``otel_traces`` by span id
   within the batch's start-time ranges, one query per 8,000 spans).

The window is therefore not a time: any copy that arrives after the first one was
stored is found, by the same collector before or after a restart, by another process
draining another WAL, or by another collector writing to the same ClickHouse server.
Retry horizons this covers, with room: the OTel Python exporter (6 attempts within its
10 s export timeout since 1.28; backoff up to 64 s before), the Go exporter (1 minute),
the OpenTelemetry Collector's exporter helper (5 minutes by default).

Memory: claims are held only while a batch is being stored (at most ``batch_rows``
keys per writer, ~150 bytes each), so nothing grows with time or traffic, and nothing
has to be rebuilt after a restart: the store is the memory, and the WAL's replay claims
its in-flight batch before any writer starts (see :class:`SpanClaims.force`).

What this cannot close: two *collectors* (server mode) that both look a span up before
either has inserted it store it twice; that takes two copies reaching two collectors
within one batch's lookup-to-insert time (milliseconds), or a collector killed with the
span in its in-flight batch while the client's copy is stored elsewhere. Within one
collector (any number of workers) no such window exists.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from operator import attrgetter

from agentaudit.collector.model import SpanRecord
from agentaudit.store import Store
from agentaudit.store.sql_guard import quote_string

__all__ = ["LOOKUP_CHUNK", "SpanClaims", "span_key", "stored_keys"]

LOOKUP_CHUNK = 8_000
"""Span ids per lookup query: ~17 bytes each keeps a query under ClickHouse's default
``max_query_size`` (256 KiB) on a server as in chdb."""
RANGE_GAP_NS = 1_000_000_000
"""Start times further apart than this get separate ranges in the lookup."""
MAX_RANGES = 16
_SAFE = re.compile(r"[0-9a-f,]*")


def span_key(span: SpanRecord) -> str:
    """The identity of a span: trace id and span id (lowercase hex), concatenated."""
    return span.trace_id + span.span_id


class SpanClaims:
    """The span keys of the batches being stored right now, by the writer storing each.

    Thread-safe; one per store-owning process. A writer claims its batch's keys before
    looking them up in the store and releases them once the batch is stored (or
    dead-lettered), so between two writers of one process a span can never be "not in
    the store yet" for both.
    """

    def __init__(self) -> None:
        self._owners: dict[str, object] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._owners)

    def claim(self, owner: object, keys: Sequence[str]) -> tuple[list[bool], set[str]]:
        """Claim ``keys`` for ``owner``; return which to keep, and the keys another holds.

        A key is kept when ``owner`` holds it (now or already) and it did not occur
        earlier in ``keys``; a key another owner holds is not kept (and not claimed).
        """
        owners = self._owners
        keep: list[bool] = []
        elsewhere: set[str] = set()
        unique = len(set(keys)) == len(keys)
        seen: set[str] = set()
        with self._lock:
            for key in keys:
                holder = owners.setdefault(key, owner)
                if holder is not owner:
                    elsewhere.add(key)
                    keep.append(False)
                elif unique:
                    keep.append(True)
                elif key in seen:
                    keep.append(False)
                else:
                    seen.add(key)
                    keep.append(True)
        return keep, elsewhere

    def force(self, owner: object, keys: Sequence[str]) -> int:
        """Claim ``keys`` for ``owner`` whoever holds them; return how many another held.

        For the batch a crash interrupted (``Checkpoint.inflight``): the replay must store
        exactly what it stored before, so it claims its keys when its writer is built,
        before any writer of the process starts (another's copies are then left out).
        """
        owners = self._owners
        taken = 0
        with self._lock:
            for key in keys:
                if owners.get(key, owner) is not owner:
                    taken += 1
                owners[key] = owner
        return taken

    def release(self, owner: object, keys: Sequence[str]) -> None:
        """Give up ``owner``'s claims on ``keys`` (its batch is stored)."""
        owners = self._owners
        with self._lock:
            for key in keys:
                if owners.get(key) is owner:
                    del owners[key]


def _ranges(times: list[int]) -> list[tuple[int, int]]:
    """Covering ranges of sorted ``times``: split at gaps over 1 s, at most 16 ranges."""
    cuts = [i for i in range(len(times) - 1) if times[i + 1] - times[i] > RANGE_GAP_NS]
    if len(cuts) >= MAX_RANGES:  # keep the widest gaps
        widest = sorted(cuts, key=lambda i: times[i + 1] - times[i], reverse=True)
        cuts = sorted(widest[: MAX_RANGES - 1])
    ranges = []
    start = 0
    for cut in cuts:
        ranges.append((times[start], times[cut]))
        start = cut + 1
    ranges.append((times[start], times[-1]))
    return ranges


def _lookup_sql(table: str, spans: Sequence[SpanRecord]) -> str:
    times = [span.start_ns for span in spans]
    when = " OR ".join(
        f"Timestamp BETWEEN fromUnixTimestamp64Nano({low}, 'UTC') "
        f"AND fromUnixTimestamp64Nano({high}, 'UTC')"
        for low, high in _ranges(times)
    )
    ids = ",".join(span.span_id for span in spans)
    literal = f"'{ids}'" if _SAFE.fullmatch(ids) else quote_string(ids)
    return (
        f"SELECT TraceId, SpanId FROM {table} WHERE ({when}) "  # noqa: S608 - table is ours
        f"AND SpanId IN (SELECT arrayJoin(splitByChar(',', {literal})))"
    )


def stored_keys(
    store: Store, spans: Sequence[SpanRecord], *, table: str = "agentaudit.otel_traces"
) -> set[str]:
    """The keys of ``spans`` that ``table`` (``otel_traces``: every span) already holds.

    Looks up span ids within the ranges of the spans' start times (a stored copy has
    the same ``Timestamp``), so the query reads only the parts and granules of those
    times; trace ids are compared here.
    """
    if not spans:
        return set()
    ordered = sorted(spans, key=attrgetter("start_ns"))
    wanted = {span_key(span) for span in spans}
    found: set[str] = set()
    for first in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[first : first + LOOKUP_CHUNK]
        for trace_id, span_id in store.query(_lookup_sql(table, chunk)).rows:
            key = f"{trace_id}{span_id}"
            if key in wanted:
                found.add(key)
    return found
