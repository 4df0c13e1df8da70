"""Legal holds: the rows of a session, an agent, a user or a time range, kept past retention.

A hold is two rows of ``agentaudit.legal_holds`` (``place``, then ``release``). While it is
placed:

* retention spares its rows: the TTL of every table retention may expire
  (:data:`~agentaudit.store.evidence._tables.HOLD_COLUMNS`) is rewritten as
  ``_written_at + N DELETE WHERE NOT (<the holds' conditions>)``
  (:func:`agentaudit.store.evidence.retention.apply_retention`), so ClickHouse itself
  keeps them — rows already past retention but not yet merged away included;
* what it keeps stays verifiable: per unit holding rows it covers (a tool_calls batch, an
  insert, a row) the held rows' count and digest are recorded in ``hold_units`` — when the
  hold is placed, and for rows written later by each seal (:func:`record_hold_units`).
  When retention removes the rest of a unit, ``verify`` checks the held rows against that
  record instead of the unit's own digest.

A time-range hold matches the rows whose event time (``ts``, ``Timestamp``, ``issued_at``)
or receipt by the store (``_written_at``) is in the range: the event time of a span is
its sender's claim. Session, agent and user holds match the row's own columns (for
``otel_traces``, the span attributes); an agent hold also matches the calls its token
sent under another id (``authenticated_agent``). An erasure is refused while a hold covers the
subject's rows (GDPR Art. 17(3)(e): legal claims).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from agentaudit.errors import AgentAuditError
from agentaudit.store import Store
from agentaudit.store.evidence._tables import (
    HOLD_COLUMNS,
    WRITTEN_AT,
    AuditTable,
    audit_tables,
    ident,
)
from agentaudit.store.evidence._units import unit_entries, unit_name, written_between
from agentaudit.store.sql_guard import quote_string

__all__ = [
    "HOLD_KINDS",
    "Hold",
    "HoldError",
    "HoldUnit",
    "active_holds",
    "held_units",
    "hold_condition",
    "holds_condition",
    "instant_us",
    "list_holds",
    "new_hold",
    "record_hold_units",
    "release_hold",
]

HOLD_KINDS = ("session", "agent", "user", "time")
MAX_SECONDS = 253_402_300_799
"""9999-12-31T23:59:59Z: the last time a hold's range may name."""
MAX_TEXT = 1024
"""The longest id or reason a hold records."""
HOLDS_TABLE = "agentaudit.legal_holds"
UNITS_TABLE = "agentaudit.hold_units"

_HOLD_SCHEMA = pa.schema(
    [
        ("hold_id", pa.string()),
        ("action", pa.string()),
        ("at", pa.timestamp("ms", tz="UTC")),
        ("actor", pa.string()),
        ("reason", pa.string()),
        ("kind", pa.string()),
        ("value", pa.string()),
        ("from_us", pa.int64()),
        ("to_us", pa.int64()),
    ]
)
_UNIT_SCHEMA = pa.schema(
    [
        ("hold_id", pa.string()),
        ("table", pa.string()),
        ("unit", pa.string()),
        ("row_count", pa.uint64()),
        ("rows_hash", pa.string()),
        ("columns", pa.list_(pa.string())),
        ("until_us", pa.int64()),
    ]
)


class HoldError(AgentAuditError):
    """A hold request that cannot be carried out (unknown hold, bad scope)."""


@dataclass(frozen=True)
class Hold:
    """One legal hold and, once released, its release."""

    hold_id: str
    kind: str
    value: str
    from_us: int
    to_us: int
    placed_ms: int
    placed_by: str
    reason: str
    released_ms: int = 0
    released_by: str = ""
    release_reason: str = ""

    @property
    def active(self) -> bool:
        return self.released_ms == 0

    def describe(self) -> str:
        if self.kind == "time":
            return f"time {_iso(self.from_us)} .. {_iso(self.to_us)}"
        return f"{self.kind} {self.value}"

    def to_json(self) -> dict[str, Any]:
        return {
            "hold_id": self.hold_id,
            "kind": self.kind,
            "value": self.value,
            "from": _iso(self.from_us) if self.kind == "time" else None,
            "to": _iso(self.to_us) if self.kind == "time" else None,
            "placed_at": _iso(self.placed_ms * 1000),
            "placed_by": self.placed_by,
            "reason": self.reason,
            "active": self.active,
            "released_at": _iso(self.released_ms * 1000) if self.released_ms else None,
            "released_by": self.released_by or None,
            "release_reason": self.release_reason or None,
        }


@dataclass(frozen=True)
class HoldUnit:
    """What a hold keeps of one unit: the held rows' count and digest over ``columns``."""

    hold_id: str
    table: str
    unit: str
    row_count: int
    rows_hash: str
    columns: tuple[str, ...]


