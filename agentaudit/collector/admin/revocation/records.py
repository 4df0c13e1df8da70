"""Persistence of the revocation path in ClickHouse, through the collector's Store.

* :class:`RevocationLog` — ``agentaudit.revocations``: one version row per state change
  of a revocation or release (``pending`` → ``done``/``partial``/``failed``; or
  ``refused``), with per-backend results as JSON strings in ``results``.
* :class:`ClickHouseDenyListStore` — ``agentaudit.denylist``, the broker's
  :class:`~agentaudit.broker.DenyListStore`.

Both tables are ReplacingMergeTree on ``updated_at``: readers take the newest version
with ``argMax`` / ``ORDER BY ... LIMIT 1 BY``, which is correct with or without merges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentaudit.broker import DenyEntry
from agentaudit.store import Store

__all__ = ["ClickHouseDenyListStore", "RevocationLog", "RevocationRecord"]


def _micros(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1_000_000)


@dataclass(frozen=True)
class RevocationRecord:
    """One version of a ``revocations`` row."""

    id: str
    action: str
    target: str
    target_id: str
    reason: str
    requested_by: str
    status: str
    requested_at: float
    updated_at: float
    results: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "target": self.target,
            "target_id": self.target_id,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "status": self.status,
            "requested_at": self.requested_at,
            "updated_at": self.updated_at,
            "results": dict(self.results),
        }


_SELECT = (
    "SELECT id, action, target, target_id, reason, requested_by, status, "
    "toUnixTimestamp64Milli(requested_at) / 1000, toUnixTimestamp64Milli(updated_at) / 1000, "
    "results FROM agentaudit.revocations "
)


class RevocationLog:
    """Writes and reads ``agentaudit.revocations`` version rows."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def write(self, record: RevocationRecord) -> None:
        keys = sorted(record.results)
        self._store.command(
            "INSERT INTO agentaudit.revocations (id, requested_at, updated_at, action, target, "
            "target_id, reason, requested_by, status, results) VALUES ({id:String}, "
            "fromUnixTimestamp64Milli({requested:Int64}), "
            "fromUnixTimestamp64Milli({updated:Int64}), "
            "{action:String}, {target:String}, {target_id:String}, {reason:String}, {by:String}, "
            "{status:String}, mapFromArrays({keys:Array(String)}, {values:Array(String)}))",
            parameters={
                "id": record.id,
                "requested": round(record.requested_at * 1000),
                "updated": round(record.updated_at * 1000),
                "action": record.action,
                "target": record.target,
                "target_id": record.target_id,
                "reason": record.reason,
                "by": record.requested_by,
                "status": record.status,
                "keys": keys,
                "values": [record.results[k] for k in keys],
            },
        )

    def get(self, revocation_id: str) -> RevocationRecord | None:
        """The newest version of one revocation, or None."""
        rows = self._store.query(
            _SELECT + "WHERE id = {id:String} ORDER BY updated_at DESC, status = 'pending' LIMIT 1",
            parameters={"id": revocation_id},
        ).rows
        return _record(rows[0]) if rows else None

    def recent(self, limit: int = 100) -> list[RevocationRecord]:
        """The newest version of the latest ``limit`` revocations, newest first."""
        rows = self._store.query(
            _SELECT
            + "ORDER BY updated_at DESC, status = 'pending' LIMIT 1 BY id LIMIT {limit:UInt32}",
            parameters={"limit": limit},
        ).rows
        return [_record(row) for row in rows]


def _record(row: tuple[Any, ...]) -> RevocationRecord:
    return RevocationRecord(
        id=row[0],
        action=row[1],
        target=row[2],
        target_id=row[3],
        reason=row[4],
        requested_by=row[5],
        status=row[6],
        requested_at=float(row[7]),
        updated_at=float(row[8]),
        results=dict(row[9]),
    )


class ClickHouseDenyListStore:
    """The broker's deny-list in ``agentaudit.denylist``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, entry: DenyEntry) -> None:
        self._store.command(
            "INSERT INTO agentaudit.denylist (kind, value, since, until, lifted_at, reason, "
            "revocation_id, updated_at) VALUES ({kind:String}, {value:String}, "
            "fromUnixTimestamp64Micro({since:Int64}), "
            "fromUnixTimestamp64Micro({until:Nullable(Int64)}), "
            "fromUnixTimestamp64Micro({lifted:Nullable(Int64)}), {reason:String}, "
            "{revocation:String}, fromUnixTimestamp64Micro({updated:Int64}))",
            parameters={
                "kind": entry.kind,
                "value": entry.value,
                "since": _micros(entry.since),
                "until": _micros(entry.until),
                "lifted": _micros(entry.lifted_at),
                "reason": entry.reason,
                "revocation": entry.revocation_id,
                "updated": _micros(entry.updated_at),
            },
        )

    def load(self) -> Iterable[DenyEntry]:
        rows = self._store.query(
            "SELECT kind, value, toUnixTimestamp64Micro(since), toUnixTimestamp64Micro(until), "
            "toUnixTimestamp64Micro(lifted_at), reason, revocation_id, "
            "toUnixTimestamp64Micro(updated_at) FROM agentaudit.denylist "
            "ORDER BY updated_at DESC LIMIT 1 BY kind, value"
        ).rows
        return [
            DenyEntry(
                kind=row[0],
                value=row[1],
                since=row[2] / 1e6,
                until=None if row[3] is None else row[3] / 1e6,
                lifted_at=None if row[4] is None else row[4] / 1e6,
                reason=row[5],
                revocation_id=row[6],
                updated_at=row[7] / 1e6,
            )
            for row in rows
        ]
