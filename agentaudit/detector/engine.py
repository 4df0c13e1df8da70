"""The detector engine: calls in, baselines updated, findings and actions out.

:meth:`Detector.process` takes one stored call at a time (in the order the follower
reads them: batch by batch, each batch by ``ts``). For the call's principal it

1. observes the call (live counters: session and window fan-out, calls this minute);
2. evaluates the rules against the agent's reference — the baseline *as it was*;
3. learns the call into the baseline;
4. records each hit in its incident: one finding per (agent, rule, session) while hits
   keep coming (within ``[detector] group_seconds`` of each other), updated as its
   evidence grows, with a deterministic ``finding_id`` (so a re-read batch updates the
   same finding instead of adding one);
5. asks the policy what to do (:class:`~agentaudit.detector.policy.Policy`): an
   incident only ever acts more strongly than it already did, and an agent still
   learning gets ``alert`` at most.

Nothing here touches the store or the network: :meth:`Detector.take_findings`,
:meth:`Detector.take_actions` and :meth:`Detector.take_baselines` hand what changed to
the caller (:mod:`~agentaudit.detector.service` persists and acts; ``detect --replay``
only prints). Calls with ``status = 'blocked'`` (refused by a quarantine) and calls
without any agent id are skipped. Calls whose ``ts`` is before :attr:`Detector.act_after_ns`
are history (read after a restart, backfilled, imported): they are learned and may raise
findings, but never an action nor an alert: such a finding's ``action`` is ``none`` (its
evidence says why) until a live call joins its incident.

Time: a call's ``ts`` is the agent's claim (its span's start); only ``received_at`` is
the collector's. Everything here runs on :func:`clock_ns`: the claim, kept within
``[detector] max_claimed_age_seconds`` before the call's receipt and never after it. So
an agent that forges its times can neither pass its calls off as history (never acted
on), nor spread a burst or a fan-out over claimed hours, nor show an item on past days
to have it promoted into its reference. A finding counts the calls whose claim was
moved (``evidence.retimed_calls``). Calls without a receipt time (``received_ns`` 0:
built by hand, not read from a store) keep their claim.

Rule ``off_card`` (:mod:`~agentaudit.detector.card_rule`) reads the identity-card catalog
given as ``catalog=`` (a :class:`~agentaudit.catalog.CatalogFile` follows edits); without
one it never fires.

Exceptions: (agent, rule) pairs a responder marked ``false_positive``
(:meth:`Detector.suppress`) raise nothing more for that agent; rules the policy turns off
neither. Not thread-safe: one thread drives a detector.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.catalog.enforcement import CatalogSource
from agentaudit.catalog.model import Catalog
from agentaudit.detector.activity import NS, Activity, Observation
from agentaudit.detector.baseline import Baseline, Bounds
from agentaudit.detector.card_rule import OffCard
from agentaudit.detector.model import SEVERITIES, CallView, Finding
from agentaudit.detector.policy import ACTION_RANK, AUTOMATIC, DetectorSettings
from agentaudit.detector.rules import (
    BY_NAME,
    LEARNING_RULES,
    RULES,
    Context,
    Hit,
    Rule,
    evaluate,
    summary,
)

__all__ = ["HISTORY", "ActionRequest", "Detector", "clock_ns"]

FINDING_NAMESPACE: Final = uuid.UUID("5b1f0a8e-2c4d-4f6e-9a7b-0d3c2e1f4a5b")
KEPT_CALLS: Final = 10
"""Triggering calls kept in a finding's evidence: the first and the latest this many."""
KEPT_ITEMS: Final = 20
MAX_INCIDENTS: Final = 10_000
"""Open incidents held in memory; past it the oldest are closed (their finding stays)."""
HISTORY: Final = "history: the call is older than the detector's action window"
"""Why an incident of history only neither acts nor alerts (``evidence.action.skipped``)."""


@dataclass(frozen=True)
class ActionRequest:
    """An automatic action the policy decided: carried out by an ``Actions``."""

    group_key: str
    finding_id: str
    agent: str
    action: str  # quarantine | revoke_credential
    credential_id: str
    trace_id: str
    span_id: str
    reason: str


def clock_ns(call: CallView, max_claimed_age_ns: int) -> int:
    """The detector's time of ``call``: its claimed ``ts`` clamped into
    ``[received - max_claimed_age_ns, received]`` (module docstring); the claim itself
    when the call has no receipt time."""
    ts, received = call.ts_ns, call.received_ns
    if not received:
        return ts
    if ts > received:
        return received
    return max(ts, received - max_claimed_age_ns)


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / NS, dt.timezone.utc).isoformat(timespec="milliseconds")


