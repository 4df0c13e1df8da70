"""Erasure of one person's data (GDPR Art. 17) that keeps the evidence verifiable.

:func:`erase_subject` replaces, in every audit table, every occurrence of the subject's
identifiers — their user id, any further identifiers given (an email address, a phone
number), and the keyed pseudonyms the redactor made of them (``hmac:email:…``, computed by
the caller with the deployment's redaction key) — by ``erased:<erasure id>``, in every
string, array element, map key and map value. The replacement is random, so nothing in the
store links it back to the person; the person's rows still group together.

How the evidence survives it:

1. Before anything changes, each unit holding the subject's data (a tool_calls batch, an
   insert of a plain MergeTree table, a row of a ReplacingMergeTree table) is hashed over
   the columns its chain link covers: this must be the chained digest, else the unit was
   already tampered with and ``verify`` still says so.
2. The rows are rewritten in place (``ALTER TABLE … UPDATE``, synchronous). A
   ReplacingMergeTree row whose sorting key holds an identifier (a deny-list entry for the
   user) is re-inserted with the replacement and the original deleted. A plain MergeTree
   sorting key holding one refuses the erasure (named), as does a legal hold covering any
   of the subject's rows.
3. Each unit is hashed again, and ``erasures`` (who, when, why, the replacement — never the
   subject) and ``erasure_units`` (per unit: digest before and after) are written; the
   sealer chains them. ``verify`` then accepts a unit whose digest went from exactly its
   chained value to exactly the recorded one, and reports anything else.
4. The old data parts are deleted by ClickHouse; on an embedded store this waits until they
   are gone from disk (``wait_seconds``), so no byte of the identifiers remains in the store
   directory. The identifiers never appear in a statement ClickHouse keeps (mutation files,
   query logs): they are passed through a temporary in-memory table.

What verify cannot prove: that the erasure changed only the subject's identifiers (that
would need the identifiers). It proves which units changed, when, by whom and why, and that
every other unit — and every unit's state before the erasure — is as chained. Copies outside
the store (SIEM exports, backups, the WAL's not-yet-deleted segments) are not touched.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from agentaudit.errors import AgentAuditError, ExitCode
from agentaudit.store import Store
from agentaudit.store.audit_chain import CANONICAL_COLUMNS, tool_calls_columns
from agentaudit.store.evidence._tables import (
    BATCHES,
    HOLD_COLUMNS,
    ROWS,
    UNSUPPORTED,
    VERSIONS,
    WRITTEN_AT,
    AuditTable,
    audit_tables,
    ident,
)
from agentaudit.store.evidence._units import Entry, unit_entries
from agentaudit.store.evidence.holds import active_holds, holds_condition
from agentaudit.store.evidence.seal import load_seal_links
from agentaudit.store.sql_guard import quote_string

__all__ = ["MIN_TERM_CHARS", "ErasureRefused", "ErasureReport", "erase_subject"]

log = logging.getLogger(__name__)

MIN_TERM_CHARS = 4
"""A shorter identifier would match inside other people's data."""
MAX_TERMS = 200
KEPT_TABLES = {
    "card_signoffs": "identity-card attestations by staff, kept as records of accountability "
    "(Art. 17(3)(b)); each is sealed by its own per-agent chain",
}
"""Tables an erasure does not rewrite (the report counts their rows that mention the subject)."""
ERASURES_TABLE = "agentaudit.erasures"
UNITS_TABLE = "agentaudit.erasure_units"
_SYNC = "SETTINGS mutations_sync = 2, allow_nondeterministic_mutations = 1"

_ERASURE_SCHEMA = pa.schema(
    [
        ("erasure_id", pa.string()),
        ("at", pa.timestamp("ms", tz="UTC")),
        ("actor", pa.string()),
        ("reason", pa.string()),
        ("replacement", pa.string()),
        ("terms", pa.uint32()),
        ("rows_changed", pa.uint64()),
        ("tables", pa.list_(pa.string())),
    ]
)
_UNIT_SCHEMA = pa.schema(
    [
        ("erasure_id", pa.string()),
        ("seq", pa.uint32()),
        ("table", pa.string()),
        ("unit", pa.string()),
        ("before_hash", pa.string()),
        ("after_hash", pa.string()),
        ("before_count", pa.uint64()),
        ("after_count", pa.uint64()),
        ("columns", pa.list_(pa.string())),
    ]
)


class ErasureRefused(AgentAuditError):
    """The erasure cannot be carried out (a legal hold, a bad request); nothing changed."""

    exit_code = ExitCode.REFUSED


