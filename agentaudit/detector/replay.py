"""Backtests and baselines without acting: ``agentaudit detect --replay`` / ``--explain``.

:func:`replay` runs a fresh detector over stored history, exactly as the live detector
reads it (batch by batch along the audit chain, each batch in ``ts`` order), from
``since`` on, and returns what it would have raised; nothing is written and no action is
taken (a finding's ``action`` is what the policy *would* have done). A detector started
on that store at ``since`` raises the same findings; baselines start empty at ``since``,
so the learning period applies as it would have.

:func:`explain_baseline` returns one agent's baseline: as saved by the running detector,
or rebuilt from the agent's history (``rebuild``, or when none was saved).

Both read through a :class:`~agentaudit.detector.follower.Source`: a store no process
holds, a ClickHouse server, or a running process's admin API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentaudit.catalog.model import Catalog
from agentaudit.detector.baseline import Baseline
from agentaudit.detector.engine import Detector
from agentaudit.detector.follower import CallRow, Follower, Source, agent_calls_sql
from agentaudit.detector.model import Finding
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.records import POSITION_AGENT
from agentaudit.store.sql_guard import quote_string

__all__ = ["ReplayResult", "explain_baseline", "replay"]

DAY_MS = 86_400_000
AGENT_PAGE = 20_000


@dataclass
class ReplayResult:
    """What a replay read and what it would have raised."""

    calls: int = 0
    batches: int = 0
    agents: set[str] = field(default_factory=set)
    first_ns: int = 0
    last_ns: int = 0
    findings: list[Finding] = field(default_factory=list)

    def top(self, count: int) -> list[Finding]:
        """The strongest findings: severity, then score, then time."""
        rank = {"critical": 3, "high": 2, "medium": 1, "low": 0}
        ordered = sorted(
            self.findings, key=lambda f: (rank[f.severity], f.score, -f.ts_ns), reverse=True
        )
        return ordered[:count]


def replay(
    source: Source,
    settings: DetectorSettings,
    *,
    since_ns: int,
    agent: str | None = None,
    progress: Callable[[int], None] | None = None,
    catalog: Catalog | None = None,
) -> ReplayResult:
    """Run the detector over the history from ``since_ns`` without acting (docstring);
    ``catalog``: the identity cards rule ``off_card`` judges against (None: it is idle)."""
    detector = Detector(settings, act=False, catalog=catalog)
    follower = Follower(
        source,
        since_ms=since_ns // 1_000_000 - DAY_MS,  # a batch is stored after its calls began
        since_ns=since_ns,
        contiguous=False,
    )
    result = ReplayResult()
    found: dict[str, Finding] = {}
    while True:
        batches = follower.poll()
        if not batches:
            break
        for _, calls in batches:
            result.batches += 1
            for call in calls:
                principal = call.principal
                if agent is not None and principal != agent:
                    continue
                detector.process(call)
                result.calls += 1
                result.agents.add(principal)
                if not result.first_ns or call.ts_ns < result.first_ns:
                    result.first_ns = call.ts_ns
                result.last_ns = max(result.last_ns, call.ts_ns)
        for finding in detector.take_findings():
            found[finding.finding_id] = finding
        if progress is not None:
            progress(result.calls)
    result.agents.discard("")
    result.findings = list(found.values())
    return result


def stored_baseline(source: Source, agent: str) -> dict[str, Any] | None:
    """The baseline the running detector saved for ``agent`` (its JSON), if any."""
    if agent == POSITION_AGENT:
        return None
    rows = source.rows(
        "SELECT baseline FROM agentaudit.detector_baselines "  # noqa: S608 - quoted literal
        f"WHERE agent_id = {quote_string(agent)} ORDER BY updated_at DESC LIMIT 1"
    )
    if not rows:
        return None
    data: dict[str, Any] = json.loads(rows[0][0])
    return data


def rebuild_baseline(source: Source, agent: str, settings: DetectorSettings) -> Baseline | None:
    """The baseline of ``agent`` learned afresh from all its stored calls, by ``ts``."""
    detector = Detector(settings, act=False)
    after: tuple[int, str] | None = None
    while True:
        rows = source.rows(agent_calls_sql(agent, after=after, limit=AGENT_PAGE))
        if not rows:
            break
        for values in rows:
            detector.process(CallRow(values))
        last = rows[-1]
        after = (int(last[0]), str(last[2]))
        if len(rows) < AGENT_PAGE:
            break
    return detector.baseline(agent)


def explain_baseline(
    source: Source, agent: str, settings: DetectorSettings, *, rebuild: bool = False
) -> tuple[dict[str, Any] | None, str]:
    """``(baseline JSON, where it came from)``: saved, else (or with ``rebuild``) rebuilt."""
    if not rebuild:
        saved = stored_baseline(source, agent)
        if saved is not None:
            return saved, "saved by the detector"
    rebuilt = rebuild_baseline(source, agent, settings)
    if rebuilt is None:
        return None, "no calls of this agent are stored"
    return rebuilt.to_json(), "rebuilt from the stored calls"