class _Agent:
    __slots__ = ("activity", "baseline", "dirty", "learning_rules", "rules")

    def __init__(self, baseline: Baseline, activity: Activity) -> None:
        self.baseline = baseline
        self.activity = activity
        self.dirty = False
        self.rules: tuple[Rule, ...] = RULES
        self.learning_rules: tuple[Rule, ...] = LEARNING_RULES


class _Incident:
    """The hits of one (agent, rule, session); what its finding is written from."""

    def __init__(self, key: str, agent: str, rule: str, call: CallView, ts: int) -> None:
        self.key = key
        self.agent = agent
        self.rule = rule
        self.session = call.session_id
        self.user = call.user_id
        self.tool = call.tool_name
        self.trace_id = call.trace_id
        self.span_id = call.span_id
        self.finding_id = uuid.uuid5(FINDING_NAMESPACE, f"{key}|{call.trace_id}|{call.span_id}").hex
        self.first_ns = self.last_ns = ts
        self.count = 0
        self.retimed = 0  # calls whose claimed time clock_ns moved
        self.severity = 0
        self.score = 0.0
        self.observed: Mapping[str, Any] = {}
        self.baseline: Mapping[str, Any] = {}
        self.items: list[str] = []
        self.sources: list[str] = []
        self.approvals: dict[str, int] = {"verified": 0, "claimed": 0, "none": 0}
        self.first_calls: list[tuple[str, str, int, str]] = []
        self.last_calls: deque[tuple[str, str, int, str]] = deque(maxlen=KEPT_CALLS)
        self.also: set[str] = set()
        self.learning = False
        self.decided = "none"  # the strongest action the policy decided so far
        self.requested = ""  # the automatic action asked for, if any
        self.skipped = ""  # why a decided action was not carried out
        self.revocation_id = ""
        self.action_error = ""

    def add(self, call: CallView, seen: Observation, hit: Hit, also: Iterable[str]) -> None:
        self.count += 1
        ts = seen.ts_ns
        if ts != call.ts_ns:
            self.retimed += 1
        self.first_ns = min(self.first_ns, ts)
        self.last_ns = max(self.last_ns, ts)
        if (hit.severity, hit.score) >= (self.severity, self.score) or not self.observed:
            self.severity, self.score = hit.severity, hit.score
            self.observed, self.baseline = hit.observed, hit.baseline
        for item in hit.items:
            if item not in self.items and len(self.items) < KEPT_ITEMS:
                self.items.append(item)
        for ref, trust in zip(call.source_refs, call.source_trust, strict=False):
            if trust == "untrusted" and ref not in self.sources and len(self.sources) < KEPT_ITEMS:
                self.sources.append(ref)
        if call.approval_verified:
            self.approvals["verified"] += 1
        elif call.approval_status not in ("", "none"):
            self.approvals["claimed"] += 1
        else:
            self.approvals["none"] += 1
        entry = (call.trace_id, call.span_id, ts, call.tool_name)
        if len(self.first_calls) < KEPT_CALLS:
            self.first_calls.append(entry)
        else:
            self.last_calls.append(entry)
        self.also.update(also)

    def action(self, acting: bool) -> str:
        """What the finding says was done: the decided action, or (acting) what was
        asked for; a skipped or failed automatic action leaves an alert (none for
        history)."""
        decided = self.decided
        if acting and self.action_error and not self.revocation_id:
            return "alert"  # the action failed (evidence.action.error): a human must act
        if acting and self.skipped == HISTORY:
            return "none"  # only history so far: recorded, not alerted
        if not acting or decided not in AUTOMATIC or self.requested == decided:
            return decided
        if self.requested:
            return self.requested
        return "alert"  # decided, not carried out (evidence.action.skipped says why)

    def finding(self, acting: bool) -> Finding:
        rule = BY_NAME[self.rule]
        action = self.action(acting)
        evidence: dict[str, Any] = {
            "rule": self.rule,
            "about": rule.about,
            "observed": dict(self.observed),
            "baseline": dict(self.baseline),
            "calls": self.count,
            "retimed_calls": self.retimed,
            "first_ts": _iso(self.first_ns),
            "last_ts": _iso(self.last_ns),
            "triggering_calls": [
                {"trace_id": trace, "span_id": span, "ts": _iso(ts), "tool": tool}
                for trace, span, ts, tool in (*self.first_calls, *self.last_calls)
            ],
            "untrusted_sources": list(self.sources),
            "approvals": dict(self.approvals),
            "items": list(self.items),
            "also": sorted(self.also),
            "learning": self.learning,
            "action": {
                "decided": self.decided,
                "requested": self.requested,
                "skipped": self.skipped,
                "error": self.action_error,
                "replay": not acting,
            },
        }
        return Finding(
            ts_ns=self.first_ns,
            agent_id=self.agent,
            rule=self.rule,
            severity=SEVERITIES[self.severity],
            score=float(self.score),
            summary=summary(self, self.rule),
            evidence=evidence,
            user_id=self.user,
            session_id=self.session,
            trace_id=self.trace_id,
            span_id=self.span_id,
            tool_name=self.tool,
            action=action,
            revocation_id=self.revocation_id,
            group_key=self.key,
            finding_id=self.finding_id,
        )


