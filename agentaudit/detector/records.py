"""The detector's tables: findings (``agentaudit.findings``) and baselines
(``agentaudit.detector_baselines``), through the :class:`~agentaudit.store.Store`.

Both are ReplacingMergeTree on ``updated_at``: readers take the newest version per key
(``ORDER BY updated_at DESC LIMIT 1 BY …``), which is right with or without merges.

* :class:`FindingLog` writes a version of a finding each time its incident grows. Triage
  (``state``, ``triaged_by``, ``triage_reason``) belongs to responders: before writing,
  the log reads the newest stored version of each finding and carries its triage over,
  so a detector update never reopens a finding a responder acknowledged, nor drops the
  revocation id a responder's escalation recorded. (A triage
  written in the few milliseconds between that read and the detector's write loses to
  the detector's version; the responder's next action rewrites it.)
  :meth:`FindingLog.false_positives` lists the (agent, rule) pairs responders marked
  ``false_positive``: the detector's exceptions.
* :class:`BaselineLog` saves the baselines that changed **and the follower's position**
  (``{chain_id: last seq}``, in a row with an empty ``agent_id``) in one insert, so what
  is stored is always consistent: each saved baseline holds exactly the calls of the
  batches up to the saved position (a baseline not saved again had no calls since). A
  restart loads both and continues from the position: no call counted twice, none missed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

import pyarrow as pa

from agentaudit.detector.baseline import Baseline, Bounds
from agentaudit.detector.model import Finding, StoreHandle
from agentaudit.detector.unrecorded import Cursor

__all__ = ["POSITION_AGENT", "BaselineLog", "FindingLog", "Saved"]

log = logging.getLogger(__name__)

FINDINGS_TABLE: Final = "agentaudit.findings"
BASELINES_TABLE: Final = "agentaudit.detector_baselines"
POSITION_AGENT: Final = ""
"""``agent_id`` of the row holding the follower's position (no agent has an empty id:
calls without one are not baselined)."""

_MS = pa.timestamp("ms", tz="UTC")
_FINDINGS_SCHEMA = pa.schema(
    [
        ("ts", _MS),
        ("finding_id", pa.string()),
        ("updated_at", _MS),
        ("agent_id", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("tool_name", pa.string()),
        ("rule", pa.string()),
        ("severity", pa.string()),
        ("score", pa.float64()),
        ("summary", pa.string()),
        ("evidence", pa.string()),
        ("action", pa.string()),
        ("revocation_id", pa.string()),
        ("group_key", pa.string()),
        ("state", pa.string()),
        ("triaged_by", pa.string()),
        ("triage_reason", pa.string()),
    ]
)
_BASELINES_SCHEMA = pa.schema(
    [
        ("agent_id", pa.string()),
        ("updated_at", _MS),
        ("watermark", pa.int64()),
        ("baseline", pa.string()),
    ]
)


class _Clock:
    """Milliseconds that never repeat or go back: each version is newer than the last."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next_ms(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1_000_000, self._last + 1)
            return self._last


