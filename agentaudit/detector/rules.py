"""The detector's rules: one class each, a stable name, its severity logic, one clause.

A rule looks at one call (:class:`Context`: the call, its
:class:`~agentaudit.detector.activity.Observation`, the agent's
:class:`~agentaudit.detector.reference.Reference`) and returns a :class:`Hit` or None.
Novelty rules (a tool, order, resource type, realm, resource, argument key, scope or
hour never seen) fire only against a frozen reference, and only where the baseline
rarely sees anything new (its Good-Turing chance of a new item is below ``[detector]
novelty``: a support bot that writes to new customers every day gets no finding for a
new customer). Level rules (fan-out, bursts) also run while an agent learns, against the
provisional reference, once it has 50 calls of that tool (or of the agent).

Severity: each rule has a base severity. It rises one step when the call followed
untrusted content without a verified approval (``risky``) and the rule is one where that
matters (``escalates``), and one more step when three or more rules hit the same call;
``critical`` at most (:func:`evaluate`). Fan-out ten times over its limit starts at
``critical``.

Each rule's :meth:`Rule.clause` says what happened and against what baseline; the
finding's summary adds where the calls' untrusted content came from and whether a human
approved them (:func:`summary`): "support-bot called send_email for 2,314 distinct
recipients in 4 minutes; in 30 days it never sent to more than 3 per session; the calls
followed untrusted content from ticket T-5512; no human approved them."
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol

from agentaudit.detector.activity import NS, Observation
from agentaudit.detector.baseline import HOURS
from agentaudit.detector.model import CallView
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.reference import WHOLE_TOOL, Reference, RefTool
from agentaudit.schema.identifiers import same_principal

__all__ = [
    "RULES",
    "RULE_NAMES",
    "Context",
    "Hit",
    "Incident",
    "Rule",
    "evaluate",
    "summary",
]

LOW: Final = 0
MEDIUM: Final = 1
HIGH: Final = 2
CRITICAL: Final = 3
MIN_HISTORY: Final = 50
"""Calls a provisional reference needs (of the tool, or of the agent) for a level rule."""
CRITICAL_TIMES: Final = 10
"""A level this many times over its limit is critical (fan-out) or high (bursts)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule firing on one call."""

    rule: str
    severity: int  # index into SEVERITIES
    score: float
    observed: Mapping[str, Any]
    baseline: Mapping[str, Any]
    items: tuple[str, ...] = ()
    across_sessions: bool = False  # an agent-wide rate: one incident across its sessions


class Incident(Protocol):
    """What a summary is written from: the hits of one (agent, rule, session) grouped."""

    @property
    def agent(self) -> str: ...
    @property
    def tool(self) -> str: ...
    @property
    def count(self) -> int: ...  # calls that hit
    @property
    def observed(self) -> Mapping[str, Any]: ...  # of the strongest hit
    @property
    def baseline(self) -> Mapping[str, Any]: ...
    @property
    def items(self) -> Sequence[str]: ...
    @property
    def sources(self) -> Sequence[str]: ...  # untrusted source refs
    @property
    def approvals(self) -> Mapping[str, int]: ...  # verified / claimed / none -> calls


class Context:
    """One call as the rules see it."""

    __slots__ = ("agent", "call", "novelty", "ref", "seen", "settings", "tool")

    def __init__(
        self,
        agent: str,
        call: CallView,
        seen: Observation,
        ref: Reference,
        settings: DetectorSettings,
    ) -> None:
        self.agent = agent
        self.call = call
        self.seen = seen
        self.ref = ref
        self.tool: RefTool | None = ref.per_tool.get(seen.tool)
        self.settings = settings
        self.novelty = settings.novelty


# -- wording ---------------------------------------------------------------------------


def number(value: int) -> str:
    return f"{value:,}"


def duration(ns: int) -> str:
    seconds = max(0, ns) / NS
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            amount = round(seconds / size)
            return f"{amount} {unit}{'s' if amount != 1 else ''}"
    amount = max(1, round(seconds))
    return f"{amount} second{'s' if amount != 1 else ''}"


def history(days: float) -> str:
    """``30 days`` (or ``14 hours``) of history."""
    return duration(int(days * 86_400 * NS)) if days > 0 else "its history so far"


def listing(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def _surprise(p: float) -> float:
    return round(-math.log10(max(p, 1e-9)), 2)


def _limit(base: int, factor: float, margin: int) -> int:
    return max(math.ceil(base * factor), base + margin)


def _novel(candidates: Sequence[str], known: set[str] | dict[str, int]) -> tuple[str, ...]:
    for item in candidates:
        if item not in known:
            return tuple(item for item in candidates if item not in known)
    return ()


# -- rules -----------------------------------------------------------------------------


class Rule:
    """A rule: ``name`` is stable (policy keys, findings, dashboards use it)."""

    name: ClassVar[str]
    severity: ClassVar[int]
    learning: ClassVar[bool] = False  # also evaluated while the agent learns
    escalates: ClassVar[bool] = False  # risky provenance raises its severity
    about: ClassVar[str]

    def check(self, c: Context) -> Hit | None:
        raise NotImplementedError

    def clause(self, i: Incident) -> str:
        raise NotImplementedError

    def hit(
        self,
        score: float,
        observed: Mapping[str, Any],
        baseline: Mapping[str, Any],
        items: tuple[str, ...] = (),
        *,
        severity: int | None = None,
        across_sessions: bool = False,
    ) -> Hit:
        chosen = self.severity if severity is None else severity
        return Hit(self.name, chosen, score, observed, baseline, items, across_sessions)


class NewTool(Rule):
    name = "new_tool"
    severity = MEDIUM
    escalates = True
    about = "a tool the agent never used"

    def check(self, c: Context) -> Hit | None:
        ref, tool = c.ref, c.seen.tool
        if ref.p_tools >= c.novelty or tool in ref.tools:  # p is 1 until frozen
            return None
        return self.hit(
            _surprise(ref.p_tools),
            {"tool": tool},
            {
                "tools": len(ref.tools),
                "calls": ref.calls,
                "p_new": ref.p_tools,
                "days": ref.history_days,
            },
            (tool,),
        )

    def clause(self, i: Incident) -> str:
        b = i.baseline
        return (
            f"{i.agent} called {i.tool}, a tool it never used in {history(b['days'])} "
            f"({number(b['calls'])} calls of {b['tools']} tools)"
        )


class NewTransition(Rule):
    name = "new_transition"
    severity = LOW
    about = "one tool right after another, in an order never seen"

    def check(self, c: Context) -> Hit | None:
        ref, seen = c.ref, c.seen
        previous = seen.previous_tool
        if ref.p_transitions >= c.novelty or not previous or c.tool is None:
            return None
        if previous not in ref.tools:
            return None
        step = f"{previous} -> {seen.tool}"
        if step in ref.transitions:
            return None
        return self.hit(
            _surprise(ref.p_transitions),
            {"transition": step},
            {
                "transitions": len(ref.transitions),
                "p_new": ref.p_transitions,
                "days": ref.history_days,
            },
            (step,),
        )

    def clause(self, i: Incident) -> str:
        return (
            f"{i.agent} called {listing(list(i.items))}, an order of tools never seen in "
            f"{history(i.baseline['days'])} ({i.baseline['transitions']} known)"
        )


class _ToolNovelty(Rule):
    """A new item in one of the tool's families: the call's ``Observation.<seen>`` items
    against the reference's ``RefTool.<family>`` (types, realms, resources, keys)."""

    noun: ClassVar[str]
    family: ClassVar[str] = ""  # RefTool.<family>, RefTool.p_<family>
    seen: ClassVar[str] = ""  # Observation.<seen>
    p_family: ClassVar[str] = ""

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.p_family = f"p_{cls.family}"  # named once: check() runs for every call

    def check(self, c: Context) -> Hit | None:
        tool, found = c.tool, getattr(c.seen, self.seen)
        if tool is None or not found:
            return None
        p = getattr(tool, self.p_family)
        if p >= c.novelty:  # p is 1 until frozen
            return None
        known = getattr(tool, self.family)
        new = _novel(found, known)
        return self.found(c, tool, new, known, p) if new else None

    def found(
        self, c: Context, tool: RefTool, new: tuple[str, ...], known: set[str], p: float
    ) -> Hit:
        return self.hit(
            _surprise(p),
            {"new": list(new)},
            {"known": len(known), "calls": tool.calls, "p_new": p, "days": c.ref.history_days},
            new,
        )

    def clause(self, i: Incident) -> str:
        b = i.baseline
        return (
            f"{i.agent} used {i.tool} with {self.noun} {listing(list(i.items))}, never seen in "
            f"{number(b['calls'])} {i.tool} calls over {history(b['days'])}"
        )


