"""Which tables are audit tables, how each one is chained, and the SQL of a row's hash.

Every ``MergeTree``-family table of the ``agentaudit`` database is an audit table, found
in ``system.tables`` (so a table another migration adds is covered without a code change,
once it declares ``_written_at``), except the chain's own tables and the migration ledger:

* ``tool_calls`` — ``batches``: chained per writer batch by
  :mod:`agentaudit.store.audit_chain` (the writer appends a link after each batch);
* a plain ``MergeTree`` — ``rows``: sealed per insert (the rows sharing one
  ``_written_at``: their count and digest); ``tool_call_server_sides`` (the tool
  servers' linked records of calls, :mod:`agentaudit.schema.calls`) is one;
* a ``ReplacingMergeTree`` — ``versions``: sealed per row (its hash, sorting key and
  version), because a merge legitimately drops superseded versions;
* any other engine — ``unsupported`` (named by ``verify``): on a ClickHouse cluster the
  ``agentaudit`` tables are Distributed ones over ``agentaudit_local``, which this version
  does not seal (the single-node server and the embedded store are covered).

A row's hash is SHA-256 over ClickHouse's own ``toJSONString`` of the tuple of its covered
columns: every physical column except MATERIALIZED/ALIAS/EPHEMERAL ones (so not
``_written_at``), in table order, recorded with each seal so a column added later does not
change the hash of rows sealed before it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from agentaudit.schema import attributes as A
from agentaudit.store import Store

__all__ = [
    "BATCHES",
    "CHAIN_TABLES",
    "EMPTY_DIGEST",
    "HOLD_COLUMNS",
    "ROWS",
    "UNSUPPORTED",
    "VERSIONS",
    "WRITTEN_AT",
    "AuditTable",
    "HoldColumns",
    "audit_tables",
    "combine",
    "digest_sql",
    "ident",
    "row_hash_sql",
]

DATABASE = "agentaudit"
WRITTEN_AT = "_written_at"
"""When the store received a row (MATERIALIZED ``now64(6)``): the sealer's clock."""
BATCH_TABLE = "tool_calls"
CHAIN_TABLES = frozenset({"audit_chain", "audit_seals", "audit_seal_entries", "schema_migrations"})
BATCHES, ROWS, VERSIONS, UNSUPPORTED = "batches", "rows", "versions", "unsupported"
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()
_HIDDEN_KINDS = frozenset({"MATERIALIZED", "ALIAS", "EPHEMERAL"})


@dataclass(frozen=True)
class HoldColumns:
    """SQL expressions a legal hold matches rows of one table by (DESIGN §4 columns).

    ``agents``: every column naming the row's agent — the claimed id and, where the
    table has it, the agent whose token sent the row (a hold on an agent keeps what it
    sent under another name too). ``time``: the event time, which is the sender's claim
    for spans; a time-range hold also matches the rows the store received in the range
    (``_written_at``), so backdating a span does not take it out of a hold.
    """

    session: str
    agents: tuple[str, ...]
    user: str
    time: str


_CALL_AGENTS = ("agent_id", "authenticated_agent")
HOLD_COLUMNS: dict[str, HoldColumns] = {
    "tool_calls": HoldColumns("session_id", _CALL_AGENTS, "user_id", "ts"),
    "tool_call_server_sides": HoldColumns("session_id", _CALL_AGENTS, "user_id", "ts"),
    "otel_traces": HoldColumns(
        f"SpanAttributes['{A.SESSION_ID}']",
        (f"SpanAttributes['{A.GEN_AI_AGENT_ID}']",),
        f"SpanAttributes['{A.ENDUSER_ID}']",
        "Timestamp",
    ),
    "findings": HoldColumns("session_id", ("agent_id",), "user_id", "ts"),
    "approvals": HoldColumns("session_id", ("agent_id",), "user_id", "issued_at"),
}
"""The tables retention may expire (and holds keep): the event tables. State tables
(quarantine, deny-list, agents, revocations) are never expired: deleting a deny-list
entry's row would lift a revocation."""