class FindingLog:
    """Writes finding versions, keeping responders' triage (module docstring)."""

    def __init__(self, store: StoreHandle) -> None:
        self._store = store
        self._clock = _Clock()

    def triage(self, findings: Sequence[Finding]) -> dict[str, tuple[str, str, str, str]]:
        """The newest stored ``(state, triaged_by, triage_reason, revocation_id)`` of these
        findings (a responder's escalation records its revocation there)."""
        if not findings:
            return {}
        rows = self._store.query(
            "SELECT finding_id, argMax(state, updated_at), argMax(triaged_by, updated_at), "
            "argMax(triage_reason, updated_at), argMax(revocation_id, updated_at) "
            "FROM agentaudit.findings "
            "WHERE agent_id IN {agents:Array(String)} AND finding_id IN {ids:Array(String)} "
            "GROUP BY finding_id",
            {
                "agents": sorted({f.agent_id for f in findings}),
                "ids": [f.finding_id for f in findings],
            },
        ).rows
        return {str(r[0]): (str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows}

    def write(self, findings: Sequence[Finding]) -> list[Finding]:
        """Insert a version of each finding; returns them as written (triage carried, and a
        stored revocation id kept when this version has none of its own)."""
        if not findings:
            return []
        triaged = self.triage(findings)
        now_ms = self._clock.next_ms()
        written = []
        for finding in findings:
            state, by, reason, revocation = triaged.get(
                finding.finding_id, (finding.state, "", "", "")
            )
            written.append(
                dataclasses.replace(
                    finding,
                    state=state or "open",
                    triaged_by=by,
                    triage_reason=reason,
                    revocation_id=finding.revocation_id or revocation,
                    updated_ns=now_ms * 1_000_000,
                )
            )
        table = pa.Table.from_pylist([_row(f) for f in written], schema=_FINDINGS_SCHEMA)
        self._store.insert_arrow(FINDINGS_TABLE, table)
        return written

    def false_positives(self) -> set[tuple[str, str]]:
        """(agent, rule) pairs with a finding whose newest state is ``false_positive``."""
        rows = self._store.query(
            "SELECT agent_id, rule FROM (SELECT agent_id, rule, argMax(state, updated_at) AS "
            "newest FROM agentaudit.findings GROUP BY agent_id, finding_id, rule) "
            "WHERE newest = 'false_positive' GROUP BY agent_id, rule"
        ).rows
        return {(str(agent), str(rule)) for agent, rule in rows}

    def newest(self, *, limit: int = 10_000) -> list[dict[str, Any]]:
        """The newest version of every finding (tests, replay comparisons)."""
        return self._store.query(
            "SELECT finding_id, agent_id, rule, severity, action, summary, revocation_id, "
            "session_id, trace_id, span_id, state, evidence FROM agentaudit.findings "
            "ORDER BY updated_at DESC LIMIT 1 BY finding_id LIMIT {limit:UInt32}",
            {"limit": limit},
        ).as_dicts()


def _row(finding: Finding) -> dict[str, Any]:
    return {
        "ts": finding.ts_ns // 1_000_000,
        "finding_id": finding.finding_id,
        "updated_at": finding.updated_ns // 1_000_000,
        "agent_id": finding.agent_id,
        "user_id": finding.user_id,
        "session_id": finding.session_id,
        "trace_id": finding.trace_id,
        "span_id": finding.span_id,
        "tool_name": finding.tool_name,
        "rule": finding.rule,
        "severity": finding.severity,
        "score": finding.score,
        "summary": finding.summary,
        "evidence": finding.evidence_json(),
        "action": finding.action,
        "revocation_id": finding.revocation_id,
        "group_key": finding.group_key,
        "state": finding.state,
        "triaged_by": finding.triaged_by,
        "triage_reason": finding.triage_reason,
    }


class Saved(NamedTuple):
    """What :meth:`BaselineLog.load` read."""

    baselines: dict[str, Baseline]
    position: dict[str, int]
    unrecorded: Cursor | None


class BaselineLog:
    """Saves and loads baselines with the follower's position (module docstring)."""

    def __init__(self, store: StoreHandle, *, bounds: Bounds | None = None) -> None:
        self._store = store
        self._bounds = bounds
        self._clock = _Clock()

    def save(
        self,
        baselines: Mapping[str, Baseline],
        position: Mapping[str, int],
        unrecorded: Cursor | None = None,
    ) -> int:
        """One insert: every baseline given, the position and the cursor of the
        unrecorded-call sweep (:mod:`~agentaudit.detector.unrecorded`). Returns the bytes
        written."""
        now_ms = self._clock.next_ms()
        rows: list[dict[str, Any]] = [
            {
                "agent_id": agent,
                "updated_at": now_ms,
                "watermark": b.watermark,
                "baseline": json.dumps(b.to_json(), separators=(",", ":")),
            }
            for agent, b in sorted(baselines.items())
            if agent != POSITION_AGENT
        ]
        rows.append(
            {
                "agent_id": POSITION_AGENT,
                "updated_at": now_ms,
                "watermark": 0,
                "baseline": json.dumps(
                    {
                        "follower": {
                            "position": dict(sorted(position.items())),
                            "unrecorded": list(unrecorded) if unrecorded else None,
                        }
                    }
                ),
            }
        )
        self._store.insert_arrow(
            BASELINES_TABLE, pa.Table.from_pylist(rows, schema=_BASELINES_SCHEMA)
        )
        return sum(len(r["baseline"]) for r in rows)

    def load(self, agents: Sequence[str] | None = None) -> Saved:
        """The newest saved baselines (of ``agents``, or all), the saved position and the
        unrecorded-call sweep's cursor.

        When a baseline cannot be read (another format after an upgrade, damaged), none
        is loaded and no position either, with a warning: the follower then starts from
        the first link of every chain and every baseline is rebuilt from the stored
        history (old calls are learned, never acted on). Loading the others and going on
        from the position would leave that agent learning from scratch — alerts only,
        no automatic action — until it completed a new learning period.
        """
        where = ""
        parameters: dict[str, Any] = {}
        if agents is not None:
            where = "WHERE agent_id IN {agents:Array(String)} "
            parameters["agents"] = [*agents, POSITION_AGENT]
        rows = self._store.query(
            f"SELECT agent_id, baseline FROM agentaudit.detector_baselines {where}"  # noqa: S608 - fixed text
            "ORDER BY updated_at DESC LIMIT 1 BY agent_id",
            parameters,
        ).rows
        baselines: dict[str, Baseline] = {}
        position: dict[str, int] = {}
        cursor: Cursor | None = None
        unreadable = 0
        for agent, text in rows:
            try:
                data = json.loads(text)
                if agent == POSITION_AGENT:
                    saved = data["follower"]["position"]
                    position = {str(chain): int(seq) for chain, seq in saved.items()}
                    swept = data["follower"].get("unrecorded")
                    if swept:
                        cursor = (int(swept[0]), str(swept[1]), str(swept[2]))
                else:
                    baselines[str(agent)] = Baseline.from_json(data, self._bounds)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                unreadable += 1
                log.warning("the saved baseline of %r cannot be read (%s)", agent, exc)
        if unreadable:
            log.warning(
                "%d saved baseline(s) cannot be read: every baseline is rebuilt from the "
                "stored history",
                unreadable,
            )
            return Saved({}, {}, cursor)
        return Saved(baselines, position, cursor)

    def raw(self, agent: str) -> dict[str, Any] | None:
        """The newest saved baseline JSON of one agent, as stored."""
        rows = self._store.query(
            "SELECT baseline FROM agentaudit.detector_baselines WHERE agent_id = {a:String} "
            "ORDER BY updated_at DESC LIMIT 1",
            {"a": agent},
        ).rows
        if not rows:
            return None
        data: dict[str, Any] = json.loads(rows[0][0])
        return data
