"""Following the store: new batches of tool calls, incrementally, never a scan of the table.

The writer appends one ``agentaudit.audit_chain`` link per stored batch of tool calls
(``chain_id``: one per collector's WAL, ``seq`` from 1). The follower keeps a position
``{chain_id: last seq read}`` and each :meth:`Follower.poll`

1. reads the links after the position (``audit_chain`` is small and ordered by
   ``(chain_id, seq)``; the condition names each known chain's next ``seq``), oldest
   first by ``written_at``;
2. reads those batches' rows from ``tool_calls`` by ``batch_id IN (...)`` (a bloom-filter
   skip index), each batch in ``ts`` order, as :class:`CallRow` objects (ClickHouse
   extracts the arguments' shape and realms; the arguments' text is not read);
3. advances the position past them.

One row per call (:mod:`agentaudit.schema.calls`): a tool server's row folded into its
caller's row (both sides of an MCP call are stored) is read, so a batch's row count
still tells when it is complete, but not handed to the detector, which sees each call
once. A server row whose client row is not stored yet when its batch is read is handed
over (the detector then sees that call twice, never not at all): the fold never skips a
row on the strength of what the row claims alone.

**Handed batches.** In the process whose writer stores the batches (``agentaudit up``,
``agentaudit collector``) the writer hands each stored batch to :meth:`Follower.offer`
with its link and the ``tool_calls`` rows exactly as inserted: the follower takes such a
batch when it is the next link of its chain, without a query (reading a batch back by
``batch_id`` reads whole granules and cost ~20-40 ms of CPU per poll, whatever its size:
most of the detector's cost to ingest). Anything else — a gap, a batch handed without
its rows, another collector's chain, a restart's backlog — is read from the store as
above, which the follower then polls at most every ``store_seconds`` while batches are
handed to it, leaving out the links written in the last ``in_flight_seconds`` (their
batches are on their way here) unless a handed batch waits for one of them. The
arguments' shape and realms of a handed row are computed in Python
(``activity.arguments_parts``), as ClickHouse computes them for a read row.

So with several collectors writing one ClickHouse server, one follower sees every
collector's batches (each has its own chain), and a restart that loads a saved position
(:class:`~agentaudit.detector.records.BaselineLog`) continues exactly where it stopped.

Care taken: a chain's links are taken in ``seq`` order only; a missing ``seq`` (a link
not yet visible on this replica) holds that chain back for up to ``gap_seconds`` before
it is skipped with a warning (``agentaudit verify`` names deleted links). A batch whose
rows are not all visible yet (fewer than the link's ``row_count``) is waited for the
same way. A batch id met twice (two collectors stored the same spans; the insert
deduplication kept one copy) is read once.

Sources: :class:`StoreSource` reads through a :class:`~agentaudit.store.Store` (the
collector's, or one ``agentaudit detect`` opened); :class:`ApiSource` through a running
process's ``POST /v1/query`` (``agentaudit detect --replay/--explain`` against a process
that holds an embedded store). Both run the same SQL, with literals, since investigator
SQL takes no parameters.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from agentaudit.detector.model import CALL_COLUMNS
from agentaudit.schema.calls import (
    AUTH_TOOL_SERVER_TOKEN,
    CALLER_AGENT_SQL,
    folded_server_rows,
    one_per_call,
)
from agentaudit.store.sql_guard import quote_string

__all__ = [
    "ApiSource",
    "CallRow",
    "Follower",
    "Handed",
    "Link",
    "Source",
    "StoreSource",
    "handed_rows",
]

log = logging.getLogger(__name__)

MAX_LINKS: Final = 256
MAX_ROWS: Final = 50_000
"""Rows read per poll at most (a long backlog is read in slices of about this size)."""
REMEMBERED_BATCHES: Final = 10_000
MAX_HANDED: Final = 64
"""Handed batches waiting at most (each holds its rows)."""

_REALMS_SQL: Final = (
    r"extractAllGroupsVertical(lower(arguments), '(@|://)([a-z0-9][a-z0-9.-]*\\.[a-z]{2,})')"
)
_EXPRESSIONS: Final = {
    "ts": "toUnixTimestamp64Nano(ts)",
    "received_at": "toUnixTimestamp64Nano(received_at)",
    # ClickHouse extracts what the rules need of the arguments (their shape and realms,
    # as activity.arguments_parts does in Python); the text itself is not read.
    "arguments": "arrayStringConcat(arraySort(arrayDistinct(JSONExtractKeys(arguments))), ',')",
    # A tool server's token proves the server, not the caller its record names.
    "authenticated_agent": CALLER_AGENT_SQL,
}
_COLUMNS: Final = ", ".join([*(_EXPRESSIONS.get(c, c) for c in CALL_COLUMNS), _REALMS_SQL])
""":data:`CALL_COLUMNS` (with the arguments' shape in place of their text), then the
arguments' realms as ``[[separator, name], ...]``."""
_BATCH_ID: Final = CALL_COLUMNS.index("batch_id")
_FOLDED: Final = len(CALL_COLUMNS) + 1
"""Where :func:`calls_sql` puts its last column (after :data:`_COLUMNS`)."""


class Handed(Protocol):
    """A batch the writer of this process stored (``collector.writer.StoredBatch``)."""

    @property
    def chain_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def batch_id(self) -> str: ...
    @property
    def calls(self) -> Any: ...  # pyarrow.Table of tool_calls rows, or None


@dataclass(frozen=True, slots=True)
class Link:
    """One ``audit_chain`` link: a stored batch of tool calls."""

    chain_id: str
    seq: int
    batch_id: str
    row_count: int
    written_ms: int


class CallRow:
    """A followed ``tool_calls`` row with :class:`Call`'s attributes and types.

    A plain slotted object: building it costs about a third of a frozen :class:`Call`
    (the detector reads tens of thousands of rows a second). ``arguments`` is empty: the
    row carries the arguments' shape and realms, extracted by ClickHouse.
    """

    __slots__ = (
        "agent_id",
        "approval_status",
        "approval_verified",
        "argument_realms",
        "argument_shape",
        "arguments",
        "arguments_hash",
        "authenticated_agent",
        "batch_id",
        "credential_id",
        "credential_scopes",
        "duration_ns",
        "received_ns",
        "resource_ids",
        "session_id",
        "source_kinds",
        "source_refs",
        "source_trust",
        "span_id",
        "status",
        "tool_name",
        "trace_id",
        "ts_ns",
        "untrusted_source",
        "user_id",
    )  # fmt: skip

    def __init__(self, v: Sequence[Any]) -> None:
        self.ts_ns: int = v[0]
        self.trace_id: str = v[1]
        self.span_id: str = v[2]
        self.agent_id: str = v[3]
        self.authenticated_agent: str = v[4]
        self.user_id: str = v[5]
        self.session_id: str = v[6]
        self.tool_name: str = v[7]
        self.arguments = ""
        self.argument_shape: str | None = v[8]
        self.arguments_hash: str = v[9]
        self.resource_ids: tuple[str, ...] = tuple(v[10])
        self.source_refs: tuple[str, ...] = tuple(v[11])
        self.source_kinds: tuple[str, ...] = tuple(v[12])
        self.source_trust: tuple[str, ...] = tuple(v[13])
        self.untrusted_source = bool(v[14])
        self.approval_status: str = v[15]
        self.approval_verified = bool(v[16])
        self.credential_id: str = v[17]
        self.credential_scopes: tuple[str, ...] = tuple(v[18])
        self.status: str = v[19]
        self.received_ns: int = v[20]
        self.batch_id: str = v[21]
        self.duration_ns: int = v[22]
        groups = v[23]
        self.argument_realms: tuple[str, ...] | None = (
            tuple(sorted({f"@{n}" if sep == "@" else f"host:{n}" for sep, n in groups}))
            if groups
            else ()
        )

    @property
    def principal(self) -> str:
        return self.authenticated_agent or self.agent_id


_NS_COLUMNS: Final = frozenset({"ts", "received_at"})
_MS: Final = 1_000_000


def handed_rows(table: Any) -> list[CallRow]:
    """The :class:`CallRow` of each ``tool_calls`` row of an Arrow table (of
    :data:`CALL_COLUMNS` and ``authentication``), in ``ts`` order (as :func:`calls_sql`
    reads them); the arguments' text is kept for Python to take their shape and realms
    from."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name in CALL_COLUMNS:
        column = table.column(name)
        if name == "authenticated_agent":  # as CALLER_AGENT_SQL reads it
            by_server = pc.equal(table.column("authentication"), AUTH_TOOL_SERVER_TOKEN)
            column = pc.if_else(by_server, "", column)
        if name in _NS_COLUMNS:
            column = column.cast(pa.int64())
        values = column.to_pylist()
        if name == "received_at":  # stored as DateTime64(3): what a read gives back
            values = [ns - ns % _MS for ns in values]
        columns.append(values)
    columns.append([None] * table.num_rows)  # the realms: from the arguments, in Python
    rows = []
    for values in zip(*columns, strict=True):
        row = CallRow(values)
        row.arguments = values[8]
        row.argument_shape = None
        row.argument_realms = None
        rows.append(row)
    rows.sort(key=lambda r: (r.ts_ns, r.span_id))
    return rows


def links_sql(
    position: Mapping[str, int],
    *,
    limit: int,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> str:
    """The links after ``position`` (every chain not in it from its start), written from
    ``since_ms`` and up to ``until_ms`` when given."""
    if position:
        known = sorted(position)
        after = [f"(chain_id = {quote_string(c)} AND seq > {int(position[c])})" for c in known]
        others = ", ".join(quote_string(c) for c in known)
        condition = " OR ".join([*after, f"chain_id NOT IN ({others})"])
    else:
        condition = "1"
    if since_ms is not None:
        condition = f"({condition}) AND written_at >= fromUnixTimestamp64Milli({int(since_ms)})"
    if until_ms is not None:
        condition = f"({condition}) AND written_at <= fromUnixTimestamp64Milli({int(until_ms)})"
    return (
        "SELECT chain_id, seq, batch_id, row_count, toUnixTimestamp64Milli(written_at) "  # noqa: S608 - quoted literals
        f"FROM agentaudit.audit_chain WHERE {condition} "
        f"ORDER BY written_at, chain_id, seq LIMIT {int(limit)}"
    )


def calls_sql(batch_ids: Sequence[str], *, since_ns: int | None = None) -> str:
    """The rows of these batches, in ``ts`` order; the last column says whether the row
    is a server row folded into its stored client row (read, not handed over)."""
    ids = ", ".join(quote_string(b) for b in batch_ids)
    since = f" AND ts >= fromUnixTimestamp64Nano({int(since_ns)})" if since_ns is not None else ""
    folded = folded_server_rows(f"batch_id IN ({ids})")
    return (
        f"SELECT {_COLUMNS}, (call_side = 'server' AND (trace_id, span_id) IN ({folded})) "  # noqa: S608 - quoted literals
        f"FROM agentaudit.tool_calls WHERE batch_id IN ({ids}){since} ORDER BY ts, span_id"
    )


def agent_calls_sql(agent: str, *, after: tuple[int, str] | None, limit: int) -> str:
    """One principal's calls in ``(ts, span_id)`` order, after ``after`` (a page)."""
    who = quote_string(agent)
    condition = f"(authenticated_agent = {who} OR (authenticated_agent = '' AND agent_id = {who}))"
    if after is not None:
        condition += (
            f" AND (ts, span_id) > (fromUnixTimestamp64Nano({int(after[0])}), "
            f"{quote_string(after[1])})"
        )
    condition += f" AND {one_per_call(condition)}"
    return (
        f"SELECT {_COLUMNS} FROM agentaudit.tool_calls WHERE {condition} "  # noqa: S608
        f"ORDER BY ts, span_id LIMIT {int(limit)}"
    )


class Source(Protocol):
    """Runs the follower's read-only SQL; rows as sequences of plain values."""

    def rows(self, sql: str) -> list[Sequence[Any]]: ...


class StoreSource:
    """Reads through a :class:`~agentaudit.store.Store` (its trusted-query handle)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def rows(self, sql: str) -> list[Sequence[Any]]:
        return list(self.store.query(sql).rows)


class ApiSource:
    """Reads through a running process's admin API (``POST /v1/query``, responder)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def rows(self, sql: str) -> list[Sequence[Any]]:
        return list(self.client.query(sql).rows)


class Follower:
    """The position over the audit chain, and the reads that advance it (docstring).

    ``contiguous``: take each chain's links strictly in ``seq`` order from 1 (the live
    follower); False for a replay that starts mid-chain (``since_ms``/``since_ns``).
    """

    def __init__(
        self,
        source: Source,
        position: Mapping[str, int] | None = None,
        *,
        max_links: int = MAX_LINKS,
        max_rows: int = MAX_ROWS,
        since_ms: int | None = None,
        since_ns: int | None = None,
        contiguous: bool = True,
        gap_seconds: float = 30.0,
        store_seconds: float = 2.0,
        in_flight_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.position: dict[str, int] = dict(position or {})
        self._max_links = max_links
        self._max_rows = max_rows
        self._since_ms = since_ms
        self._since_ns = since_ns
        self._contiguous = contiguous
        self._gap_seconds = gap_seconds
        self._clock = clock
        self._waiting: dict[tuple[str, int], float] = {}  # (chain, seq) -> first noticed
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._handed: deque[Handed] = deque(maxlen=MAX_HANDED)
        self._store_seconds = store_seconds
        self._in_flight_ms = int(in_flight_seconds * 1000)
        self._wall = wall
        self._store_polled = float("-inf")
        self._handed_at = float("-inf")
        self.batches_read = 0
        self.batches_handed = 0
        self.rows_read = 0

    def _waited(self, key: tuple[str, int], what: str) -> bool:
        """True once ``key`` has been waited for ``gap_seconds`` (then logged)."""
        now = self._clock()
        first = self._waiting.setdefault(key, now)
        if now - first < self._gap_seconds:
            return False
        del self._waiting[key]
        log.warning(
            "detector: %s (chain %s, link %d); going on without it", what, key[0][:12], key[1]
        )
        return True

    def _next_links(self, until_ms: int | None) -> list[Link]:
        found = self.source.rows(
            links_sql(
                self.position, limit=self._max_links, since_ms=self._since_ms, until_ms=until_ms
            )
        )
        links = [Link(str(r[0]), int(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in found]
        taken: list[Link] = []
        expected = dict(self.position)
        held: set[str] = set()
        rows = 0
        for link in links:
            chain = link.chain_id
            if chain in held:
                continue
            last = expected.get(chain)
            if last is not None and link.seq <= last:
                continue  # a duplicate link
            if self._contiguous and link.seq != (last or 0) + 1:
                missing = (last or 0) + 1
                if not self._waited(
                    (chain, missing), f"links {missing}..{link.seq - 1} are missing"
                ):
                    held.add(chain)
                    continue
            expected[chain] = link.seq
            taken.append(link)
            rows += link.row_count
            if rows >= self._max_rows:
                break
        return taken

    def offer(self, batch: Handed) -> None:
        """A batch the writer of this process just stored (any thread; never blocks). At
        most :data:`MAX_HANDED` wait: older ones are then read from the store."""
        self._handed.append(batch)

    def _take_handed(self) -> list[tuple[Link, list[CallRow]]]:
        """The handed batches that are the next links of their chains, in order."""
        done: list[tuple[Link, list[CallRow]]] = []
        while self._handed:
            batch = self._handed[0]
            last = self.position.get(batch.chain_id)
            if last is not None and batch.seq <= last:
                self._handed.popleft()  # read already (from the store)
                continue
            if batch.seq != (last or 0) + 1 or batch.calls is None:
                break  # a gap, or rows to read from the store: the store path reads it
            self._handed.popleft()
            calls = [] if batch.batch_id in self._seen else handed_rows(batch.calls)
            self._remember(batch.batch_id)
            link = Link(batch.chain_id, batch.seq, batch.batch_id, len(calls), 0)
            self.position[batch.chain_id] = batch.seq
            self.batches_read += 1
            self.batches_handed += 1
            self.rows_read += len(calls)
            done.append((link, calls))
        return done

    def poll(self) -> list[tuple[Link, list[CallRow]]]:
        """The next new batches and their calls, in order; advances the position."""
        handed = self._take_handed()
        now = self._clock()
        if handed:
            self._handed_at = now
        # While the writer hands batches over, the store is read every store_seconds
        # (for other chains, and whatever was not handed); otherwise at every poll.
        handing = now - self._handed_at < self._store_seconds
        waiting = bool(self._handed)  # a handed batch waits for one the store holds
        if handing and not waiting and now - self._store_polled < self._store_seconds:
            return handed
        self._store_polled = now
        # Links the writer stored moments ago are on their way here: reading them back
        # would cost the store-owning process a query for rows it is about to hand over.
        until_ms = None
        if handing and not waiting:
            until_ms = int(self._wall() * 1000) - self._in_flight_ms
        return handed + self._poll_store(until_ms)

    def _poll_store(self, until_ms: int | None = None) -> list[tuple[Link, list[CallRow]]]:
        links = self._next_links(until_ms)
        if not links:
            return []
        fresh = [link.batch_id for link in links if link.batch_id not in self._seen]
        by_batch: dict[str, list[CallRow]] = {}
        folded: dict[str, int] = {}
        if fresh:
            for values in self.source.rows(calls_sql(sorted(set(fresh)), since_ns=self._since_ns)):
                batch_id = values[_BATCH_ID]
                if values[_FOLDED]:  # the server side of a call whose client row is stored
                    folded[batch_id] = folded.get(batch_id, 0) + 1
                    continue
                by_batch.setdefault(batch_id, []).append(CallRow(values))
        done: list[tuple[Link, list[CallRow]]] = []
        for link in links:
            if link.batch_id in self._seen:
                calls: list[CallRow] = []  # read already, through another chain
            else:
                calls = by_batch.get(link.batch_id, [])
                if (
                    self._since_ns is None
                    and len(calls) + folded.get(link.batch_id, 0) < link.row_count
                    and not self._waited(
                        (link.chain_id, link.seq), "a batch's rows are not all visible"
                    )
                ):
                    break  # this chain waits; the links after it are read again next time
                self._remember(link.batch_id)
            self.position[link.chain_id] = link.seq
            self.batches_read += 1
            self.rows_read += len(calls)
            done.append((link, calls))
        return done

    def _remember(self, batch_id: str) -> None:
        self._seen[batch_id] = None
        if len(self._seen) > REMEMBERED_BATCHES:
            self._seen.popitem(last=False)