@dataclass(frozen=True)
class AuditTable:
    """One audit table as the store has it now."""

    name: str
    kind: str
    columns: tuple[str, ...]
    """The covered columns, in table order."""
    types: tuple[str, ...]
    """Their ClickHouse types."""
    key: str = ""
    """The sorting key expression (``versions``)."""
    version: str = ""
    """The version column of a ReplacingMergeTree ('' = the last insert wins)."""
    key_columns: frozenset[str] = frozenset()
    """Columns in the sorting, primary or partition key (an UPDATE cannot change them)."""
    written_at: bool = True
    """Whether it has ``_written_at`` (without it, it cannot be sealed)."""


def ident(name: str) -> str:
    """``name`` as a ClickHouse identifier (``Events.Name`` included)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def row_hash_sql(columns: Iterable[str]) -> str:
    """The lower-hex SHA-256 of a row's canonical form over ``columns``."""
    return f"lower(hex(SHA256(toJSONString(tuple({', '.join(ident(c) for c in columns)})))))"


def digest_sql(row_hash: str) -> str:
    """The aggregate digest of a group of rows: SHA-256 over their sorted row hashes."""
    return f"lower(hex(SHA256(arrayStringConcat(arraySort(groupArray({row_hash}))))))"


def combine(hashes: Iterable[str]) -> str:
    """:func:`digest_sql` computed in Python over the rows' hashes."""
    return hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()


_REPLACING = re.compile(r"^\w*ReplacingMergeTree(?:\((?P<args>[^)]*)\))?")


def _version_column(engine_full: str) -> str:
    found = _REPLACING.match(engine_full)
    if not found or not found.group("args"):
        return ""
    last = found.group("args").split(",")[-1].strip()
    return "" if last.startswith("'") else last.strip("`")


def _kind(name: str, engine: str) -> str:
    if "MergeTree" not in engine:
        return UNSUPPORTED  # e.g. the Distributed tables of a cluster (docs/evidence.md)
    if name == BATCH_TABLE:
        return BATCHES
    if engine.endswith("ReplacingMergeTree"):
        return VERSIONS
    if engine in ("MergeTree", "ReplicatedMergeTree", "SharedMergeTree"):
        return ROWS
    return UNSUPPORTED


def audit_tables(store: Store) -> dict[str, AuditTable]:
    """Every audit table of the store, by name."""
    tables = store.query(
        "SELECT name, engine, engine_full, sorting_key FROM system.tables "
        "WHERE database = {db:String} AND (engine LIKE '%MergeTree%' OR engine = 'Distributed') "
        "ORDER BY name",
        {"db": DATABASE},
    ).rows
    columns: dict[str, list[tuple[str, str, str, bool]]] = {}
    for table, column, kind, default_kind, in_key in store.query(
        "SELECT table, name, type, default_kind, "
        "is_in_sorting_key OR is_in_primary_key OR is_in_partition_key "
        "FROM system.columns WHERE database = {db:String} ORDER BY table, position",
        {"db": DATABASE},
    ).rows:
        columns.setdefault(str(table), []).append(
            (str(column), str(kind), str(default_kind), bool(in_key))
        )
    found: dict[str, AuditTable] = {}
    for raw_name, engine, engine_full, sorting_key in tables:
        name = str(raw_name)
        if name in CHAIN_TABLES:
            continue
        own = columns.get(name, [])
        covered = [(c, t) for c, t, d, _ in own if d not in _HIDDEN_KINDS]
        kind = _kind(name, str(engine))
        found[name] = AuditTable(
            name=name,
            kind=kind,
            columns=tuple(c for c, _ in covered),
            types=tuple(t for _, t in covered),
            key=str(sorting_key) if kind == VERSIONS else "",
            version=_version_column(str(engine_full)) if kind == VERSIONS else "",
            key_columns=frozenset(c for c, _, _, in_key in own if in_key),
            written_at=any(c == WRITTEN_AT for c, _, _, _ in own),
        )
    return found