def _rules_for(
    catalog: Catalog | CatalogSource | None,
) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
    """RULES (and the learning ones) with ``off_card`` reading ``catalog``."""
    if catalog is None:
        return RULES, LEARNING_RULES
    card = OffCard(catalog)
    rules = tuple(card if r.name == card.name else r for r in RULES)
    return rules, tuple(r for r in rules if r.learning)


class Detector:
    """Baselines, rules and incidents for every agent (module docstring).

    ``act``: False for a replay (decided actions are reported, never requested).
    ``baselines``: baselines loaded from the store, keyed by agent.
    ``catalog``: the identity-card catalog rule ``off_card`` reads (None: it never fires).
    """

    def __init__(
        self,
        settings: DetectorSettings | None = None,
        *,
        baselines: Mapping[str, Baseline] | None = None,
        bounds: Bounds | None = None,
        act: bool = True,
        catalog: Catalog | CatalogSource | None = None,
    ) -> None:
        self.settings = settings or DetectorSettings()
        self._rules, self._learning_rules = _rules_for(catalog)
        self.bounds = bounds or Bounds()
        self.act = act
        self.act_after_ns: int | None = None
        """Calls with an earlier time (:func:`clock_ns`) are history: never acted on
        (None: all are live)."""
        self.calls = 0
        self.skipped = 0
        self._agents: dict[str, _Agent] = {}
        self._incidents: dict[str, _Incident] = {}
        self._dirty: dict[str, None] = {}
        self._actions: list[ActionRequest] = []
        self._suppressed: frozenset[tuple[str, str]] = frozenset()
        self._group_ns = int(self.settings.group_seconds * NS)
        self._max_claimed_age_ns = int(self.settings.max_claimed_age_seconds * NS)
        for agent, baseline in (baselines or {}).items():
            self._add_agent(agent, baseline)

    # -- reading -----------------------------------------------------------------------

    def baseline(self, agent: str) -> Baseline | None:
        held = self._agents.get(agent)
        return held.baseline if held is not None else None

    @property
    def agents(self) -> list[str]:
        return sorted(self._agents)

    # -- the hot path ------------------------------------------------------------------

    def process(self, call: CallView) -> None:
        """Evaluate one call, learn it, record its hits (module docstring)."""
        if call.status == "blocked":
            self.skipped += 1
            return
        key = call.authenticated_agent or call.agent_id
        if not key:
            self.skipped += 1
            return
        agent = self._agents.get(key)
        if agent is None:
            agent = self._add_agent(key, Baseline(key, self.bounds))
        baseline = agent.baseline
        activity = agent.activity
        seen = activity.observe(call, clock_ns(call, self._max_claimed_age_ns))
        reference = baseline.reference
        hits = None
        if reference is not None:
            rules = agent.learning_rules if baseline.learning else agent.rules
            hits = evaluate(Context(key, call, seen, reference, self.settings), rules)
        baseline.learn(call, seen, self.settings, activity.closed_minutes)
        agent.dirty = True
        self.calls += 1
        if hits:
            self._record(key, baseline, call, seen, hits)

    def process_all(self, calls: Iterable[CallView]) -> None:
        for call in calls:
            self.process(call)

    def _add_agent(self, key: str, baseline: Baseline) -> _Agent:
        agent = self._agents[key] = _Agent(baseline, baseline.activity(self.settings))
        self._select_rules(key, agent)
        return agent

    def _select_rules(self, key: str, agent: _Agent) -> None:
        policy, off = self.settings.policy, self._suppressed

        def wanted(rule: Rule) -> bool:
            return policy.enabled(key, rule.name) and (key, rule.name) not in off

        agent.rules = tuple(r for r in self._rules if wanted(r))
        agent.learning_rules = tuple(r for r in self._learning_rules if wanted(r))

    def _record(
        self, agent: str, baseline: Baseline, call: CallView, seen: Observation, hits: list[Hit]
    ) -> None:
        names = [hit.rule for hit in hits]
        for hit in hits:
            key = f"{agent}|{hit.rule}|{'*' if hit.across_sessions else call.session_id}"
            incident = self._incidents.get(key)
            if incident is None or seen.ts_ns - incident.last_ns > self._group_ns:
                if len(self._incidents) >= MAX_INCIDENTS:
                    self._close_oldest()
                incident = _Incident(key, agent, hit.rule, call, seen.ts_ns)
                self._incidents[key] = incident
            incident.add(call, seen, hit, (n for n in names if n != hit.rule))
            incident.learning = baseline.learning
            self._decide(incident, call, seen.ts_ns)
            self._dirty[key] = None

    def _decide(self, incident: _Incident, call: CallView, ts: int) -> None:
        decided = self.settings.policy.action(
            incident.agent,
            incident.rule,
            SEVERITIES[incident.severity],
            learning=incident.learning,
        )
        if ACTION_RANK[decided] > ACTION_RANK[incident.decided]:
            incident.decided = decided
        if not self.act:
            return
        if self.act_after_ns is not None and ts < self.act_after_ns:
            # History (backfilled, imported, a backlog): recorded, never acted on nor
            # alerted — an alert about last week's calls is not what on-call needs.
            if not incident.requested:
                incident.skipped = HISTORY
            return
        if incident.skipped == HISTORY:
            incident.skipped = ""  # a live call joined the incident: it is no longer history
        if decided not in AUTOMATIC:
            return
        if ACTION_RANK[decided] <= ACTION_RANK[incident.requested or "none"]:
            return
        credential = call.credential_id
        if decided == "revoke_credential" and not credential:
            incident.skipped = "the call carried no credential id to revoke"
            return
        incident.skipped = ""
        incident.requested = decided
        self._actions.append(
            ActionRequest(
                group_key=incident.key,
                finding_id=incident.finding_id,
                agent=incident.agent,
                action=decided,
                credential_id=credential,
                trace_id=call.trace_id,
                span_id=call.span_id,
                reason=f"detector: {summary(incident, incident.rule)}"[:1000],
            )
        )

    def _close_oldest(self) -> None:
        oldest = min(self._incidents.values(), key=lambda i: i.last_ns)
        self._incidents.pop(oldest.key, None)
        self._dirty.pop(oldest.key, None)

    # -- what changed ------------------------------------------------------------------

    def take_findings(self) -> list[Finding]:
        """The findings whose incidents changed since the last call (newest versions)."""
        keys, self._dirty = list(self._dirty), {}
        found = []
        for key in keys:
            incident = self._incidents.get(key)
            if incident is not None:
                found.append(incident.finding(self.act))
        self._close_idle()
        return found

    def open_findings(self) -> list[Finding]:
        """The current version of every incident held (a replay's result)."""
        return [incident.finding(self.act) for incident in self._incidents.values()]

    def _close_idle(self) -> None:
        newest = max((i.last_ns for i in self._incidents.values()), default=0)
        horizon = newest - self._group_ns
        if not self._incidents or min(i.last_ns for i in self._incidents.values()) >= horizon:
            return
        for key in [k for k, i in self._incidents.items() if i.last_ns < horizon]:
            if key not in self._dirty:
                del self._incidents[key]

    def take_actions(self) -> list[ActionRequest]:
        actions, self._actions = self._actions, []
        return actions

    def action_done(self, group_key: str, *, revocation_id: str = "", error: str = "") -> None:
        """Record the outcome of an action on its incident (its finding is rewritten)."""
        incident = self._incidents.get(group_key)
        if incident is None:
            return
        incident.revocation_id = revocation_id or incident.revocation_id
        incident.action_error = error
        self._dirty[group_key] = None

    def take_baselines(self) -> dict[str, Baseline]:
        """The baselines that learned something since the last call."""
        changed = {}
        for key, agent in self._agents.items():
            if agent.dirty:
                agent.dirty = False
                changed[key] = agent.baseline
        return changed

    # -- exceptions --------------------------------------------------------------------

    def suppress(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(agent, rule) pairs responders marked false positive: nothing more is raised."""
        pairs = frozenset(pairs)
        if pairs == self._suppressed:
            return
        self._suppressed = pairs
        for key, agent in self._agents.items():
            self._select_rules(key, agent)
        for key in [k for k, i in self._incidents.items() if (i.agent, i.rule) in pairs]:
            del self._incidents[key]
            self._dirty.pop(key, None)
