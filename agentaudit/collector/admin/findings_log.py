"""Triage persistence of ``agentaudit.findings``: newest versions, and new version rows.

The detector writes a finding as one row (state ``open``). Every triage change is a
new *version row* of the same ``finding_id`` (ReplacingMergeTree on ``updated_at``):
it copies every column of the newest version and changes only ``updated_at`` (strictly
later than the version it replaces), ``state``, ``triaged_by``, ``triage_reason`` and,
on an escalation, ``revocation_id``. Readers take the newest version per finding with
``ORDER BY updated_at DESC LIMIT 1 BY finding_id``, which is right with or without
merges; old versions stay until ClickHouse merges them away.

Standard library and the Store only (no HTTP): the routes are in
:mod:`~agentaudit.collector.admin.findings_api`.
"""

# S608: the f-strings below splice only this module's column names; every value is a
# server-side parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from agentaudit.store import Store

__all__ = ["EXCEPTIONS_SQL", "FindingRecord", "FindingsLog"]

_COLUMNS: Final = (
    "finding_id", "agent_id", "user_id", "session_id", "trace_id", "span_id", "tool_name",
    "rule", "severity", "score", "summary", "evidence", "action", "revocation_id", "group_key",
    "state", "triaged_by", "triage_reason",
)  # fmt: skip
_SELECT: Final = (
    f"SELECT toUnixTimestamp64Milli(ts), toUnixTimestamp64Milli(updated_at), "
    f"{', '.join(_COLUMNS)} FROM agentaudit.findings"
)
_NEWEST: Final = " ORDER BY updated_at DESC LIMIT 1 BY finding_id"
_LISTING: Final = (
    f"SELECT * FROM ({_SELECT} WHERE {{agent:String}} = '' OR agent_id = {{agent:String}}"
    f"{_NEWEST}) WHERE empty({{states:Array(String)}}) OR has({{states:Array(String)}}, state) "
    "ORDER BY 1 DESC, finding_id LIMIT {limit:UInt32}"
)
_INSERT: Final = (
    f"INSERT INTO agentaudit.findings (ts, updated_at, {', '.join(_COLUMNS)}) VALUES ("
    "fromUnixTimestamp64Milli({ts_ms:Int64}), fromUnixTimestamp64Milli({updated_ms:Int64}), "
    + ", ".join(f"{{{c}:Float64}}" if c == "score" else f"{{{c}:String}}" for c in _COLUMNS)
    + ")"
)

EXCEPTIONS_SQL: Final = (
    "SELECT DISTINCT agent_id, rule FROM (SELECT agent_id, rule, state "
    f"FROM agentaudit.findings{_NEWEST}) WHERE state = 'false_positive'"
)
"""The (agent_id, rule) pairs a responder marked false positive: the detector's exceptions."""


@dataclass(frozen=True)
class FindingRecord:
    """One version of a ``findings`` row (times in epoch milliseconds)."""

    finding_id: str
    ts_ms: int
    updated_ms: int
    agent_id: str
    user_id: str
    session_id: str
    trace_id: str
    span_id: str
    tool_name: str
    rule: str
    severity: str
    score: float
    summary: str
    evidence: str
    action: str
    revocation_id: str
    group_key: str
    state: str
    triaged_by: str
    triage_reason: str

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> FindingRecord:
        values = dict(zip(_COLUMNS, row[2:], strict=True))
        return cls(
            ts_ms=int(row[0]),
            updated_ms=int(row[1]),
            score=float(values.pop("score")),
            **{name: str(value) for name, value in values.items()},
        )

    def to_json(self) -> dict[str, Any]:
        """The finding as the API answers it: ``evidence`` parsed when it is JSON."""
        try:
            evidence: Any = json.loads(self.evidence)
        except ValueError:
            evidence = self.evidence
        return {
            "finding_id": self.finding_id,
            "ts": _iso(self.ts_ms),
            "updated_at": _iso(self.updated_ms),
            "agent_id": self.agent_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "tool_name": self.tool_name,
            "rule": self.rule,
            "severity": self.severity,
            "score": self.score,
            "summary": self.summary,
            "evidence": evidence,
            "action": self.action,
            "revocation_id": self.revocation_id,
            "group_key": self.group_key,
            "state": self.state,
            "triaged_by": self.triaged_by,
            "triage_reason": self.triage_reason,
        }


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class FindingsLog:
    """Reads the newest version of findings and writes triage versions; thread-safe."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()

    def newest(self, finding_id: str) -> FindingRecord | None:
        """The newest version of one finding, or None."""
        rows = self._store.query(
            _SELECT + " WHERE finding_id = {id:String} ORDER BY updated_at DESC LIMIT 1",
            {"id": finding_id},
        ).rows
        return FindingRecord.from_row(rows[0]) if rows else None

    def listing(
        self, *, states: Sequence[str] = (), agent: str = "", limit: int = 100
    ) -> list[FindingRecord]:
        """The newest version of each finding, newest finding first, filtered by its
        current state (any of ``states``; all when empty) and agent."""
        parameters = {"agent": agent, "states": list(states), "limit": limit}
        rows = self._store.query(_LISTING, parameters).rows
        return [FindingRecord.from_row(row) for row in rows]

    def triage(
        self,
        finding_id: str,
        *,
        state: str,
        triaged_by: str,
        reason: str,
        revocation_id: str = "",
    ) -> FindingRecord:
        """Write a new version of the finding's newest version with the new triage
        fields (and ``revocation_id`` when given); return it. LookupError when the
        finding does not exist."""
        with self._lock:  # read-then-write: one triage version at a time
            current = self.newest(finding_id)
            if current is None:
                raise LookupError(f"no finding {finding_id}")
            version = replace(
                current,
                updated_ms=max(round(self._clock() * 1000), current.updated_ms + 1),
                state=state,
                triaged_by=triaged_by,
                triage_reason=reason,
                revocation_id=revocation_id or current.revocation_id,
            )
            self._write(version)
        return version

    def _write(self, record: FindingRecord) -> None:
        self._store.command(
            _INSERT,
            {
                "ts_ms": record.ts_ms,
                "updated_ms": record.updated_ms,
                **{name: getattr(record, name) for name in _COLUMNS},
            },
        )