class NewResourceType(_ToolNovelty):
    name = "new_resource_type"
    severity = MEDIUM
    escalates = True
    noun = "resource type"
    family = seen = "types"
    about = "a resource type (the prefix of a resource id) the tool never touched"


class NewRecipientDomain(_ToolNovelty):
    name = "new_recipient_domain"
    severity = MEDIUM
    escalates = True
    noun = "recipient domain, host or account"
    family = seen = "realms"
    about = "a recipient domain, host or account (repository owner, ...) never reached"


class NewResource(_ToolNovelty):
    name = "new_resource"
    severity = LOW
    escalates = True
    noun = "resource"
    family = seen = "resources"
    about = "a resource (recipient, repository, record) the tool never touched"


class ArgumentShape(_ToolNovelty):
    name = "argument_shape"
    severity = LOW
    noun = "argument"
    about = "a top-level argument key the tool never had"

    def check(self, c: Context) -> Hit | None:
        tool, shape = c.tool, c.seen.shape
        if tool is None or not shape or tool.p_keys >= c.novelty or shape in tool.shapes:
            return None
        new = _novel(shape.split(","), tool.keys)
        return self.found(c, tool, new, tool.keys, tool.p_keys) if new else None


class FanOut(Rule):
    name = "fan_out"
    severity = HIGH
    learning = True
    escalates = True
    about = "far more distinct resources per session or time window than ever"

    def check(self, c: Context) -> Hit | None:
        seen = c.seen
        if not seen.resources:
            return None
        ref, tool, settings = c.ref, c.tool, c.settings
        if not ref.frozen and (tool is None or tool.calls < MIN_HISTORY):
            return None
        holder = tool if tool is not None else ref
        limits = holder.limits
        if limits is None:
            factor, margin = settings.fanout_factor, settings.fanout_margin
            limits = holder.limits = (
                _limit(holder.session_max, factor, margin),
                _limit(holder.window_max, factor, margin),
            )
        if seen.session_count <= limits[0] and seen.window_count <= limits[1]:
            return None
        for per, count, base, limit, saturated in (
            ("session", seen.session_count, holder.session_max, limits[0], seen.session_saturated),
            ("window", seen.window_count, holder.window_max, limits[1], seen.window_saturated),
        ):
            if count <= limit:
                continue
            first = seen.session_first_ns if per == "session" else seen.window_first_ns
            seconds = seen.ts_ns - first
            recipients = any("@" in r or "email" in r for r in seen.resources)
            return self.hit(
                round(count / max(base, 1), 2),
                {
                    "distinct": count,
                    "per": per,
                    "saturated": saturated,
                    "span_ns": seconds,
                    "noun": "recipients" if recipients else "resources",
                },
                {
                    "max": base,
                    "limit": limit,
                    "per": per,
                    "days": ref.history_days,
                    "window_seconds": settings.window_seconds,
                    "reference": ref.kind,
                },
                severity=CRITICAL if count > CRITICAL_TIMES * limit else HIGH,
                across_sessions=per == "window",
            )
        return None

    def clause(self, i: Incident) -> str:
        o, b = i.observed, i.baseline
        noun = o["noun"]
        verb = "sent to" if noun == "recipients" else "touched"
        per = "session" if b["per"] == "session" else f"{duration(int(b['window_seconds'] * NS))}"
        at_least = "at least " if o["saturated"] else ""
        return (
            f"{i.agent} called {i.tool} for {at_least}{number(o['distinct'])} distinct {noun} "
            f"in {duration(o['span_ns'])}; in {history(b['days'])} it never {verb} more than "
            f"{number(b['max'])} per {per}"
        )


