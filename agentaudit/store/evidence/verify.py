"""Verify every audit table against its chain, with retention, holds and erasures accounted.

:func:`verify_store` is read-only (it runs SELECTs only) and returns a :class:`Report`:

* ``problems`` — what was changed after it was chained, each naming its table and unit:
  tool_calls batches (:func:`agentaudit.store.audit_chain.verify_chain`), seal links
  removed, altered or re-signed, and per sealed table the inserts (plain MergeTree) or rows
  (ReplacingMergeTree) modified, deleted or inserted, rows not covered by any seal, held
  rows missing from a unit retention emptied;
* ``notes`` — changes the evidence accounts for: units emptied by retention the recorded
  policy allowed (``expired``), superseded versions a ReplacingMergeTree merge dropped
  (``merged``), units a recorded erasure changed (``erased``: the unit went from exactly
  its chained digest to exactly the digest the erasure recorded, and nothing else);
* ``warnings`` — what could not be verified (a table without ``_written_at``, an engine
  the chain does not know, a store whose schema predates the seals).

How a missing unit is judged: first its erasures (each recorded ``before -> after`` digest
followed from the chained one), then retention (:func:`~.retention.expirable` over the
policy history; the held rows left in an expired unit must match what the holds recorded
of it), else it is a problem. For ReplacingMergeTree rows a missing version is ``merged``
when the table still holds the same sorting key with a newer version (or, without a version
column, a later insert). Deleting such an old version by hand looks the same as a merge:
that is the one change of a ReplacingMergeTree table the chain cannot tell from its engine's
own work (docs/evidence.md).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from agentaudit.store import Store
from agentaudit.store.audit_chain import Problem, verify_chain
from agentaudit.store.evidence._tables import (
    EMPTY_DIGEST,
    HOLD_COLUMNS,
    ROWS,
    UNSUPPORTED,
    VERSIONS,
    WRITTEN_AT,
    AuditTable,
    audit_tables,
)
from agentaudit.store.evidence._units import Entry, unit_entries
from agentaudit.store.evidence.holds import Hold, HoldUnit, active_holds, held_now, held_units
from agentaudit.store.evidence.retention import PolicyHistory, expirable, policy_history
from agentaudit.store.evidence.seal import (
    SealLink,
    entries_hash,
    load_entries,
    load_seal_links,
    seal_hash,
    sign,
)

__all__ = ["EVIDENCE_TABLES", "Report", "verify_store"]

EVIDENCE_TABLES = ("audit_seals", "audit_seal_entries", "legal_holds", "hold_units",
                   "retention_policies", "erasures", "erasure_units")  # fmt: skip
"""The tables migration 0030 adds; without them only the tool_calls chain is verifiable."""


@dataclass
class Report:
    """What :func:`verify_store` found."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    batch_links: int = 0
    seal_links: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _ErasureStep:
    erasure_id: str
    actor: str
    at_ms: int
    before: str
    after: str


@dataclass
class _Recorded:
    entry: Entry
    link: SealLink


