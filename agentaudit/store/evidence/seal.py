"""The sealer: a hash chain over what every audit table other than ``tool_calls`` holds.

Tables written row by row by many components (revocations, quarantine, the deny-list,
agents, approvals, findings, baselines, card sign-offs, ``otel_traces``, and the evidence
tables themselves) are not chained by their writers. The collector's sealer chains them
instead, every few seconds and at shutdown: :meth:`Sealer.seal` takes the rows written
since the previous seal (by ``_written_at``, which ClickHouse sets at insert), up to a
cutoff a few seconds in the past (an insert still being committed is taken next time),
and appends, per table with new rows, one ``audit_seals`` link and its entries:

* a plain MergeTree table: one entry per insert — the rows sharing one ``_written_at``:
  their count and digest (SHA-256 over their sorted row hashes);
* a ReplacingMergeTree table: one entry per row — its hash, sorting key and version, so
  ``verify`` can tell a merge (an older version of a key dropped while a newer one is
  there) from a deletion.

A link covers ``(since_us, until_us]`` of its table: ``since_us`` is the previous link's
``until_us`` of the same table in the same chain, so a chain covers each table without
gaps from its first seal on. ``rows_hash`` is SHA-256 over the link's sorted entry lines,
``chain_hash`` over the link's fields and the previous link's hash (any table), and
``signature`` an optional HMAC-SHA256 of it with the chain key (``chain_key_file``).
The entries are inserted before their link (both with deduplication tokens); entries
whose link was never written (a crash between the two) carry a ``uid`` no link names and
are ignored. One chain per collector state directory (``<state dir>/seal.id``): several
collectors of one ClickHouse server each seal everything, redundantly and consistently.

Rows are protected from their seal on: the seal interval (:data:`SEAL_SECONDS`) bounds the
window in which a row can be changed before it is chained.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from agentaudit.store import Store
from agentaudit.store.evidence._tables import ROWS, VERSIONS, AuditTable, audit_tables
from agentaudit.store.evidence._units import Entry, unit_entries, written_between
from agentaudit.store.evidence.holds import record_hold_units

__all__ = [
    "SEAL_FORMAT",
    "SEAL_GRACE_SECONDS",
    "SEAL_SECONDS",
    "Entry",
    "SealLink",
    "Sealer",
    "entry_line",
    "load_entries",
    "load_seal_links",
    "seal_chain_id",
    "seal_hash",
]

log = logging.getLogger(__name__)

SEAL_FORMAT = "s1"
SEAL_SECONDS = 10.0
"""How often the collector seals."""
SEAL_GRACE_SECONDS = 5.0
"""A periodic seal stops this far before the store's clock: inserts still being committed
carry a ``_written_at`` a little in the past."""
SEALS_TABLE = "agentaudit.audit_seals"
ENTRIES_TABLE = "agentaudit.audit_seal_entries"
CHAIN_ID_FILE = "seal.id"

_LINK_SCHEMA = pa.schema(
    [
        ("chain_id", pa.string()),
        ("seq", pa.uint64()),
        ("uid", pa.string()),
        ("table", pa.string()),
        ("kind", pa.string()),
        ("since_us", pa.int64()),
        ("until_us", pa.int64()),
        ("row_count", pa.uint64()),
        ("entry_count", pa.uint64()),
        ("rows_hash", pa.string()),
        ("columns", pa.list_(pa.string())),
        ("prev_hash", pa.string()),
        ("chain_hash", pa.string()),
        ("signature", pa.string()),
        ("format", pa.string()),
        ("sealed_at", pa.timestamp("ms", tz="UTC")),
    ]
)
_ENTRY_SCHEMA = pa.schema(
    [
        ("chain_id", pa.string()),
        ("seq", pa.uint64()),
        ("uid", pa.string()),
        ("table", pa.string()),
        ("written_us", pa.int64()),
        ("row_count", pa.uint64()),
        ("row_hash", pa.string()),
        ("key", pa.string()),
        ("row_version", pa.string()),
    ]
)


def entry_line(entry: Entry) -> str:
    return (
        f"{entry.table}\t{entry.written_us}\t{entry.row_count}\t{entry.row_hash}\t"
        f"{entry.key}\t{entry.version}"
    )


def entries_hash(entries: Iterable[Entry]) -> str:
    """SHA-256 over the sorted entry lines: what a link commits to."""
    return hashlib.sha256("\n".join(sorted(entry_line(e) for e in entries)).encode()).hexdigest()


@dataclass(frozen=True)
class SealLink:
    """One ``audit_seals`` row."""

    chain_id: str
    seq: int
    uid: str
    table: str
    kind: str
    since_us: int
    until_us: int
    row_count: int
    entry_count: int
    rows_hash: str
    columns: tuple[str, ...]
    prev_hash: str
    chain_hash: str
    signature: str = ""
    format: str = SEAL_FORMAT
    sealed_ms: int = field(default=0, compare=False)


def seal_hash(link: SealLink) -> str:
    """The hash that links a seal to the previous one of its chain."""
    text = "\n".join(
        [
            f"agentaudit-seal/{link.format}",
            link.chain_id,
            str(link.seq),
            link.uid,
            link.table,
            link.kind,
            str(link.since_us),
            str(link.until_us),
            str(link.row_count),
            str(link.entry_count),
            link.rows_hash,
            ",".join(link.columns),
            link.prev_hash,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def sign(key: bytes | None, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest() if key else ""


def seal_chain_id(state_dir: Path) -> str:
    """This state directory's seal chain id (``<state dir>/seal.id``, made on first use)."""
    path = state_dir / CHAIN_ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    chain_id = uuid.uuid4().hex
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(chain_id + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return chain_id


def load_seal_links(store: Store) -> dict[str, list[SealLink]]:
    """Every seal link, by chain, in ``seq`` order."""
    chains: dict[str, list[SealLink]] = {}
    for r in store.query(
        "SELECT chain_id, seq, uid, table, kind, since_us, until_us, row_count, entry_count, "
        "rows_hash, columns, prev_hash, chain_hash, signature, format, "
        "toUnixTimestamp64Milli(sealed_at) FROM agentaudit.audit_seals ORDER BY chain_id, seq"
    ).rows:
        link = SealLink(
            str(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]), int(r[6]),
            int(r[7]), int(r[8]), str(r[9]), tuple(str(c) for c in r[10]), str(r[11]),
            str(r[12]), str(r[13]), str(r[14]), int(r[15]),
        )  # fmt: skip
        chains.setdefault(link.chain_id, []).append(link)
    return chains