class Burst(Rule):
    name = "burst"
    severity = MEDIUM
    learning = True
    escalates = True
    about = "far more calls in a minute than ever"

    def check(self, c: Context) -> Hit | None:
        ref, count = c.ref, c.seen.minute_count
        limit = ref.minute_limit
        if limit is None:
            limit = ref.minute_limit = _limit(
                ref.minute_max, c.settings.burst_factor, c.settings.burst_margin
            )
        if count <= limit or (not ref.frozen and ref.calls < MIN_HISTORY):
            return None
        return self.hit(
            round(count / max(ref.minute_max, 1), 2),
            {"per_minute": count},
            {
                "minute_max": ref.minute_max,
                "limit": limit,
                "days": ref.history_days,
                "reference": ref.kind,
            },
            severity=HIGH if count > CRITICAL_TIMES * limit else MEDIUM,
            across_sessions=True,
        )

    def clause(self, i: Incident) -> str:
        o, b = i.observed, i.baseline
        return (
            f"{i.agent} made {number(o['per_minute'])} calls in one minute; in "
            f"{history(b['days'])} it never made more than {number(b['minute_max'])}"
        )


class OffHours(Rule):
    name = "off_hours"
    severity = LOW
    about = "activity in an hour of the day (UTC) the agent was never active in"

    def check(self, c: Context) -> Hit | None:
        ref = c.ref
        if ref.p_hours >= c.novelty:  # p is 1 until frozen
            return None
        hour = HOURS[c.seen.hour]
        if hour in ref.hours:
            return None
        return self.hit(
            _surprise(ref.p_hours),
            {"hour": hour},
            {"hours": sorted(ref.hours), "days": ref.history_days},
            (hour,),
            across_sessions=True,
        )

    def clause(self, i: Incident) -> str:
        hours = ", ".join(f"{h}:00" for h in i.items[:4])
        return (
            f"{i.agent} acted at {hours} UTC, hours it was never active in during "
            f"{history(i.baseline['days'])}"
        )