def _iso_us(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


class _Accounting:
    """The evidence of legitimate change: erasures, retention history, holds."""

    def __init__(self, store: Store, tables: dict[str, AuditTable], now_us: int) -> None:
        self.store = store
        self.tables = tables
        self.now_us = now_us
        self.history: PolicyHistory = policy_history(store)
        self.holds: list[Hold] = active_holds(store)
        self.held: dict[tuple[str, str], list[HoldUnit]] = held_units(store, self.holds)
        self.steps: dict[tuple[str, str], list[_ErasureStep]] = {}
        self.created: dict[str, set[str]] = {}
        self._held_now: dict[tuple[str, str, tuple[str, ...]], dict[str, tuple[int, str]]] = {}
        self.counts: Counter[tuple[str, str]] = Counter()
        self.erasures: Counter[tuple[str, str, str]] = Counter()
        for eid, actor, at_ms, table, unit, before, after in store.query(
            "SELECT u.erasure_id, e.actor, toUnixTimestamp64Milli(e.at), u.table, u.unit, "
            "u.before_hash, u.after_hash FROM agentaudit.erasure_units AS u "
            "INNER JOIN agentaudit.erasures AS e ON u.erasure_id = e.erasure_id "
            "ORDER BY e.at, u.erasure_id, u.seq"
        ).rows:
            step = _ErasureStep(str(eid), str(actor), int(at_ms), str(before), str(after))
            if step.before:
                self.steps.setdefault((str(table), str(unit)), []).append(step)
            if step.after:
                self.created.setdefault(str(table), set()).add(step.after)

    # -- erasures ----------------------------------------------------------------------

    def erased(self, table: str, unit: str, recorded: str) -> tuple[str, _ErasureStep] | None:
        """The digest the unit's recorded erasures lead to from ``recorded``, and the last."""
        digest, last = recorded, None
        for step in self.steps.get((table, unit), []):
            if step.before == digest:
                digest, last = step.after, step
        return (digest, last) if last is not None else None

    def note_erased(self, table: str, step: _ErasureStep) -> None:
        self.erasures[(table, step.erasure_id, step.actor)] += 1

    # -- retention and holds -----------------------------------------------------------

    def expirable(self, table: str, unit_us: int) -> bool:
        return table in HOLD_COLUMNS and expirable(self.history, table, unit_us, self.now_us)

    def held_problem(self, table: str, unit: str, where: str) -> Problem | None:
        """A problem when the held rows left in an expired unit differ from the holds'
        record of them."""
        audit = self.tables.get(table)
        for record in self.held.get((table, unit), []):
            hold = next(h for h in self.holds if h.hold_id == record.hold_id)
            cache_key = (hold.hold_id, table, record.columns)
            if cache_key not in self._held_now and audit is not None:
                self._held_now[cache_key] = dict(held_now(self.store, audit, hold, record.columns))
            count, digest = self._held_now.get(cache_key, {}).get(unit, (0, EMPTY_DIGEST))
            if (count, digest) == (record.row_count, record.rows_hash):
                self.counts[(table, "held")] += count
                continue
            kind = "deleted" if count < record.row_count else "modified"
            return Problem(
                kind,
                f"{where}: expired by retention, but the rows held by legal hold "
                f"{hold.hold_id} ({hold.describe()}) were {kind}: {record.row_count} held, "
                f"{count} left" + (" (changed)" if kind == "modified" else ""),
                table=table,
            )
        return None

    def explain(
        self,
        table: str,
        unit: str,
        *,
        recorded: tuple[int, str],
        present: tuple[int, str],
        unit_us: int,
    ) -> str | Problem | None:
        """The :class:`~agentaudit.store.audit_chain.Explainer` of batches and inserts."""
        erased = self.erased(table, unit, recorded[1])
        if erased is not None and erased[0] == present[1]:
            self.note_erased(table, erased[1])
            return "erased"
        if self.expirable(table, unit_us):
            where = f"{table} unit {unit}"
            problem = self.held_problem(table, unit, where)
            if problem is not None:
                return problem
            self.counts[(table, "expired units")] += 1
            self.counts[(table, "expired rows")] += max(0, recorded[0] - present[0])
            return "expired"
        return None

    def notes(self) -> list[str]:
        lines = []
        for table in sorted({t for t, _ in self.counts}):
            parts = []
            units = self.counts[(table, "expired units")]
            if units:
                parts.append(
                    f"{units} unit(s) expired by retention ({self.counts[(table, 'expired rows')]}"
                    " row(s) removed as the recorded retention allowed)"
                )
            if self.counts[(table, "held")]:
                parts.append(
                    f"{self.counts[(table, 'held')]} row(s) past retention kept by legal holds, "
                    "verified against the holds' record"
                )
            if self.counts[(table, "merged")]:
                parts.append(
                    f"{self.counts[(table, 'merged')]} superseded version(s) merged away by "
                    "ReplacingMergeTree"
                )
            if parts:
                lines.append(f"{table}: " + "; ".join(parts))
        for (table, erasure, actor), count in sorted(self.erasures.items()):
            lines.append(
                f"{table}: {count} unit(s) changed by erasure {erasure} (by {actor}); "
                "every other byte of them is as chained"
            )
        return lines


def _check_seal_chain(
    links: list[SealLink],
    entries: dict[tuple[str, int, str], list[Entry]],
    key: bytes | None,
) -> list[Problem]:
    problems: list[Problem] = []
    previous: SealLink | None = None
    until: dict[str, int] = {}
    for link in links:
        where = f"seal chain {link.chain_id[:12]} link {link.seq} ({link.table})"

        def problem(kind: str, text: str, link: SealLink = link, where: str = where) -> None:
            problems.append(Problem(kind, f"{where}: {text}", "", link.chain_id, link.seq,
                                    link.table))  # fmt: skip

        if previous is not None and link.seq == previous.seq:
            if link != previous:
                problem("chain_broken", "two different links with one number")
            continue
        expected = 1 if previous is None else previous.seq + 1
        if link.seq != expected:
            problem("chain_broken", f"links {expected}..{link.seq - 1} are missing")
        elif previous is not None and link.prev_hash != previous.chain_hash:
            problem("chain_broken", f"does not follow link {previous.seq}")
        if seal_hash(link) != link.chain_hash:
            problem("chain_broken", "the link itself was altered")
        elif key is not None and sign(key, link.chain_hash) != link.signature:
            problem("bad_signature", "signature does not verify with the key")
        if link.since_us != until.get(link.table, 0):
            problem(
                "chain_broken",
                f"covers rows from {link.since_us}, but the table's previous seal ended at "
                f"{until.get(link.table, 0)} (a link was removed)",
            )
        own = entries.get((link.chain_id, link.seq, link.uid), [])
        if len(own) != link.entry_count or entries_hash(own) != link.rows_hash:
            problem("chain_broken", "its entries were altered (audit_seal_entries)")
        until[link.table] = max(until.get(link.table, 0), link.until_us)
        previous = link
    return problems


def _recorded(
    chains: dict[str, list[SealLink]],
    entries: dict[tuple[str, int, str], list[Entry]],
) -> tuple[dict[str, dict[tuple[int, str], _Recorded]], dict[str, int], list[Problem]]:
    """Every sealed unit by table (across chains), how far each table is covered, and
    disagreements between chains."""
    units: dict[str, dict[tuple[int, str], _Recorded]] = {}
    covered: dict[str, int] = {}
    problems: list[Problem] = []
    for links in chains.values():
        for link in links:
            covered[link.table] = max(covered.get(link.table, 0), link.until_us)
            for entry in entries.get((link.chain_id, link.seq, link.uid), []):
                if entry.table != link.table:
                    continue
                key = (entry.written_us, entry.row_hash if link.kind == VERSIONS else "")
                own = units.setdefault(link.table, {})
                if key in own and own[key].entry != entry:
                    problems.append(
                        Problem("chain_broken",
                                f"{link.table}: seal chains {own[key].link.chain_id[:12]} and "
                                f"{link.chain_id[:12]} disagree about the insert at "
                                f"{_iso_us(entry.written_us)}", "", link.chain_id, link.seq,
                                link.table)
                    )  # fmt: skip
                own.setdefault(key, _Recorded(entry, link))
    return units, covered, problems


def _present(
    store: Store, table: AuditTable, column_sets: Iterable[tuple[str, ...]]
) -> dict[tuple[str, ...], list[Entry]]:
    return {columns: unit_entries(store, table, columns) for columns in set(column_sets)}


def _verify_rows(
    store: Store,
    table: AuditTable,
    recorded: dict[tuple[int, str], _Recorded],
    covered_until: int,
    accounting: _Accounting,
) -> list[Problem]:
    problems: list[Problem] = []
    present = _present(store, table, [r.link.columns for r in recorded.values()] + [table.columns])
    by_columns = {cols: {e.written_us: e for e in found} for cols, found in present.items()}
    for (written, _), record in sorted(recorded.items()):
        entry = record.entry
        now = by_columns[record.link.columns].get(written)
        state = (now.row_count, now.row_hash) if now else (0, EMPTY_DIGEST)
        if state == (entry.row_count, entry.row_hash):
            continue
        where = (
            f"{table.name}: the insert at {_iso_us(written)} ({entry.row_count} rows; seal chain "
            f"{record.link.chain_id[:12]} link {record.link.seq})"
        )
        explained = accounting.explain(
            table.name,
            str(written),
            recorded=(entry.row_count, entry.row_hash),
            present=state,
            unit_us=written,
        )
        if isinstance(explained, Problem):
            problems.append(explained)
            continue
        if explained is not None:
            continue
        if state[0] < entry.row_count:
            kind, text = "deleted", f"{entry.row_count - state[0]} of its rows were deleted"
        elif state[0] > entry.row_count:
            kind, text = "inserted", f"{state[0] - entry.row_count} rows were inserted into it"
        else:
            kind, text = "modified", "its rows were modified after they were sealed"
        problems.append(
            Problem(kind, f"{where}: {text}", "", record.link.chain_id, record.link.seq, table.name)
        )
    for written, now in sorted(by_columns[table.columns].items()):
        if (written, "") in recorded:
            continue
        problems.append(_unrecorded(table, now, covered_until))
    return problems


def _unrecorded(table: AuditTable, entry: Entry, covered_until: int) -> Problem:
    rows = f"{entry.row_count} row(s)" if table.kind == ROWS else f"row {entry.label}"
    where = f"{table.name}: {rows} written at {_iso_us(entry.written_us)}"
    if entry.written_us > covered_until:
        return Problem(
            "unsealed",
            f"{where} after the newest seal: not chained (written since a collector last "
            "sealed, e.g. before a crash or by a command on a stopped store; the next "
            "collector start seals them) or inserted after the fact",
            table=table.name,
        )
    return Problem(
        "inserted", f"{where}: in no seal, though the table was sealed past that time",
        table=table.name,
    )  # fmt: skip


def _superseded(entry: Entry, by_key: dict[str, list[Entry]]) -> bool:
    for other in by_key.get(entry.key, []):
        if other.version > entry.version or (
            other.version == entry.version and other.written_us > entry.written_us
        ):
            return True
    return False


def _verify_versions(
    store: Store,
    table: AuditTable,
    recorded: dict[tuple[int, str], _Recorded],
    covered_until: int,
    accounting: _Accounting,
) -> list[Problem]:
    problems: list[Problem] = []
    present = _present(store, table, [r.link.columns for r in recorded.values()] + [table.columns])
    by_columns = {
        cols: {(e.written_us, e.row_hash): e for e in found} for cols, found in present.items()
    }
    current = present[table.columns]
    by_key: dict[str, list[Entry]] = {}
    by_slot: dict[tuple[int, str, str], Entry] = {}
    for entry in current:
        by_key.setdefault(entry.key, []).append(entry)
        by_slot[(entry.written_us, entry.key, entry.version)] = entry
    accounted: set[tuple[int, str]] = set()
    created = accounting.created.get(table.name, set())
    held = {u.unit for (t, _), units in accounting.held.items() if t == table.name for u in units}
    for (written, row_hash), record in sorted(recorded.items()):
        entry = record.entry
        rows = by_columns[record.link.columns]
        if (written, row_hash) in rows:
            accounted.add((written, row_hash))
            continue
        where = (
            f"{table.name}: the row (key sha256 {entry.key[:16]}, version {entry.version or '-'})"
            f" written at {_iso_us(written)} (seal chain {record.link.chain_id[:12]} link "
            f"{record.link.seq})"
        )
        erased = accounting.erased(table.name, row_hash, row_hash)
        if erased is not None and (erased[0] == "" or (written, erased[0]) in rows):
            accounting.note_erased(table.name, erased[1])
            accounted.add((written, erased[0]))
            continue
        if _superseded(entry, by_key):
            accounting.counts[(table.name, "merged")] += 1
            continue
        if accounting.expirable(table.name, written):
            if row_hash in held:
                problems.append(
                    Problem("deleted", f"{where}: removed although a legal hold keeps it", "",
                            record.link.chain_id, record.link.seq, table.name)
                )  # fmt: skip
            else:
                accounting.counts[(table.name, "expired units")] += 1
                accounting.counts[(table.name, "expired rows")] += 1
            continue
        twin = by_slot.get((written, entry.key, entry.version))
        if twin is not None:
            accounted.add((twin.written_us, twin.row_hash))
            problems.append(
                Problem("modified", f"{where}: modified after it was sealed (now {twin.label})",
                        "", record.link.chain_id, record.link.seq, table.name)
            )  # fmt: skip
            continue
        problems.append(
            Problem("deleted", f"{where}: deleted after it was sealed", "",
                    record.link.chain_id, record.link.seq, table.name)
        )  # fmt: skip
    for entry in current:
        slot = (entry.written_us, entry.row_hash)
        if slot in accounted or slot in recorded or entry.row_hash in created:
            continue
        problems.append(_unrecorded(table, entry, covered_until))
    return problems


def verify_store(store: Store, *, key: bytes | None = None, now_us: int | None = None) -> Report:
    """Verify every audit table of ``store``; read-only. ``key``: the chain's HMAC key
    (checks the links' signatures); ``now_us``: the time expiry is judged at."""
    report = Report()
    tables = audit_tables(store)
    missing = [name for name in EVIDENCE_TABLES if name not in _all_tables(store)]
    if missing:
        report.warnings.append(
            "this store has no seals (tables missing: " + ", ".join(missing) + "): only "
            "tool_calls is verifiable; a collector of this version migrates it on start"
        )
        report.problems = verify_chain(store, key=key)
        report.batch_links = _count(store, "audit_chain")
        return report
    now = now_us if now_us is not None else time.time_ns() // 1000
    accounting = _Accounting(store, tables, now)
    report.problems = verify_chain(store, key=key, accounting=accounting)
    report.batch_links = _count(store, "audit_chain")
    chains = load_seal_links(store)
    entries = load_entries(store)
    report.seal_links = sum(len(links) for links in chains.values())
    for links in chains.values():
        report.problems += _check_seal_chain(links, entries, key)
    units, covered, disagreements = _recorded(chains, entries)
    report.problems += disagreements
    for table in tables.values():
        if table.kind == UNSUPPORTED:
            report.warnings.append(
                f"{table.name}: its engine is not one the chain knows; not verified"
            )
            continue
        if table.kind not in (ROWS, VERSIONS):
            continue
        if not table.written_at:
            report.warnings.append(
                f"{table.name}: not covered by the chain: it has no {WRITTEN_AT} column (its "
                f"migration must declare `{WRITTEN_AT} DateTime64(6, 'UTC') MATERIALIZED "
                "now64(6)`)"
            )
            continue
        check = _verify_rows if table.kind == ROWS else _verify_versions
        report.problems += check(
            store, table, units.get(table.name, {}), covered.get(table.name, 0), accounting
        )
    report.notes = accounting.notes()
    return report


def _all_tables(store: Store) -> set[str]:
    return {
        str(r[0])
        for r in store.query("SELECT name FROM system.tables WHERE database = 'agentaudit'").rows
    }


def _count(store: Store, table: str) -> int:
    return int(store.query(f"SELECT count() FROM agentaudit.{table}").rows[0][0])  # noqa: S608
