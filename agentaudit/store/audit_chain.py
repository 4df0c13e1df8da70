"""Tamper evidence: a hash chain over the ``tool_calls`` batches the writer stores.

For every batch with tool calls the writer appends one ``audit_chain`` link (see
``schema/migrations/0005_audit_chain.sql``):

* ``rows_hash`` — SHA-256 over the sorted SHA-256 hashes of the batch's rows, each row
  hash taken over a fixed, versioned tuple of columns (:data:`CANONICAL_COLUMNS`: v1
  for links written before the attribution columns existed, v2 since)
  serialised by ClickHouse itself (``toJSONString``). The writer computes it from the
  rows as stored (a query after the insert) and :func:`verify_chain` recomputes it the
  same way, so both sides always agree on the canonical form.
* ``chain_hash`` — SHA-256 over the link's fields and the previous link's hash; one
  chain per WAL directory (``chain_id``), numbered by ``seq`` from 1. Since format v3 a
  link covers every physical column ``tool_calls`` had when it was written (named in the
  link's ``columns``, so a column added later is covered from then on) and its hash
  covers its ``written_at`` (the time retention counts from).
* ``signature`` — optional HMAC-SHA256 of ``chain_hash`` with a key kept outside the
  store, so rewriting the whole chain needs the key too.

:func:`verify_chain` names every batch whose rows were modified, deleted or inserted
after the fact, and every link that was removed, altered or re-signed. With an
``accounting`` (:mod:`agentaudit.store.evidence.verify`) a batch changed by a recorded
erasure, or emptied by retention, is reported as such instead. What it cannot see
without an outside anchor: the newest links deleted together with their rows (the signed
digests of :mod:`agentaudit.store.evidence.digests` anchor the chain head).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from agentaudit.store import Store

__all__ = [
    "CANONICAL_COLUMNS",
    "CANONICAL_COLUMNS_V1",
    "CANONICAL_COLUMNS_V2",
    "FORMAT",
    "AuditChain",
    "Explainer",
    "Link",
    "Problem",
    "batch_digests_sql",
    "chain_hash",
    "chain_heads",
    "tool_calls_columns",
    "verify_chain",
]

FORMAT_V1 = "v1"
FORMAT_V2 = "v2"
FORMAT_V3 = "v3"
FORMAT = FORMAT_V3
"""The format of the links written now."""
CHAIN_TABLE = "agentaudit.audit_chain"

# The columns of tool_calls covered by format v1, in order. Never change this tuple:
# a new column becomes covered by a new format version.
CANONICAL_COLUMNS_V1 = (
    "ts", "duration_ns", "trace_id", "span_id", "parent_span_id", "service_name",
    "agent_id", "agent_name", "user_id", "session_id", "conversation_id", "tool_name",
    "tool_call_id", "tool_type", "framework", "arguments", "arguments_hash", "result_hash",
    "prompt_hash", "source_refs", "source_kinds", "source_trust", "source_hashes",
    "untrusted_source", "resource_ids", "approval_status", "approver", "credential_id",
    "credential_scopes", "credential_expires_at", "decision", "status", "error_type",
    "attributes", "resource_attributes", "redactions", "received_at", "batch_id",
)  # fmt: skip

# v2 adds what the collector established about each call's sender and approval.
CANONICAL_COLUMNS_V2 = (
    *CANONICAL_COLUMNS_V1,
    "authenticated_agent", "authentication", "agent_mismatch", "approval_verified",
    "approval_grant_id",
)  # fmt: skip
CANONICAL_COLUMNS = {FORMAT_V1: CANONICAL_COLUMNS_V1, FORMAT_V2: CANONICAL_COLUMNS_V2}
"""The fixed column tuples of the first formats; a v3 link names its own columns."""
FORMATS = frozenset({FORMAT_V1, FORMAT_V2, FORMAT_V3})


def batch_digests_sql(columns: tuple[str, ...], where: str) -> str:
    """``batch_id, row count, rows_hash`` per batch, over ``columns`` of each row."""
    row_hash = f"hex(SHA256(toJSONString(tuple({', '.join(columns)}))))"
    digest = f"count(), lower(hex(SHA256(arrayStringConcat(arraySort(groupArray({row_hash}))))))"
    return f"SELECT batch_id, {digest} FROM agentaudit.tool_calls {where} GROUP BY batch_id"  # noqa: S608 - fixed column names


_BATCH_WHERE = "WHERE batch_id IN {ids:Array(String)}"
_LINKS_SQL = (
    "SELECT chain_id, seq, batch_id, row_count, rows_hash, prev_hash, chain_hash, signature, "
    "format, toUnixTimestamp64Milli(written_at), columns FROM agentaudit.audit_chain "
    "ORDER BY chain_id, seq"
)
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()

_LINK_SCHEMA = pa.schema(
    [
        ("chain_id", pa.string()),
        ("seq", pa.uint64()),
        ("batch_id", pa.string()),
        ("row_count", pa.uint64()),
        ("rows_hash", pa.string()),
        ("prev_hash", pa.string()),
        ("chain_hash", pa.string()),
        ("signature", pa.string()),
        ("format", pa.string()),
        ("written_at", pa.timestamp("ms", tz="UTC")),
        ("columns", pa.list_(pa.string())),
    ]
)


def chain_hash(
    *,
    chain_id: str,
    seq: int,
    batch_id: str,
    row_count: int,
    rows_hash: str,
    prev_hash: str,
    format: str,
    written_ms: int = 0,
    columns: tuple[str, ...] = (),
) -> str:
    """The hash that links one batch to the previous one; it names its format (and from
    v3 on covers the link's time and columns)."""
    text = f"agentaudit-chain/{format}\n{chain_id}\n{seq}\n{batch_id}\n{row_count}\n"
    if format not in CANONICAL_COLUMNS:
        text += f"{written_ms}\n{','.join(columns)}\n"
    return hashlib.sha256(f"{text}{rows_hash}\n{prev_hash}".encode()).hexdigest()


def _sign(key: bytes | None, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest() if key else ""


@dataclass(frozen=True)
class Link:
    """One ``audit_chain`` row."""

    chain_id: str
    seq: int
    batch_id: str
    row_count: int
    rows_hash: str
    prev_hash: str
    chain_hash: str
    signature: str = ""
    format: str = FORMAT_V1
    written_ms: int = 0
    columns: tuple[str, ...] = ()

    @property
    def covered(self) -> tuple[str, ...]:
        """The tool_calls columns this link's rows hash covers."""
        return CANONICAL_COLUMNS.get(self.format, self.columns)


def _link_hash(link: Link) -> str:
    return chain_hash(
        chain_id=link.chain_id,
        seq=link.seq,
        batch_id=link.batch_id,
        row_count=link.row_count,
        rows_hash=link.rows_hash,
        prev_hash=link.prev_hash,
        format=link.format,
        written_ms=link.written_ms,
        columns=link.columns,
    )


def tool_calls_columns(store: Store) -> tuple[str, ...]:
    """The physical columns of ``tool_calls`` (what a v3 link covers), in table order."""
    return tuple(
        str(r[0])
        for r in store.query(
            "SELECT name FROM system.columns WHERE database = 'agentaudit' "
            "AND table = 'tool_calls' AND default_kind NOT IN ('MATERIALIZED', 'ALIAS', "
            "'EPHEMERAL') ORDER BY position"
        ).rows
    )


class AuditChain:
    """Appends links for stored batches; ``key`` (optional) signs each link."""

    def __init__(self, store: Store, *, key: bytes | None = None) -> None:
        self._store = store
        self._key = key
        self._columns: tuple[str, ...] | None = None

    def _covered(self, fmt: str) -> tuple[str, ...]:
        if fmt in CANONICAL_COLUMNS:
            return CANONICAL_COLUMNS[fmt]
        if self._columns is None:  # the schema is migrated before a writer starts
            self._columns = tool_calls_columns(self._store)
        return self._columns

    def append(self, *, chain_id: str, seq: int, prev_hash: str, batch_id: str) -> Link:
        """Hash the stored rows of ``batch_id`` and insert link ``seq`` after ``prev_hash``.

        Not deterministic: the link's hash covers its ``written_at`` (the time of this
        call). A replayed or retried batch must therefore continue from the link the store
        kept for it (the deduplication token stores the first copy only); the writer looks
        that link up before appending (``Writer._stored_link``).
        """
        fmt = FORMAT
        covered = self._covered(fmt)
        sql = batch_digests_sql(covered, _BATCH_WHERE)
        rows = self._store.query(sql, {"ids": [batch_id]}).rows
        count, rows_hash = (int(rows[0][1]), str(rows[0][2])) if rows else (0, EMPTY_DIGEST)
        written_ms = time.time_ns() // 1_000_000
        columns = () if fmt in CANONICAL_COLUMNS else covered
        link = Link(chain_id, seq, batch_id, count, rows_hash, prev_hash, "", format=fmt,
                    written_ms=written_ms, columns=columns)  # fmt: skip
        digest = _link_hash(link)
        signature = _sign(self._key, digest)
        link = Link(**{**link.__dict__, "chain_hash": digest, "signature": signature})
        row = {name: getattr(link, name) for name in _LINK_SCHEMA.names[:-2]}
        row.update(written_at=written_ms, columns=list(columns))
        table = pa.Table.from_pylist([row], schema=_LINK_SCHEMA)
        self._store.insert_arrow(CHAIN_TABLE, table, dedup_token=f"chain:{chain_id}:{seq}")
        return link


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`verify_chain`; ``message`` names the table and the unit."""

    kind: str  # modified | deleted | inserted | unsealed | chain_broken | bad_signature | ...
    message: str
    batch_id: str = ""
    chain_id: str = ""
    seq: int = 0
    table: str = "tool_calls"

    def __str__(self) -> str:
        return self.message


class Explainer(Protocol):
    """Accounts for a unit that no longer matches its chain (a recorded erasure, expiry)."""

    def explain(
        self,
        table: str,
        unit: str,
        *,
        recorded: tuple[int, str],
        present: tuple[int, str],
        unit_us: int,
    ) -> str | Problem | None:
        """A note (the change is accounted for), a Problem to report instead of the
        default one, or None (report the default problem)."""
        ...


def _links(store: Store) -> dict[str, list[Link]]:
    rows = store.query(_LINKS_SQL).rows
    chains: dict[str, list[Link]] = defaultdict(list)
    for r in rows:
        chains[str(r[0])].append(
            Link(str(r[0]), int(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5]), str(r[6]),
                 str(r[7]), str(r[8]), int(r[9]), tuple(str(c) for c in r[10]))
        )  # fmt: skip
    return chains


def chain_heads(store: Store) -> dict[str, tuple[int, str]]:
    """``chain_id -> (seq, chain_hash)`` of each chain's newest link."""
    return {
        str(c): (int(s), str(h))
        for c, s, h in store.query(
            "SELECT chain_id, max(seq), argMax(chain_hash, seq) FROM agentaudit.audit_chain "
            "GROUP BY chain_id"
        ).rows
    }


def _check_links(links: Iterable[Link], key: bytes | None) -> list[Problem]:
    problems: list[Problem] = []
    previous: Link | None = None
    for link in links:
        where = f"chain {link.chain_id[:12]} link {link.seq} (batch {link.batch_id})"
        if previous is not None and link.seq == previous.seq:
            if link != previous:
                problems.append(
                    Problem("chain_broken", f"{where}: two different links with one number",
                            link.batch_id, link.chain_id, link.seq)
                )  # fmt: skip
            continue
        expected_seq = 1 if previous is None else previous.seq + 1
        if link.seq != expected_seq:
            problems.append(
                Problem("chain_broken",
                        f"chain {link.chain_id[:12]}: links {expected_seq}..{link.seq - 1} are "
                        f"missing (deleted from audit_chain before batch {link.batch_id})",
                        link.batch_id, link.chain_id, link.seq)
            )  # fmt: skip
        elif previous is not None and link.prev_hash != previous.chain_hash:
            problems.append(
                Problem("chain_broken", f"{where}: does not follow link {previous.seq}",
                        link.batch_id, link.chain_id, link.seq)
            )  # fmt: skip
        if link.format not in FORMATS or _link_hash(link) != link.chain_hash:
            problems.append(
                Problem("chain_broken", f"{where}: the link itself was altered",
                        link.batch_id, link.chain_id, link.seq)
            )  # fmt: skip
        elif key is not None and not hmac.compare_digest(
            _sign(key, link.chain_hash), link.signature
        ):
            problems.append(
                Problem("bad_signature", f"{where}: signature does not verify with the key",
                        link.batch_id, link.chain_id, link.seq)
            )  # fmt: skip
        previous = link
    return problems


def _default_problem(link: Link, count: int, digest: str) -> tuple[str, str] | None:
    if count == 0 and link.row_count > 0:
        return "deleted", f"all {link.row_count} rows were deleted"
    if count < link.row_count:
        return "deleted", f"{link.row_count - count} of {link.row_count} rows were deleted"
    if count > link.row_count:
        return "inserted", f"{count - link.row_count} rows were inserted after it was written"
    if digest != link.rows_hash:
        return "modified", "rows were modified after it was written"
    return None


def verify_chain(
    store: Store, *, key: bytes | None = None, accounting: Explainer | None = None
) -> list[Problem]:
    """Walk every chain and compare each link with the stored rows of its batch.

    Returns the problems found (empty when the store matches its chains). ``key``
    also checks each link's HMAC signature; ``accounting`` may explain a batch that
    changed (a recorded erasure, retention).
    """
    chains = _links(store)
    current = tool_calls_columns(store)
    column_sets = {link.covered for links in chains.values() for link in links} | {current}
    by_columns = {
        columns: {
            str(batch): (int(count), str(digest))
            for batch, count, digest in store.query(batch_digests_sql(columns, "")).rows
        }
        for columns in column_sets
        if columns
    }
    digests = by_columns.get(current, {})
    problems: list[Problem] = []
    chained: set[str] = set()
    for links in chains.values():
        problems += _check_links(links, key)
        for link in links:
            chained.add(link.batch_id)
            count, digest = by_columns.get(link.covered, digests).get(
                link.batch_id, (0, EMPTY_DIGEST)
            )
            default = _default_problem(link, count, digest)
            if default is None:
                continue
            where = f"tool_calls batch {link.batch_id} (chain {link.chain_id[:12]} link {link.seq})"
            if accounting is not None:
                explained = accounting.explain(
                    "tool_calls",
                    link.batch_id,
                    recorded=(link.row_count, link.rows_hash),
                    present=(count, digest),
                    unit_us=link.written_ms * 1000,
                )
                if isinstance(explained, Problem):
                    problems.append(explained)
                    continue
                if explained is not None:
                    continue
            kind, text = default
            problems.append(
                Problem(kind, f"{where}: {text}", link.batch_id, link.chain_id, link.seq)
            )
    for batch, (count, _) in sorted(digests.items()):
        if batch not in chained:
            problems.append(
                Problem("inserted",
                        f"tool_calls batch {batch or '(empty batch id)'}: {count} rows are in "
                        "tool_calls but in no audit chain (inserted after the fact, or a write "
                        "still in flight)", batch)
            )  # fmt: skip
    return problems