class UntrustedUnapproved(Rule):
    name = "untrusted_unapproved"
    severity = MEDIUM
    about = "prompted by untrusted content, no verified approval, on a tool that never was"

    def check(self, c: Context) -> Hit | None:
        tool = c.tool
        if tool is None or not c.seen.risky or not c.ref.frozen or tool.untrusted_unverified:
            return None
        p = 1 / (tool.calls + 1)
        if p >= c.novelty:
            return None
        return self.hit(
            _surprise(p),
            {"source_refs": list(c.call.source_refs), "approval": c.call.approval_status},
            {"calls": tool.calls, "untrusted_unverified": 0, "days": c.ref.history_days},
        )

    def clause(self, i: Incident) -> str:
        b = i.baseline
        return (
            f"{i.agent} called {i.tool} after reading untrusted content, without a verified "
            f"approval; none of its {number(b['calls'])} {i.tool} calls in "
            f"{history(b['days'])} was"
        )


class ApprovalSkipped(Rule):
    name = "approval_skipped"
    severity = MEDIUM
    escalates = True
    about = "no verified approval, where every earlier call (of the tool, or to the realm) had one"

    def check(self, c: Context) -> Hit | None:
        tool = c.tool
        if tool is None or not tool.approved_only or c.call.approval_verified:
            return None
        required = tool.approved_only
        skipped = [r for r in (*c.seen.realms, WHOLE_TOOL) if r in required]
        if not skipped:
            return None
        realm = skipped[0]  # a realm rather than the whole tool, where one applies
        approved = required[realm]
        return self.hit(
            _surprise(1 / (approved + 1)),
            {"approval": c.call.approval_status or "none"},
            {"approved_calls": approved, "days": c.ref.history_days},
            () if realm == WHOLE_TOOL else (realm,),
        )

    def clause(self, i: Incident) -> str:
        b = i.baseline
        there = f" for {listing(list(i.items))}" if i.items else ""
        return (
            f"{i.agent} called {i.tool}{there} without a verified approval; all "
            f"{number(b['approved_calls'])} of its earlier such calls in {history(b['days'])} "
            "carried one"
        )


class NewScope(Rule):
    name = "new_scope"
    severity = MEDIUM
    escalates = True
    about = "a credential scope the agent never exercised"

    def check(self, c: Context) -> Hit | None:
        ref, scopes = c.ref, c.call.credential_scopes
        if not scopes or ref.p_scopes >= c.novelty:  # p is 1 until frozen
            return None
        new = _novel(scopes, ref.scopes)
        if not new:
            return None
        return self.hit(
            _surprise(ref.p_scopes),
            {"scopes": list(new)},
            {"scopes": sorted(ref.scopes), "days": ref.history_days},
            new,
        )

    def clause(self, i: Incident) -> str:
        return (
            f"{i.agent} used credential scope {listing(list(i.items))} with {i.tool}, never "
            f"exercised in {history(i.baseline['days'])}"
        )


class IdentityMismatch(Rule):
    name = "identity_mismatch"
    severity = MEDIUM
    learning = True
    about = "a call sent with one agent's token claiming to be another agent"

    def check(self, c: Context) -> Hit | None:
        call = c.call
        sender, claimed = call.authenticated_agent, call.agent_id
        if not sender or not claimed or sender == claimed or same_principal(sender, claimed):
            return None
        return self.hit(5.0, {"claimed": claimed, "sender": sender}, {}, (claimed,))

    def clause(self, i: Incident) -> str:
        return (
            f"calls sent with the token of agent {i.agent} claimed to come from "
            f"{listing(list(i.items))}"
        )


