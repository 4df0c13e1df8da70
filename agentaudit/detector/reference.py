"""The reference the rules compare with: a frozen snapshot of a baseline (poisoning resistance).

A baseline keeps learning from every call, attacks included; if the rules compared live
behaviour with it, an agent could walk its baseline toward an attack a little at a time
(a few more recipients each day) and never look unusual against yesterday. So the rules
compare with a :class:`Reference` instead:

* **Frozen at the end of learning.** When the agent completes its learning period the
  whole baseline is copied (:meth:`Reference.freeze`): every item it used, the chance of
  a new item in each family (Good-Turing), and the levels (most distinct resources per
  session and per window, per tool and overall; busiest minute).
* **Refreshed only with settled behaviour.** Every ``refresh_days`` (by the calls' own
  time) the reference takes in (:meth:`Reference.refreshed`):

  - items seen on at least ``promote_days`` different days, the first of them at least
    ``promote_days`` days ago (a one-off — an attack — is never promoted; an item used
    on three days was flagged on each of them first);
  - for each level, the ``promote_days``-th highest daily value of the last 30 days
    (a peak on one or two days never counts), and never more than ``growth`` times the
    current level (default 1.25: a level can at most double in about three refreshes);
  - each family's chance of a new item grows by the same factor at most, so flooding a
    family with one-off items cannot open it up.

  A slow drift is therefore measured against a level that follows it at ``growth`` per
  week at most, and is caught once it outruns ``fanout_factor`` times that level
  (tests/detector/test_poisoning.py shows a +1-recipient-a-day drift caught on day 12,
  which a comparison with the live baseline never catches).
* **Approved-only realms.** Per tool, the realms (``deploy:production``) — and ``*``, the
  tool itself — that it reached at least :data:`MIN_APPROVED` times, every time with a
  verified approval (:func:`approved_only`). A refresh keeps them until calls without
  one are settled behaviour (seen on ``promote_days`` days), and adds realms that became
  settled with approvals only; a realm reached once without approval (an attack) stays
  approved-only, so the next such call is flagged too.
* **Provisional while learning.** Until learning completes, the reference holds only the
  levels of the calls so far (rebuilt every 25 calls): enough for the level rules
  (fan-out, bursts) to raise alerts, never to act; the novelty rules wait for the frozen
  reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from agentaudit.detector.activity import DAY_NS, untrusted_unverified

if TYPE_CHECKING:
    from agentaudit.detector.baseline import Baseline, Items
    from agentaudit.detector.policy import DetectorSettings

__all__ = ["FROZEN", "MIN_APPROVED", "PROVISIONAL", "WHOLE_TOOL", "RefTool", "Reference"]

FROZEN: Final = "frozen"
PROVISIONAL: Final = "provisional"
LOOKBACK_DAYS: Final = 30
"""How far back the daily levels a refresh considers go."""
WHOLE_TOOL: Final = "*"
"""The approval realm of a tool itself (realms are ``@domain``, ``host:...``, ``kind:owner``)."""
MIN_APPROVED: Final = 2
"""Verified-approved calls a realm needs, and none without, to be approved-only."""


def _p(items: Items) -> float:
    return items.p_new()


def _members(family: str, items: Iterable[str]) -> set[str]:
    """The reference's set of a family: argument shapes become their keys, scope sets
    their scopes."""
    if family not in ("keys", "scopes"):
        return set(items)
    return {part for joined in items for part in joined.split(",") if part}


def approved_only(calls: int, realms: Items, unapproved: Items) -> dict[str, int]:
    """The realms (and :data:`WHOLE_TOOL`, for the tool's ``calls``) reached
    :data:`MIN_APPROVED` times or more, every time with a verified approval, with how
    often; none when either family stopped counting (full: an uncounted call may have
    had none)."""
    if realms.dropped or unapproved.dropped:
        return {}
    found = {r: entry[0] for r, entry in realms.entries.items() if entry[0] >= MIN_APPROVED}
    if calls >= MIN_APPROVED:
        found[WHOLE_TOOL] = calls
    return {r: n for r, n in found.items() if r not in unapproved}


def _grown(old: float, new: float, growth: float) -> float:
    return min(new, old * growth)


def _level(old: int, daily: int, growth: float) -> int:
    """A level's next value: the settled daily level, at most ``growth`` times the old
    (rounded up, so a small level can grow at all), never below the old."""
    return max(old, min(daily, math.ceil(max(old, 1) * growth)))


class RefTool:
    """What the reference knows of one tool."""

    __slots__ = (
        "approved_only",
        "calls",
        "keys",
        "limits",
        "p_keys",
        "p_realms",
        "p_resources",
        "p_types",
        "realms",
        "resources",
        "session_max",
        "shapes",
        "types",
        "untrusted_unverified",
        "window_max",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.types: set[str] = set()
        self.realms: set[str] = set()
        self.resources: set[str] = set()
        self.keys: set[str] = set()
        self.shapes: set[str] = set()  # argument shapes known: the keys' fast path
        self.p_types = self.p_realms = self.p_resources = self.p_keys = 1.0
        self.untrusted_unverified = 0
        self.approved_only: dict[str, int] = {}  # realm -> calls, every one approved
        self.session_max = 0
        self.window_max = 0
        self.limits: tuple[int, int] | None = None  # fan-out limits, computed by the rule

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "types": sorted(self.types),
            "p_types": self.p_types,
            "realms": sorted(self.realms),
            "p_realms": self.p_realms,
            "resources": sorted(self.resources),
            "p_resources": self.p_resources,
            "keys": sorted(self.keys),
            "shapes": sorted(self.shapes),
            "p_keys": self.p_keys,
            "untrusted_unverified": self.untrusted_unverified,
            "approved_only": dict(sorted(self.approved_only.items())),
            "session_max": self.session_max,
            "window_max": self.window_max,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RefTool:
        tool = cls()
        tool.calls = int(data["calls"])
        for family in ("types", "realms", "resources", "keys"):
            setattr(tool, family, set(data[family]))
            setattr(tool, f"p_{family}", float(data[f"p_{family}"]))
        tool.shapes = set(data["shapes"])
        tool.untrusted_unverified = int(data["untrusted_unverified"])
        tool.approved_only = {str(k): int(v) for k, v in data["approved_only"].items()}
        tool.session_max = int(data["session_max"])
        tool.window_max = int(data["window_max"])
        return tool


class Reference:
    """The figures the rules compare with (module docstring)."""

    __slots__ = (
        "calls",
        "frozen",
        "hours",
        "kind",
        "limits",
        "minute_limit",
        "minute_max",
        "p_hours",
        "p_scopes",
        "p_tools",
        "p_transitions",
        "per_tool",
        "refreshes",
        "scopes",
        "session_max",
        "since_ns",
        "taken_ns",
        "tools",
        "transitions",
        "window_max",
    )

    def __init__(self, kind: str, since_ns: int, taken_ns: int, calls: int) -> None:
        self.kind = kind
        self.frozen = kind == FROZEN
        self.since_ns = since_ns
        self.taken_ns = taken_ns
        self.calls = calls
        self.refreshes = 0
        self.tools: dict[str, int] = {}
        self.transitions: set[str] = set()
        self.hours: set[str] = set()
        self.scopes: set[str] = set()
        self.p_tools = self.p_transitions = self.p_hours = self.p_scopes = 1.0
        self.per_tool: dict[str, RefTool] = {}
        self.session_max = 0  # over every tool: the level a tool new to the reference gets
        self.window_max = 0
        self.minute_max = 0
        self.limits: tuple[int, int] | None = None  # computed by the rules from the settings
        self.minute_limit: int | None = None

    @property
    def history_days(self) -> float:
        """How many days of behaviour the reference summarises."""
        return max(0.0, (self.taken_ns - self.since_ns) / DAY_NS)

    def _levels(self) -> None:
        self.session_max = max((t.session_max for t in self.per_tool.values()), default=0)
        self.window_max = max((t.window_max for t in self.per_tool.values()), default=0)

    @classmethod
    def provisional(cls, baseline: Baseline) -> Reference:
        """The levels of the calls so far (while learning)."""
        ref = cls(PROVISIONAL, baseline.first_ts, baseline.last_ts, baseline.calls)
        ref.tools = {tool: e[0] for tool, e in baseline.tools.entries.items()}
        for name, stats in baseline.per_tool.items():
            tool = ref.per_tool[name] = RefTool()
            tool.calls = stats.calls
            tool.session_max = stats.session_max
            tool.window_max = stats.window_max
        ref.minute_max = baseline.cadence.minute_max
        ref._levels()
        return ref

    @classmethod
    def freeze(cls, baseline: Baseline) -> Reference:
        """Everything the baseline learned, at the end of its learning period."""
        ref = cls(FROZEN, baseline.first_ts, baseline.last_ts, baseline.calls)
        ref.tools = {tool: e[0] for tool, e in baseline.tools.entries.items()}
        ref.p_tools = _p(baseline.tools)
        ref.transitions = set(baseline.transitions.entries)
        ref.p_transitions = _p(baseline.transitions)
        ref.hours = set(baseline.hours.entries)
        ref.p_hours = _p(baseline.hours)
        ref.scopes = _members("scopes", baseline.scopes.entries)
        ref.p_scopes = _p(baseline.scopes)
        for name, stats in baseline.per_tool.items():
            tool = ref.per_tool[name] = RefTool()
            tool.calls = stats.calls
            for family in ("types", "realms", "resources", "keys"):
                items: Items = getattr(stats, family)
                setattr(tool, family, _members(family, items.entries))
                setattr(tool, f"p_{family}", _p(items))
            tool.shapes = set(stats.keys.entries)
            entries = stats.provenance.entries
            tool.untrusted_unverified = sum(entries[c][0] for c in untrusted_unverified(entries))
            tool.approved_only = approved_only(stats.calls, stats.realms, stats.unapproved)
            tool.session_max = stats.session_max
            tool.window_max = stats.window_max
        ref.minute_max = baseline.cadence.minute_max
        ref._levels()
        return ref

    def refreshed(self, baseline: Baseline, settings: DetectorSettings) -> Reference:
        """A new reference: this one plus the baseline's settled behaviour (docstring)."""
        days, growth = settings.promote_days, settings.growth
        today = baseline.last_ts // DAY_NS
        since_day = today - LOOKBACK_DAYS
        ref = Reference(FROZEN, self.since_ns, baseline.last_ts, baseline.calls)
        ref.refreshes = self.refreshes + 1

        def family(old: Iterable[str], live: Items) -> set[str]:
            return set(old) | set(live.settled(today, days))

        ref.tools = dict(self.tools)
        for name in baseline.tools.settled(today, days):
            ref.tools[name] = baseline.tools.entries[name][0]
        ref.p_tools = _grown(self.p_tools, _p(baseline.tools), growth)
        ref.transitions = family(self.transitions, baseline.transitions)
        ref.p_transitions = _grown(self.p_transitions, _p(baseline.transitions), growth)
        ref.hours = family(self.hours, baseline.hours)
        ref.p_hours = _grown(self.p_hours, _p(baseline.hours), growth)
        ref.scopes = self.scopes | _members("scopes", baseline.scopes.settled(today, days))
        ref.p_scopes = _grown(self.p_scopes, _p(baseline.scopes), growth)
        for name, stats in baseline.per_tool.items():
            old = self.per_tool.get(name)
            if old is None and name not in ref.tools:
                continue  # not settled yet: stays new to the reference
            tool = ref.per_tool[name] = RefTool()
            tool.calls = stats.calls
            for fam in ("types", "realms", "resources", "keys"):
                live: Items = getattr(stats, fam)
                promoted = _members(fam, live.settled(today, days))
                setattr(tool, fam, (getattr(old, fam) if old else set()) | promoted)
                old_p = getattr(old, f"p_{fam}") if old else _p(live)
                setattr(tool, f"p_{fam}", _grown(old_p, _p(live), growth))
            settled_shapes = set(stats.keys.settled(today, days))
            tool.shapes = (old.shapes if old else set()) | settled_shapes
            entries = stats.provenance.entries
            tool.untrusted_unverified = old.untrusted_unverified if old else 0
            if untrusted_unverified(stats.provenance.settled(today, days)):
                tool.untrusted_unverified = sum(
                    entries[c][0] for c in untrusted_unverified(entries)
                )
            # approved-only until calls without approval are settled; settled new realms
            # (and the tool, when new to the reference) join when approvals covered them all
            approved = approved_only(stats.calls, stats.realms, stats.unapproved)
            known = old.approved_only if old else {}
            settled_without = set(stats.unapproved.settled(today, days))
            tool.approved_only = {
                realm: approved.get(realm, n)
                for realm, n in (known | approved).items()
                if realm not in settled_without
                and (realm in known or realm in tool.realms or realm == WHOLE_TOOL)
            }
            base_session = old.session_max if old else self.session_max
            base_window = old.window_max if old else self.window_max
            daily = stats.daily
            tool.session_max = _level(base_session, daily.kth_largest(0, days, since_day), growth)
            tool.window_max = _level(base_window, daily.kth_largest(1, days, since_day), growth)
        busiest = baseline.cadence.daily.kth_largest(0, days, since_day)
        ref.minute_max = _level(self.minute_max, busiest, growth)
        ref._levels()
        return ref

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "since_ts": self.since_ns,
            "taken_ts": self.taken_ns,
            "calls": self.calls,
            "refreshes": self.refreshes,
            "tools": dict(sorted(self.tools.items())),
            "p_tools": self.p_tools,
            "transitions": sorted(self.transitions),
            "p_transitions": self.p_transitions,
            "hours": sorted(self.hours),
            "p_hours": self.p_hours,
            "scopes": sorted(self.scopes),
            "p_scopes": self.p_scopes,
            "session_max": self.session_max,
            "window_max": self.window_max,
            "minute_max": self.minute_max,
            "per_tool": {name: tool.to_json() for name, tool in sorted(self.per_tool.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reference:
        ref = cls(
            str(data["kind"]), int(data["since_ts"]), int(data["taken_ts"]), int(data["calls"])
        )
        ref.refreshes = int(data["refreshes"])
        ref.tools = {str(k): int(v) for k, v in data["tools"].items()}
        for family in ("transitions", "hours", "scopes"):
            setattr(ref, family, set(data[family]))
        for name in ("p_tools", "p_transitions", "p_hours", "p_scopes"):
            setattr(ref, name, float(data[name]))
        ref.minute_max = int(data["minute_max"])
        ref.per_tool = {name: RefTool.from_json(tool) for name, tool in data["per_tool"].items()}
        ref._levels()
        return ref