def instant_us(value: object, what: str = "time") -> int:
    """An ISO 8601 date/time (UTC unless it says otherwise) or Unix seconds, in
    microseconds; HoldError naming ``what`` otherwise."""
    import datetime as dt

    if isinstance(value, bool):
        raise HoldError(f"{what}: {value!r} is not a time")
    if isinstance(value, int | float):
        if not 0 < value <= MAX_SECONDS:  # also NaN and the infinities JSON may carry
            raise HoldError(f"{what}: {value!r} is not a time between 1970 and 9999")
        return int(value * 1_000_000)
    if isinstance(value, str) and len(value) <= 64:
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.timezone.utc)
            return instant_us(moment.timestamp(), what)
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    raise HoldError(f"{what}: {shown} is not an ISO 8601 time (2026-11-01T09:00:00Z)")


def _iso(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def list_holds(store: Store) -> list[Hold]:
    """Every hold, oldest first."""
    placed: dict[str, Hold] = {}
    released: dict[str, tuple[int, str, str]] = {}
    for hold_id, action, at_ms, actor, reason, kind, value, from_us, to_us in store.query(
        "SELECT hold_id, action, toUnixTimestamp64Milli(at), actor, reason, kind, value, "
        "from_us, to_us FROM agentaudit.legal_holds ORDER BY at, hold_id"
    ).rows:
        if action == "place":
            placed.setdefault(
                str(hold_id),
                Hold(str(hold_id), str(kind), str(value), int(from_us), int(to_us), int(at_ms),
                     str(actor), str(reason)),
            )  # fmt: skip
        elif action == "release":
            released.setdefault(str(hold_id), (int(at_ms), str(actor), str(reason)))
    holds = []
    for hold in placed.values():
        ended = released.get(hold.hold_id)
        holds.append(hold if ended is None else _released(hold, *ended))
    return holds


def _released(hold: Hold, at_ms: int, actor: str, reason: str) -> Hold:
    return Hold(**{**hold.__dict__, "released_ms": at_ms, "released_by": actor,
                   "release_reason": reason})  # fmt: skip


def active_holds(store: Store) -> list[Hold]:
    return [h for h in list_holds(store) if h.active]


def hold_condition(table: str, hold: Hold) -> str:
    """SQL: the rows of ``table`` that ``hold`` covers (:class:`HoldColumns`)."""
    columns = HOLD_COLUMNS[table]
    if hold.kind == "time":
        start = f"fromUnixTimestamp64Micro(toInt64({hold.from_us}), 'UTC')"
        end = f"fromUnixTimestamp64Micro(toInt64({hold.to_us}), 'UTC')"
        ranges = [
            f"({column} >= {start} AND {column} <= {end})"
            for column in (columns.time, ident(WRITTEN_AT))
        ]
        return f"({' OR '.join(ranges)})"
    named = {"session": (columns.session,), "agent": columns.agents, "user": (columns.user,)}
    value = quote_string(hold.value)
    return f"({' OR '.join(f'{column} = {value}' for column in named[hold.kind])})"


def holds_condition(table: str, holds: Iterable[Hold]) -> str:
    """SQL: the rows of ``table`` any of ``holds`` covers (``0`` for none)."""
    parts = [hold_condition(table, h) for h in holds]
    return " OR ".join(parts) if parts else "0"


def new_hold(
    store: Store,
    *,
    kind: str,
    value: str = "",
    from_us: int = 0,
    to_us: int = 0,
    actor: str,
    reason: str,
) -> Hold:
    """Record a new hold (its TTL and snapshot are the caller's next steps:
    :func:`~agentaudit.store.evidence.retention.apply_retention`, then
    :func:`record_hold_units`)."""
    if kind not in HOLD_KINDS:
        raise HoldError(f"a hold is on one of {', '.join(HOLD_KINDS)}, not {kind!r}")
    if kind == "time":
        if not 0 < from_us <= to_us:
            raise HoldError("a time-range hold needs a start before its end")
        value = ""
    elif not value.strip():
        raise HoldError(f"a {kind} hold needs the {kind} id")
    if not reason.strip():
        raise HoldError("a hold needs a reason (the matter it is kept for)")
    if max(len(value), len(reason), len(actor)) > MAX_TEXT:
        raise HoldError(f"a hold's id, reason and requester are at most {MAX_TEXT} characters")
    hold = Hold(
        hold_id=uuid.uuid4().hex,
        kind=kind,
        value=value,
        from_us=from_us if kind == "time" else 0,
        to_us=to_us if kind == "time" else 0,
        placed_ms=time.time_ns() // 1_000_000,
        placed_by=actor,
        reason=reason,
    )
    _insert(store, hold, action="place", at_ms=hold.placed_ms, actor=actor, reason=reason)
    return hold


def release_hold(store: Store, hold_id: str, *, actor: str, reason: str) -> Hold:
    """Record the release of an active hold (its TTL is the caller's next step)."""
    hold = next((h for h in list_holds(store) if h.hold_id == hold_id), None)
    if hold is None:
        raise HoldError(f"no hold {hold_id!r}")
    if not hold.active:
        raise HoldError(f"hold {hold_id} was already released")
    if not reason.strip():
        raise HoldError("a release needs a reason")
    if max(len(reason), len(actor)) > MAX_TEXT:
        raise HoldError(f"a release's reason and requester are at most {MAX_TEXT} characters")
    at_ms = time.time_ns() // 1_000_000
    _insert(store, hold, action="release", at_ms=at_ms, actor=actor, reason=reason)
    return _released(hold, at_ms, actor, reason)


def _insert(store: Store, hold: Hold, *, action: str, at_ms: int, actor: str, reason: str) -> None:
    row = {
        "hold_id": hold.hold_id,
        "action": action,
        "at": at_ms,
        "actor": actor,
        "reason": reason,
        "kind": hold.kind,
        "value": hold.value,
        "from_us": hold.from_us,
        "to_us": hold.to_us,
    }
    store.insert_arrow(HOLDS_TABLE, pa.Table.from_pylist([row], schema=_HOLD_SCHEMA))


def _hold_tables(store: Store) -> list[AuditTable]:
    tables = audit_tables(store)
    return [tables[name] for name in HOLD_COLUMNS if name in tables and tables[name].written_at]


def record_hold_units(store: Store, until_us: int, holds: Iterable[Hold] | None = None) -> int:
    """Snapshot, for every active hold, the units it covers that were written since its
    previous snapshot and up to ``until_us``; returns how many units were recorded."""
    holds = list(active_holds(store) if holds is None else holds)
    if not holds:
        return 0
    recorded = {
        (str(h), str(t)): int(u)
        for h, t, u in store.query(
            "SELECT hold_id, table, max(until_us) FROM agentaudit.hold_units "
            "GROUP BY hold_id, table"
        ).rows
    }
    rows: list[dict[str, Any]] = []
    for table in _hold_tables(store):
        for hold in holds:
            since = recorded.get((hold.hold_id, table.name), 0)
            if since >= until_us:
                continue
            where = f"{written_between(since, until_us)} AND {hold_condition(table.name, hold)}"
            units = unit_entries(store, table, table.columns, where)
            rows += [
                {
                    "hold_id": hold.hold_id,
                    "table": table.name,
                    "unit": unit_name(table, entry),
                    "row_count": entry.row_count,
                    "rows_hash": entry.row_hash,
                    "columns": list(table.columns),
                    "until_us": until_us,
                }
                for entry in units
            ]
            # A marker row records how far this hold was snapshotted, units or none.
            rows.append(
                {
                    "hold_id": hold.hold_id,
                    "table": table.name,
                    "unit": "",
                    "row_count": 0,
                    "rows_hash": "",
                    "columns": [],
                    "until_us": until_us,
                }
            )
    if rows:
        store.insert_arrow(UNITS_TABLE, pa.Table.from_pylist(rows, schema=_UNIT_SCHEMA))
    return sum(1 for r in rows if r["unit"])


def held_units(store: Store, holds: Iterable[Hold]) -> dict[tuple[str, str], list[HoldUnit]]:
    """``(table, unit) -> what each of ``holds`` recorded of it``."""
    wanted = {h.hold_id for h in holds}
    found: dict[tuple[str, str], list[HoldUnit]] = {}
    if not wanted:
        return found
    for hold_id, table, unit, count, digest, columns in store.query(
        "SELECT hold_id, table, unit, row_count, rows_hash, columns FROM agentaudit.hold_units "
        "WHERE unit != '' AND hold_id IN {ids:Array(String)}",
        {"ids": sorted(wanted)},
    ).rows:
        found.setdefault((str(table), str(unit)), []).append(
            HoldUnit(str(hold_id), str(table), str(unit), int(count), str(digest),
                     tuple(str(c) for c in columns))
        )  # fmt: skip
    return found


def held_now(
    store: Store, table: AuditTable, hold: Hold, columns: tuple[str, ...]
) -> Mapping[str, tuple[int, str]]:
    """``unit -> (rows, digest)`` of the rows of ``table`` that ``hold`` covers now."""
    entries = unit_entries(store, table, columns, hold_condition(table.name, hold))
    return {unit_name(table, e): (e.row_count, e.row_hash) for e in entries}