class ClaimedTime(Rule):
    """A call's claimed time, which its receipt contradicts.

    The detector already counts such a call near its receipt (``engine.clock_ns``); this
    makes the claim itself a finding, dated by the detector's clock, so responders whose
    views filter by the calls' claimed time still see it. The claimed *end* (start plus
    duration) is compared: a span is exported after it ends, so a long tool call is not a
    hit, and an end claimed after the receipt (a duration or a clock forged to hide a
    backdated start) is one.
    """

    name = "claimed_time"
    severity = MEDIUM
    learning = True
    about = "a call whose claimed time is far from when the collector received it"

    def check(self, c: Context) -> Hit | None:
        call = c.call
        received = call.received_ns
        if not received:
            return None
        tolerance = c.settings.max_claimed_age_seconds * NS
        offset = call.ts_ns + call.duration_ns - received  # claimed end - receipt
        if abs(offset) <= tolerance:
            return None
        return self.hit(
            round(min(10.0, abs(offset) / tolerance), 2),
            {"offset_seconds": round(offset / NS, 3)},
            {"max_claimed_age_seconds": c.settings.max_claimed_age_seconds},
            ("ahead" if offset > 0 else "behind",),
            across_sessions=True,
        )

    def clause(self, i: Incident) -> str:
        offset = i.observed["offset_seconds"]
        side = "after" if offset > 0 else "before"
        return (
            f"{i.agent} sent calls claiming to end up to {duration(int(abs(offset) * NS))} "
            f"{side} the collector received them (the detector believes at most "
            f"{duration(int(i.baseline['max_claimed_age_seconds'] * NS))} before receipt): "
            "a forged or broken clock; they were counted at their receipt"
        )


# ``off_card`` builds on the classes above (card_rule imports them; the package's
# __init__ loads this module first). Registered without a catalog it never fires: a
# Detector given ``catalog=`` swaps in one that reads it (engine.py).
from agentaudit.detector.card_rule import OffCard  # noqa: E402

RULES: Final[tuple[Rule, ...]] = (
    FanOut(),
    Burst(),
    NewTool(),
    NewTransition(),
    NewResourceType(),
    NewRecipientDomain(),
    NewResource(),
    ArgumentShape(),
    UntrustedUnapproved(),
    ApprovalSkipped(),
    NewScope(),
    OffHours(),
    IdentityMismatch(),
    ClaimedTime(),
    OffCard(),
)
RULE_NAMES: Final = frozenset(rule.name for rule in RULES)
BY_NAME: Final[Mapping[str, Rule]] = {rule.name: rule for rule in RULES}
LEARNING_RULES: Final[tuple[Rule, ...]] = tuple(rule for rule in RULES if rule.learning)


def evaluate(c: Context, rules: Sequence[Rule]) -> list[Hit]:
    """The hits of one call, with severities raised where indicators coincide."""
    hits = []
    for rule in rules:
        found = rule.check(c)
        if found is not None:
            hits.append(found)
    if not hits:
        return hits
    risky, crowd = c.seen.risky, len(hits) >= 3
    raised = []
    for hit in hits:
        severity = hit.severity + (risky and BY_NAME[hit.rule].escalates) + crowd
        if severity != hit.severity:
            severity = min(severity, CRITICAL)
            hit = dataclasses.replace(hit, severity=severity)  # noqa: PLW2901
        raised.append(hit)
    return raised


def _source(ref: str) -> str:
    kind, sep, rest = ref.partition(":")
    return f"{kind} {rest}" if sep and rest else ref


def summary(i: Incident, rule: str) -> str:
    """One sentence: what happened, against what baseline, provenance and approval."""
    parts = [BY_NAME[rule].clause(i)]
    subject = "the call" if i.count == 1 else "the calls"
    if i.sources:
        shown = listing([_source(s) for s in i.sources], 2)
        parts.append(f"{subject} followed untrusted content from {shown}")
    verified, claimed = i.approvals.get("verified", 0), i.approvals.get("claimed", 0)
    them = "it" if i.count == 1 else "them"
    if verified >= i.count:
        parts.append(f"a verified human approval covered {them}")
    elif verified:
        parts.append(f"only {verified} of {them} carried a verified approval")
    elif claimed:
        parts.append(f"a human approval was claimed for {them} but never verified")
    else:
        parts.append(f"no human approved {them}")
    return "; ".join(parts) + "."