@dataclass(frozen=True)
class ErasureReport:
    """What one erasure did."""

    erasure_id: str
    replacement: str
    at_ms: int
    rows_changed: int
    tables: dict[str, int] = field(default_factory=dict)
    units: int = 0
    parts_left: int = 0
    kept: dict[str, int] = field(default_factory=dict)
    """Rows of :data:`KEPT_TABLES` that mention the subject and were not rewritten."""
    """Old data parts still on disk when it returned (0: none of the old bytes remain)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "replacement": self.replacement,
            "rows_changed": self.rows_changed,
            "tables": self.tables,
            "units": self.units,
            "old_parts_left": self.parts_left,
            "kept": self.kept,
        }


# -- SQL over string-bearing columns ------------------------------------------------------


def _args(text: str) -> list[str]:
    """The top-level comma-separated arguments of a type's parentheses."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def _inner(type_: str, wrapper: str) -> str | None:
    return type_[len(wrapper) + 1 : -1] if type_.startswith(wrapper + "(") else None


class _Sql:
    """Replacement and match expressions over values of a ClickHouse type."""

    def __init__(self, terms_table: str, replacement: str) -> None:
        self.terms = f"(SELECT groupArray(term) FROM {terms_table})"  # noqa: S608
        self.replacement = quote_string(replacement)

    def _fold(self, value: str) -> str:
        return (
            f"arrayFold((erase_acc, erase_term) -> replaceAll(erase_acc, erase_term, "
            f"{self.replacement}), {self.terms}, CAST({value}, 'String'))"
        )

    def replace(self, value: str, type_: str, depth: int = 0) -> str | None:
        type_ = type_.strip()
        inner = _inner(type_, "LowCardinality")
        if inner is not None:
            return self.replace(value, inner, depth)
        if type_ == "String":
            return self._fold(value)
        inner = _inner(type_, "Nullable")
        if inner is not None:
            done = self.replace(f"assumeNotNull({value})", inner, depth)
            return None if done is None else f"if(isNull({value}), NULL, {done})"
        inner = _inner(type_, "Array")
        if inner is not None:
            item = f"erase_v{depth}"
            done = self.replace(item, inner, depth + 1)
            return None if done is None else f"arrayMap({item} -> {done}, {value})"
        inner = _inner(type_, "Map")
        if inner is not None:
            key_type, value_type = _args(inner)
            key, item = f"erase_k{depth}", f"erase_v{depth}"
            new_key = self.replace(key, key_type, depth + 1)
            new_value = self.replace(item, value_type, depth + 1)
            if new_key is None and new_value is None:
                return None
            return f"mapApply(({key}, {item}) -> ({new_key or key}, {new_value or item}), {value})"
        return None

    def match(self, value: str, type_: str, depth: int = 0) -> str | None:
        type_ = type_.strip()
        inner = _inner(type_, "LowCardinality")
        if inner is not None:
            return self.match(value, inner, depth)
        if type_ == "String":
            return f"multiSearchAny({value}, {self.terms})"
        inner = _inner(type_, "Nullable")
        if inner is not None:
            done = self.match(value, inner, depth)
            return None if done is None else f"ifNull({done}, 0)"
        inner = _inner(type_, "Array")
        if inner is not None:
            item = f"erase_v{depth}"
            done = self.match(item, inner, depth + 1)
            return None if done is None else f"arrayExists({item} -> {done}, {value})"
        inner = _inner(type_, "Map")
        if inner is not None:
            key_type, value_type = _args(inner)
            found = _or(
                [
                    self.match(f"mapKeys({value})", f"Array({key_type})", depth),
                    self.match(f"mapValues({value})", f"Array({value_type})", depth),
                ]
            )
            return None if found == "0" else found
        return None


@dataclass
class _Plan:
    table: AuditTable
    match: str
    rows: int
    key_match: bool
    updates: dict[str, str]
    rewrites: dict[str, str]


def _or(parts: Iterable[str | None]) -> str:
    found = [f"({p})" for p in parts if p]
    return " OR ".join(found) if found else "0"