def load_entries(store: Store) -> dict[tuple[str, int, str], list[Entry]]:
    """Every seal entry, by (chain, seq, uid)."""
    found: dict[tuple[str, int, str], list[Entry]] = {}
    for r in store.query(
        "SELECT chain_id, seq, uid, table, written_us, row_count, row_hash, key, row_version "
        "FROM agentaudit.audit_seal_entries"
    ).rows:
        found.setdefault((str(r[0]), int(r[1]), str(r[2])), []).append(
            Entry(str(r[3]), int(r[4]), int(r[5]), str(r[6]), str(r[7]), str(r[8]))
        )
    return found


class Sealer:
    """Seals the audit tables of ``store`` into chain ``chain_id``. Thread-safe."""

    def __init__(
        self,
        store: Store,
        chain_id: str,
        *,
        key: bytes | None = None,
        grace_seconds: float = SEAL_GRACE_SECONDS,
    ) -> None:
        self._store = store
        self.chain_id = chain_id
        self._key = key
        self._grace = grace_seconds
        self._lock = threading.Lock()

    def seal(self, *, grace_seconds: float | None = None) -> list[SealLink]:
        """Chain every row written since the previous seal, up to the store's clock minus
        the grace (``grace_seconds=0`` when nothing else writes: at shutdown of the
        process that owns an embedded store). Returns the links appended."""
        grace = self._grace if grace_seconds is None else grace_seconds
        with self._lock:
            store = self._store
            # The holds' snapshots first, so the rows they write are sealed in this round.
            record_hold_units(store, self._until(grace))
            until = self._until(grace)
            seq, prev = self._head()
            sinces = {
                str(t): int(u)
                for t, u in store.query(
                    "SELECT table, max(until_us) FROM agentaudit.audit_seals "
                    "WHERE chain_id = {c:String} GROUP BY table",
                    {"c": self.chain_id},
                ).rows
            }
            appended: list[SealLink] = []
            for table in audit_tables(store).values():
                if table.kind not in (ROWS, VERSIONS) or not table.written_at:
                    continue
                since = sinces.get(table.name, 0)
                if until <= since:
                    continue
                entries = unit_entries(store, table, table.columns, written_between(since, until))
                if not entries:
                    continue
                link = self._append(
                    table, entries=entries, since=since, until=until, seq=seq + 1, prev=prev
                )
                appended.append(link)
                seq, prev = link.seq, link.chain_hash
        if appended:
            log.debug("sealed %d table(s) up to %d", len(appended), until)
        return appended

    def _until(self, grace: float) -> int:
        """The store's clock minus ``grace``, in microseconds."""
        now_us = int(self._store.query("SELECT toUnixTimestamp64Micro(now64(6))").rows[0][0])
        return now_us - int(grace * 1_000_000)

    def _head(self) -> tuple[int, str]:
        rows = self._store.query(
            "SELECT seq, chain_hash FROM agentaudit.audit_seals WHERE chain_id = {c:String} "
            "ORDER BY seq DESC LIMIT 1",
            {"c": self.chain_id},
        ).rows
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")

    def _append(
        self,
        table: AuditTable,
        *,
        entries: list[Entry],
        since: int,
        until: int,
        seq: int,
        prev: str,
    ) -> SealLink:
        uid = uuid.uuid4().hex
        columns = [
            pa.array(values, type=field_.type)
            for values, field_ in zip(
                (
                    [self.chain_id] * len(entries),
                    [seq] * len(entries),
                    [uid] * len(entries),
                    [e.table for e in entries],
                    [e.written_us for e in entries],
                    [e.row_count for e in entries],
                    [e.row_hash for e in entries],
                    [e.key for e in entries],
                    [e.version for e in entries],
                ),
                _ENTRY_SCHEMA,
                strict=True,
            )
        ]
        self._store.insert_arrow(
            ENTRIES_TABLE,
            pa.Table.from_arrays(columns, schema=_ENTRY_SCHEMA),
            dedup_token=f"seal-entries:{self.chain_id}:{seq}:{uid}",
        )
        unsigned = SealLink(
            chain_id=self.chain_id,
            seq=seq,
            uid=uid,
            table=table.name,
            kind=table.kind,
            since_us=since,
            until_us=until,
            row_count=sum(e.row_count for e in entries),
            entry_count=len(entries),
            rows_hash=entries_hash(entries),
            columns=table.columns,
            prev_hash=prev,
            chain_hash="",
        )
        digest = seal_hash(unsigned)
        link = SealLink(
            **{**unsigned.__dict__, "chain_hash": digest, "signature": sign(self._key, digest)}
        )
        row = {name: getattr(link, name) for name in _LINK_SCHEMA.names if name != "sealed_at"}
        row["columns"] = list(link.columns)
        row["sealed_at"] = time.time_ns() // 1_000_000
        self._store.insert_arrow(
            SEALS_TABLE,
            pa.Table.from_pylist([row], schema=_LINK_SCHEMA),
            dedup_token=f"seal-link:{self.chain_id}:{seq}:{uid}",
        )
        return link
