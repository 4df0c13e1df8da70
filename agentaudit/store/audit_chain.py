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
  chain per WAL directory (``chain_id``), numbered by ``seq`` from 1.
* ``signature`` — optional HMAC-SHA256 of ``chain_hash`` with a key kept outside the
  store, so rewriting the whole chain needs the key too.

:func:`verify_chain` names every batch whose rows were modified, deleted or inserted
after the fact, and every link that was removed, altered or re-signed. What it cannot
see without an outside anchor: the newest links deleted together with their rows
(compare a chain head recorded elsewhere, such as the WAL checkpoint).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from agentaudit.store import Store

__all__ = [
    "CANONICAL_COLUMNS",
    "CANONICAL_COLUMNS_V1",
    "CANONICAL_COLUMNS_V2",
    "FORMAT",
    "AuditChain",
    "Link",
    "Problem",
    "chain_hash",
    "verify_chain",
]

FORMAT_V1 = "v1"
FORMAT_V2 = "v2"
FORMAT = FORMAT_V2
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


def _digests_sql(columns: tuple[str, ...], where: str) -> str:
    """``batch_id, row count, rows_hash`` per batch, over ``columns`` of each row."""
    row_hash = f"hex(SHA256(toJSONString(tuple({', '.join(columns)}))))"
    digest = f"count(), lower(hex(SHA256(arrayStringConcat(arraySort(groupArray({row_hash}))))))"
    return f"SELECT batch_id, {digest} FROM agentaudit.tool_calls {where} GROUP BY batch_id"  # noqa: S608 - fixed column names


_BATCH_WHERE = "WHERE batch_id IN {ids:Array(String)}"
_LINKS_SQL = (
    "SELECT chain_id, seq, batch_id, row_count, rows_hash, prev_hash, chain_hash, signature, "
    "format FROM agentaudit.audit_chain ORDER BY chain_id, seq"
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
) -> str:
    """The hash that links one batch to the previous one; it names its format."""
    text = f"agentaudit-chain/{format}\n{chain_id}\n{seq}\n{batch_id}\n{row_count}\n"
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


class AuditChain:
    """Appends links for stored batches; ``key`` (optional) signs each link."""

    def __init__(self, store: Store, *, key: bytes | None = None) -> None:
        self._store = store
        self._key = key

    def append(self, *, chain_id: str, seq: int, prev_hash: str, batch_id: str) -> Link:
        """Hash the stored rows of ``batch_id`` and insert link ``seq`` after ``prev_hash``.

        Deterministic for the same stored rows, so a replay inserts the same link, which
        the deduplication token then stores once.
        """
        sql = _digests_sql(CANONICAL_COLUMNS[FORMAT], _BATCH_WHERE)
        rows = self._store.query(sql, {"ids": [batch_id]}).rows
        count, rows_hash = (int(rows[0][1]), str(rows[0][2])) if rows else (0, EMPTY_DIGEST)
        digest = chain_hash(
            chain_id=chain_id,
            seq=seq,
            batch_id=batch_id,
            row_count=count,
            rows_hash=rows_hash,
            prev_hash=prev_hash,
            format=FORMAT,
        )
        link = Link(chain_id, seq, batch_id, count, rows_hash, prev_hash, digest, format=FORMAT)
        link = Link(**{**link.__dict__, "signature": _sign(self._key, digest)})
        table = pa.Table.from_pylist(
            [{**link.__dict__, "written_at": time.time_ns() // 1_000_000}], schema=_LINK_SCHEMA
        )
        self._store.insert_arrow(CHAIN_TABLE, table, dedup_token=f"chain:{chain_id}:{seq}")
        return link


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`verify_chain`; ``message`` names the batch."""

    kind: str  # modified | deleted | inserted | chain_broken | bad_signature
    message: str
    batch_id: str = ""
    chain_id: str = ""
    seq: int = 0

    def __str__(self) -> str:
        return self.message


def _links(store: Store) -> dict[str, list[Link]]:
    rows = store.query(_LINKS_SQL).rows
    chains: dict[str, list[Link]] = defaultdict(list)
    for r in rows:
        chains[str(r[0])].append(
            Link(str(r[0]), int(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5]), str(r[6]),
                 str(r[7]), str(r[8]))
        )  # fmt: skip
    return chains


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
        recomputed = chain_hash(
            chain_id=link.chain_id,
            seq=link.seq,
            batch_id=link.batch_id,
            row_count=link.row_count,
            rows_hash=link.rows_hash,
            prev_hash=link.prev_hash,
            format=link.format,
        )
        if link.format not in CANONICAL_COLUMNS or recomputed != link.chain_hash:
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


def verify_chain(store: Store, *, key: bytes | None = None) -> list[Problem]:
    """Walk every chain and compare each link with the stored rows of its batch.

    Returns the problems found (empty when the store matches its chains). ``key``
    also checks each link's HMAC signature.
    """
    chains = _links(store)
    formats = {link.format for links in chains.values() for link in links} & set(CANONICAL_COLUMNS)
    by_format = {
        fmt: {
            str(batch): (int(count), str(digest))
            for batch, count, digest in store.query(_digests_sql(CANONICAL_COLUMNS[fmt], "")).rows
        }
        for fmt in formats | {FORMAT}
    }
    digests = by_format[FORMAT]
    problems: list[Problem] = []
    chained: set[str] = set()
    for links in chains.values():
        problems += _check_links(links, key)
        for link in links:
            chained.add(link.batch_id)
            own = by_format.get(link.format, digests)
            count, digest = own.get(link.batch_id, (0, EMPTY_DIGEST))
            where = f"batch {link.batch_id} (chain {link.chain_id[:12]} link {link.seq})"
            if count == 0 and link.row_count > 0:
                kind, text = "deleted", f"all {link.row_count} rows were deleted"
            elif count < link.row_count:
                kind, text = (
                    "deleted",
                    f"{link.row_count - count} of {link.row_count} rows were deleted",
                )
            elif count > link.row_count:
                kind, text = (
                    "inserted",
                    f"{count - link.row_count} rows were inserted after it was written",
                )
            elif digest != link.rows_hash:
                kind, text = "modified", "rows were modified after it was written"
            else:
                continue
            problems.append(
                Problem(kind, f"{where}: {text}", link.batch_id, link.chain_id, link.seq)
            )
    for batch, (count, _) in sorted(digests.items()):
        if batch not in chained:
            problems.append(
                Problem("inserted",
                        f"batch {batch or '(empty batch id)'}: {count} rows are in tool_calls but "
                        "in no audit chain (inserted after the fact, or a write still in flight)",
                        batch)
            )  # fmt: skip
    return problems