def _plan(store: Store, table: AuditTable, sql: _Sql) -> _Plan | None:
    updates: dict[str, str] = {}
    rewrites: dict[str, str] = {}
    matches: list[str | None] = []
    key_matches: list[str | None] = []
    for column, type_ in zip(table.columns, table.types, strict=True):
        replaced = sql.replace(ident(column), type_)
        if replaced is None:
            continue
        rewrites[column] = replaced
        matched = sql.match(ident(column), type_)
        if column in table.key_columns:
            key_matches.append(matched)
        else:
            updates[column] = replaced
            matches.append(matched)
    match = _or([*matches, *key_matches])
    if match == "0":
        return None
    name = f"agentaudit.{ident(table.name)}"
    rows = int(store.query(f"SELECT count() FROM {name} WHERE {match}").rows[0][0])  # noqa: S608
    if not rows:
        return None
    key_match = _or(key_matches)
    keyed = key_match != "0" and bool(
        store.query(f"SELECT count() FROM {name} WHERE {key_match}").rows[0][0]  # noqa: S608
    )
    if keyed and table.kind != VERSIONS:
        raise ErasureRefused(
            f"{table.name}: an identifier is in a column of the table's sorting key "
            f"({', '.join(sorted(table.key_columns))}); erasing it there needs a rewrite of the "
            "table this command does not do (docs/evidence.md)"
        )
    return _Plan(table, match, rows, keyed, updates, rewrites)


# -- the columns each unit is chained over -------------------------------------------------


