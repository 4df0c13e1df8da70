"""Units: what the evidence records speak about, read from a table as it is stored now.

* ``tool_calls``: a writer batch (``batch_id``), the unit of the audit chain;
* a plain MergeTree table: an insert, i.e. the rows sharing one ``_written_at``
  (microseconds, as text where a unit is named);
* a ReplacingMergeTree table: one row, named by its hash.

Seals, hold snapshots, erasure records and ``verify`` all compute units the same way,
through :func:`unit_entries` (and :func:`batch_digests` for ``tool_calls``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agentaudit.store import Store
from agentaudit.store.audit_chain import batch_digests_sql
from agentaudit.store.evidence._tables import (
    BATCHES,
    ROWS,
    WRITTEN_AT,
    AuditTable,
    digest_sql,
    ident,
    row_hash_sql,
)

__all__ = ["Entry", "batch_digests", "unit_entries", "unit_name", "written_between"]


@dataclass(frozen=True)
class Entry:
    """One unit: an insert group (``rows``), one row (``versions``) or a batch."""

    table: str
    written_us: int
    row_count: int
    row_hash: str
    key: str = ""
    """A ReplacingMergeTree row's sorting key, as SHA-256 of its JSON (pairs versions)."""
    version: str = ""
    batch_id: str = ""
    label: str = field(default="", compare=False)
    """The readable key of a row (for messages only; never stored)."""


def unit_name(table: AuditTable, entry: Entry) -> str:
    """How erasure records and hold snapshots name ``entry``'s unit."""
    if table.kind == BATCHES:
        return entry.batch_id
    if table.kind == ROWS:
        return str(entry.written_us)
    return entry.row_hash


def written_between(since_us: int, until_us: int) -> str:
    """SQL: the rows written in ``(since_us, until_us]``."""
    column = ident(WRITTEN_AT)
    return (
        f"{column} > fromUnixTimestamp64Micro(toInt64({since_us}), 'UTC') AND "
        f"{column} <= fromUnixTimestamp64Micro(toInt64({until_us}), 'UTC')"
    )


def batch_digests(
    store: Store, columns: Sequence[str], where: str = "1"
) -> dict[str, tuple[int, str]]:
    """``batch_id -> (rows, digest over columns)`` of the tool_calls rows matching ``where``,
    computed as the audit chain computes a batch's ``rows_hash``."""
    sql = batch_digests_sql(tuple(columns), f"WHERE {where}")
    return {str(b): (int(n), str(h)) for b, n, h in store.query(sql).rows}


def unit_entries(
    store: Store, table: AuditTable, columns: Sequence[str], where: str = "1"
) -> list[Entry]:
    """The units of ``table`` (of its rows matching ``where``) as they are stored now,
    hashed over ``columns``."""
    if table.kind == BATCHES:
        return [
            Entry(table.name, 0, count, digest, batch_id=batch)
            for batch, (count, digest) in sorted(batch_digests(store, columns, where).items())
        ]
    name = f"agentaudit.{ident(table.name)}"
    written = f"toUnixTimestamp64Micro({ident(WRITTEN_AT)})"
    if table.kind == ROWS:
        sql = (
            f"SELECT {written} AS w, count(), {digest_sql(row_hash_sql(columns))} "  # noqa: S608
            f"FROM {name} WHERE {where} GROUP BY w ORDER BY w"
        )
        return [Entry(table.name, int(w), int(n), str(h)) for w, n, h in store.query(sql).rows]
    version = f"toString({ident(table.version)})" if table.version else "''"
    key = f"toJSONString(tuple({table.key}))"
    sql = (
        f"SELECT {written} AS w, {row_hash_sql(columns)} AS h, "  # noqa: S608
        f"lower(hex(SHA256({key}))), {version}, {key} FROM {name} WHERE {where} ORDER BY w, h"
    )
    return [
        Entry(table.name, int(w), 1, str(h), str(k), str(v), label=str(label))
        for w, h, k, v, label in store.query(sql).rows
    ]