def _batch_columns(store: Store, batches: Sequence[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for batch, fmt, columns in store.query(
        "SELECT batch_id, format, columns FROM agentaudit.audit_chain "
        "WHERE batch_id IN {b:Array(String)} ORDER BY chain_id, seq",
        {"b": list(batches)},
    ).rows:
        found.setdefault(
            str(batch), CANONICAL_COLUMNS.get(str(fmt), tuple(str(c) for c in columns))
        )
    return found


def _sealed_columns(store: Store, table: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """``(since, until, columns)`` of the table's seal links, in the order verify uses."""
    spans = []
    for _, links in sorted(load_seal_links(store).items()):
        spans += [
            (link.since_us, link.until_us, link.columns) for link in links if link.table == table
        ]
    return spans


def _columns_at(
    spans: list[tuple[int, int, tuple[str, ...]]], written: int
) -> tuple[str, ...] | None:
    for since, until, columns in spans:
        if since < written <= until:
            return columns
    return None


def _units(store: Store, plan: _Plan, where: str) -> dict[str, tuple[Entry, tuple[str, ...]]]:
    """``unit -> (entry, columns)`` of every unit holding rows that match ``where``, each
    hashed over the columns its chain covers (whole units: every row of a batch/insert)."""
    table = plan.table
    name = f"agentaudit.{ident(table.name)}"
    written = f"toUnixTimestamp64Micro({ident(WRITTEN_AT)})"
    found: dict[str, tuple[Entry, tuple[str, ...]]] = {}
    if table.kind == BATCHES:
        batches = [str(r[0]) for r in store.query(
            f"SELECT DISTINCT batch_id FROM {name} WHERE {where}").rows]  # noqa: S608  # fmt: skip
        chained = _batch_columns(store, batches)
        current = tool_calls_columns(store)
        by_columns: dict[tuple[str, ...], list[str]] = {}
        for batch in batches:
            by_columns.setdefault(chained.get(batch, current), []).append(batch)
        for columns, group in by_columns.items():
            ids = ", ".join(quote_string(b) for b in group)
            for entry in unit_entries(store, table, columns, f"batch_id IN ({ids})"):
                found[entry.batch_id] = (entry, columns)
        return found
    spans = _sealed_columns(store, table.name)
    moments = [int(r[0]) for r in store.query(
        f"SELECT DISTINCT {written} FROM {name} WHERE {where}").rows]  # noqa: S608  # fmt: skip
    groups: dict[tuple[str, ...], list[int]] = {}
    for moment in moments:
        groups.setdefault(_columns_at(spans, moment) or table.columns, []).append(moment)
    for columns, times in groups.items():
        within = f"{written} IN ({', '.join(str(t) for t in times)})"
        rows_where = within if table.kind == ROWS else f"{within} AND ({where})"
        for entry in unit_entries(store, table, columns, rows_where):
            unit = str(entry.written_us) if table.kind == ROWS else entry.row_hash
            found[unit] = (entry, columns)
    return found


# -- the erasure ---------------------------------------------------------------------------


def _terms(subject: str, identifiers: Iterable[str], pseudonyms: Iterable[str]) -> list[str]:
    terms = {t for t in (subject, *identifiers, *pseudonyms) if t}
    if not subject.strip():
        raise ErasureRefused("name the subject to erase (their user id)")
    short = sorted(t for t in terms if len(t) < MIN_TERM_CHARS)
    if short:
        raise ErasureRefused(
            f"identifiers shorter than {MIN_TERM_CHARS} characters would match inside other "
            f"people's data; refused ({len(short)} of them)"
        )
    if len(terms) > MAX_TERMS:
        raise ErasureRefused(f"at most {MAX_TERMS} identifiers per erasure")
    return sorted(terms, key=lambda t: (-len(t), t))  # longest first: no partial leftovers


def _check_holds(store: Store, tables: dict[str, AuditTable], terms: list[str], sql: _Sql) -> None:
    holds = active_holds(store)
    for hold in holds:
        if hold.kind == "user" and hold.value in terms:
            raise ErasureRefused(
                f"legal hold {hold.hold_id} keeps this user's data ({hold.reason!r}); GDPR "
                "Art. 17(3)(e): release the hold first"
            )
    for name in HOLD_COLUMNS:
        table = tables.get(name)
        if table is None or not holds:
            continue
        plan_match = _or(
            sql.match(ident(c), t) for c, t in zip(table.columns, table.types, strict=True)
        )
        held = store.query(
            f"SELECT count() FROM agentaudit.{ident(name)} "  # noqa: S608
            f"WHERE ({holds_condition(name, holds)}) AND ({plan_match})"
        ).rows[0][0]
        if held:
            raise ErasureRefused(
                f"{held} row(s) of {name} holding this subject's data are under a legal hold; "
                "GDPR Art. 17(3)(e): release the hold (or wait for it) first"
            )


def _mutate(store: Store, plan: _Plan) -> None:
    name = f"agentaudit.{ident(plan.table.name)}"
    if plan.key_match:  # a ReplacingMergeTree row keyed by an identifier: re-insert it
        columns = ", ".join(ident(c) for c in plan.table.columns)
        values = ", ".join(plan.rewrites.get(c, ident(c)) for c in plan.table.columns)
        store.command(
            f"INSERT INTO {name} ({columns}) SELECT {values} FROM {name} WHERE {plan.match}"  # noqa: S608
        )
        store.command(f"ALTER TABLE {name} DELETE WHERE {plan.match} {_SYNC}")
        return
    sets = ", ".join(f"{ident(c)} = {expr}" for c, expr in plan.updates.items())
    store.command(f"ALTER TABLE {name} UPDATE {sets} WHERE {plan.match} {_SYNC}")


def _wait_for_old_parts(store: Store, tables: list[str], seconds: float) -> int:
    """Wait until the parts the erasure replaced are gone from disk; the number left.

    ClickHouse keeps replaced parts for ``old_parts_lifetime`` (8 minutes by default);
    for the wait it is lowered to one second on the changed tables, then reset.
    """
    for table in tables:
        store.command(
            f"ALTER TABLE agentaudit.{ident(table)} MODIFY SETTING old_parts_lifetime = 1"
        )
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = int(
                store.query(
                    "SELECT count() FROM system.parts WHERE database = 'agentaudit' "
                    "AND table IN {t:Array(String)} AND NOT active",
                    {"t": tables},
                ).rows[0][0]
            )
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.25)
    finally:
        for table in tables:
            store.command(f"ALTER TABLE agentaudit.{ident(table)} RESET SETTING old_parts_lifetime")


def erase_subject(
    store: Store,
    *,
    subject: str,
    identifiers: Iterable[str] = (),
    pseudonyms: Iterable[str] = (),
    actor: str,
    reason: str,
    wait_seconds: float = 120.0,
) -> ErasureReport:
    """Erase ``subject`` (a user id) and its ``identifiers`` and ``pseudonyms`` from every
    audit table; see the module docstring. Raises :class:`ErasureRefused` (nothing changed)."""
    terms = _terms(subject, identifiers, pseudonyms)
    if not reason.strip() or not actor.strip():
        raise ErasureRefused("an erasure needs who asks for it and why (both are recorded)")
    if any(term in text for term in terms for text in (reason, actor)):
        raise ErasureRefused("the reason and the requester must not name the subject (they "
                             "are kept with the erasure record)")  # fmt: skip
    erasure_id = uuid.uuid4().hex
    replacement = f"erased:{erasure_id[:16]}"
    terms_table = f"agentaudit.{ident('_erasure_terms_' + erasure_id[:16])}"
    sql = _Sql(terms_table, replacement)
    tables = audit_tables(store)
    store.command(f"CREATE TABLE {terms_table} (term String) ENGINE = Memory")
    units: list[dict[str, Any]] = []
    changed: dict[str, int] = {}
    try:
        store.insert_arrow(terms_table, pa.table({"term": pa.array(terms, pa.string())}))
        _check_holds(store, tables, terms, sql)
        plans = [
            plan
            for table in tables.values()
            if table.kind != UNSUPPORTED
            for plan in [_plan(store, table, sql)]
            if plan is not None
        ]
        kept = {p.table.name: p.rows for p in plans if p.table.name in KEPT_TABLES}
        plans = [p for p in plans if p.table.name not in KEPT_TABLES]
        start_us = int(store.query("SELECT toUnixTimestamp64Micro(now64(6))").rows[0][0])
        for plan in plans:
            before = _units(store, plan, plan.match)
            _mutate(store, plan)
            units += _record(
                store, plan, before, start_us=start_us, replacement=replacement,
                erasure_id=erasure_id, first=len(units),
            )  # fmt: skip
            changed[plan.table.name] = plan.rows
    finally:
        store.command(f"DROP TABLE IF EXISTS {terms_table} SYNC")
    at_ms = time.time_ns() // 1_000_000
    rows_changed = sum(changed.values())
    record: dict[str, Any] = {
        "erasure_id": erasure_id,
        "at": at_ms,
        "actor": actor,
        "reason": reason,
        "replacement": replacement,
        "terms": len(terms),
        "rows_changed": rows_changed,
        "tables": sorted(changed),
    }
    store.insert_arrow(ERASURES_TABLE, pa.Table.from_pylist([record], schema=_ERASURE_SCHEMA))
    if units:
        store.insert_arrow(UNITS_TABLE, pa.Table.from_pylist(units, schema=_UNIT_SCHEMA))
    left = _wait_for_old_parts(store, sorted(changed), wait_seconds) if changed else 0
    if left:
        log.warning("erasure %s: %d old data part(s) still on disk", erasure_id, left)
    log.info("erasure %s by %s: %d row(s) in %s", erasure_id, actor, rows_changed,
             ", ".join(sorted(changed)) or "no table")  # fmt: skip
    return ErasureReport(
        erasure_id, replacement, at_ms, rows_changed, changed, len(units), left, kept
    )


def _record(
    store: Store,
    plan: _Plan,
    before: dict[str, tuple[Entry, tuple[str, ...]]],
    *,
    start_us: int,
    replacement: str,
    erasure_id: str,
    first: int,
) -> list[dict[str, Any]]:
    """The erasure units of one table: each unit's digest before and after."""
    table = plan.table
    rows: list[dict[str, Any]] = []

    def unit(name: str, old: Entry | None, new: Entry | None, columns: Sequence[str]) -> None:
        rows.append(
            {
                "erasure_id": erasure_id,
                "seq": first + len(rows),
                "table": table.name,
                "unit": name,
                "before_hash": old.row_hash if old else "",
                "after_hash": new.row_hash if new else "",
                "before_count": old.row_count if old else 0,
                "after_count": new.row_count if new else 0,
                "columns": list(columns),
            }
        )

    if table.kind in (BATCHES, ROWS):
        ids = list(before)
        if table.kind == BATCHES:
            where = f"batch_id IN ({', '.join(quote_string(b) for b in ids)})"
        else:
            where = f"toUnixTimestamp64Micro({ident(WRITTEN_AT)}) IN ({', '.join(ids)})"
        for name, (old, columns) in before.items():
            after = {
                (e.batch_id if table.kind == BATCHES else str(e.written_us)): e
                for e in unit_entries(store, table, columns, where)
            }
            unit(name, old, after.get(name), columns)
        return rows
    # ReplacingMergeTree rows: pair each old row with its rewritten self.
    moments = sorted({old.written_us for old, _ in before.values()})
    written = f"toUnixTimestamp64Micro({ident(WRITTEN_AT)})"
    for columns in {cols for _, cols in before.values()}:
        if plan.key_match:
            fresh = unit_entries(
                store, table, columns,
                f"{written} > {start_us} AND {_or(sql_has(c, replacement) for c in plan.rewrites)}",
            )  # fmt: skip
            for old, cols in before.values():
                if cols == columns:
                    unit(old.row_hash, old, None, columns)
            for new in fresh:
                unit(new.row_hash, None, new, columns)
            continue
        now = {
            (e.written_us, e.key, e.version): e
            for e in unit_entries(
                store, table, columns, f"{written} IN ({', '.join(str(m) for m in moments)})"
            )
        }
        for old, cols in before.values():
            if cols == columns:
                unit(old.row_hash, old, now.get((old.written_us, old.key, old.version)), columns)
    return rows


def sql_has(column: str, text: str) -> str:
    """SQL: ``column`` (any string-bearing type) mentions ``text``, as its text form."""
    return f"position(toString({ident(column)}), {quote_string(text)}) > 0"
