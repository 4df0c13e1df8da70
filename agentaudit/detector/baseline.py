"""Per-agent behavioural baselines: what an agent normally does, learned from its calls.

One :class:`Baseline` per agent principal (``Call.principal``: the authenticated agent,
else the claimed id). It learns, from every call, by the call's own ``ts``:

* ``tools`` — the tools it calls and how often; ``transitions`` — tool order within a
  session (``read_inbox -> send_email``);
* ``resources_per_tool`` — per tool the resource types (``email``, ``crm``: the prefix
  before ``:`` of resource ids), the realms (recipient domains, hosts, accounts: see
  :mod:`~agentaudit.detector.activity`) and the resources themselves;
* ``fanout`` — per tool the most distinct resources in one session and in one sliding
  window (``[detector] window_seconds``), overall and per day;
* ``cadence`` — calls per minute (the busiest minute, a log2 histogram, per day);
  ``hours`` — the hours of the day (UTC) it is active in;
* ``argument_keys`` — per tool its argument shapes (the top-level keys of a call's
  arguments, sorted and joined by ``,``); ``provenance`` — per tool how often calls
  followed untrusted content, and with which approval (``untrusted:none``,
  ``trusted:verified``, ...: :func:`~agentaudit.detector.activity.provenance_of`);
  ``approvals`` — per tool the realms it reached without a verified approval (``*`` for
  the tool itself), so a realm (``deploy:production``) every call of which carried one
  is known; ``scopes`` — credential scopes exercised (each call's set of scopes, sorted and
  joined by ``,``).

Every counted item (a tool, a domain, a key …) also keeps the first and last day it was
seen and on how many days: what the reference's promotion rule needs
(:mod:`~agentaudit.detector.reference`).

Bounded memory (:class:`Bounds`, per agent): at most 256 tools, 1,024 transitions, 1,024
resource types, 2,048 realms (and as many, plus one per tool, reached without a verified
approval), 4,096 resources, 2,048 argument shapes (all tools together), 256 scopes, 35 days
of daily maxima. A family that is full stops taking new items (they
are counted as ``dropped``) and is then treated as open-ended: its chance of a new item
is 1, so a new item in it is never a finding. With the live counters of
:class:`~agentaudit.detector.activity.Activity` one agent takes about 5 MB when every
family and counter is full (measured with tracemalloc); a typical agent's baseline is a
few to a few tens of kilobytes of JSON.

Learning: an agent learns until it has ``learning_calls`` calls *and* ``learning_days``
days between its first and last call (by ``ts``, so backfilled history counts). Then its
reference is frozen (:meth:`Baseline.learn`); the rules compare live behaviour with that
reference, never with the still-learning baseline (poisoning resistance,
:mod:`~agentaudit.detector.reference`).

JSON (:meth:`Baseline.to_json`, table ``agentaudit.detector_baselines``): the keys
``calls, first_ts, last_ts, learning, tools, transitions, resources_per_tool, fanout,
cadence, hours, scopes, provenance, approvals, argument_keys, reference``
(docs/detector.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.detector.activity import DAY_NS, Activity, Observation, provenance_of
from agentaudit.detector.model import CallView
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.reference import WHOLE_TOOL, Reference

__all__ = [
    "FORMAT",
    "Baseline",
    "Bounds",
    "Cadence",
    "Items",
    "ToolStats",
    "day_text",
    "parse_day",
]

FORMAT: Final = 2
"""Version of the baseline JSON; a baseline of another version is rebuilt (2: ``approvals``)."""
HOURS: Final = tuple(f"{hour:02d}" for hour in range(24))
PROVISIONAL_EVERY: Final = 25
"""While learning, the provisional reference is rebuilt every this many calls."""
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()


def day_text(day: int) -> str:
    """A day number (days since 1970-01-01, UTC) as ``YYYY-MM-DD``."""
    return dt.date.fromordinal(day + _EPOCH_ORDINAL).isoformat()


def parse_day(text: str) -> int:
    return dt.date.fromisoformat(text).toordinal() - _EPOCH_ORDINAL


@dataclass(frozen=True)
class Bounds:
    """The most one agent's baseline and live counters hold (module docstring)."""

    tools: int = 256
    transitions: int = 1024
    types: int = 1024
    realms: int = 2048
    resources: int = 4096
    keys: int = 2048
    scopes: int = 256
    days: int = 35
    sessions: int = 64
    session_resources: int = 4096
    live_resources: int = 16_384
    window_resources: int = 8192


class Budget:
    """How many more items a family (all tools together) may take."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


class Items:
    """Counted items, each ``[count, first_day, last_day, days_seen]``; bounded by a budget."""

    __slots__ = ("_budget", "dropped", "entries", "total")

    def __init__(self, budget: Budget) -> None:
        self.entries: dict[str, list[int]] = {}
        self.total = 0
        self.dropped = 0
        self._budget = budget

    def add(self, item: str, day: int) -> None:
        self.total += 1
        entry = self.entries.get(item)
        if entry is not None:
            entry[0] += 1
            if entry[2] != day:
                entry[2] = max(entry[2], day)
                entry[3] += 1
            return
        if self._budget.left <= 0:
            self.dropped += 1
            return
        self._budget.left -= 1
        self.entries[item] = [1, day, day, 1]

    def __contains__(self, item: object) -> bool:
        return item in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def p_new(self) -> float:
        """The chance the next observation is an item never seen (Good-Turing, +1)."""
        if self.dropped:
            return 1.0
        singles = sum(1 for entry in self.entries.values() if entry[0] == 1)
        return (singles + 1) / (self.total + 1)

    def settled(self, today: int, days: int) -> Iterator[str]:
        """Items seen on at least ``days`` days, the first at least ``days`` days ago."""
        for item, (_, first, _, seen) in self.entries.items():
            if seen >= days and first <= today - days:
                yield item

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "dropped": self.dropped,
            "items": {
                item: {"n": n, "first": day_text(first), "last": day_text(last), "days": days}
                for item, (n, first, last, days) in self.entries.items()
            },
        }

    def load(self, data: Mapping[str, Any]) -> Items:
        self.total = int(data.get("total", 0))
        self.dropped = int(data.get("dropped", 0))
        for item, entry in dict(data.get("items", {})).items():
            self.entries[item] = [
                int(entry["n"]),
                parse_day(entry["first"]),
                parse_day(entry["last"]),
                int(entry["days"]),
            ]
            self._budget.left -= 1
        return self


class Daily:
    """Per-day maxima of a few figures, for the last ``keep`` days seen."""

    __slots__ = ("_keep", "days")

    def __init__(self, keep: int) -> None:
        self.days: dict[int, list[int]] = {}
        self._keep = keep

    def raise_to(self, day: int, index: int, value: int, width: int) -> None:
        row = self.days.get(day)
        if row is None:
            row = self.days[day] = [0] * width
            if len(self.days) > self._keep:
                del self.days[min(self.days)]
        if value > row[index]:  # noqa: PLR1730 - max() costs a call on the hot path
            row[index] = value

    def kth_largest(self, index: int, k: int, since_day: int) -> int:
        """The ``k``-th largest daily value since ``since_day`` (0 with fewer days)."""
        values = sorted(
            (row[index] for d, row in self.days.items() if d >= since_day), reverse=True
        )
        return values[k - 1] if len(values) >= k else 0

    def to_json(self) -> dict[str, list[int]]:
        return {day_text(day): list(row) for day, row in sorted(self.days.items())}

    def load(self, data: Mapping[str, Any]) -> Daily:
        for day, row in data.items():
            self.days[parse_day(day)] = [int(v) for v in row]
        return self


class ToolStats:
    """What the baseline knows of one tool."""

    __slots__ = (
        "calls",
        "daily",
        "keys",
        "provenance",
        "realms",
        "resources",
        "session_max",
        "types",
        "unapproved",
        "window_max",
    )

    def __init__(self, budgets: Mapping[str, Budget], days: int) -> None:
        self.calls = 0
        self.types = Items(budgets["types"])
        self.realms = Items(budgets["realms"])
        self.resources = Items(budgets["resources"])
        self.keys = Items(budgets["keys"])  # argument shapes: sorted keys joined by ","
        self.provenance = Items(Budget(16))  # provenance_of() categories: a handful
        # realms reached without a verified approval, and WHOLE_TOOL for any such call
        self.unapproved = Items(budgets["unapproved"])
        self.session_max = 0
        self.window_max = 0
        self.daily = Daily(days)  # [session max, window max] per day


class Cadence:
    """Calls per minute: the busiest minute, a log2 histogram of active minutes, per day."""

    __slots__ = ("daily", "histogram", "minute_max", "minutes")

    def __init__(self, days: int) -> None:
        self.minute_max = 0
        self.minutes = 0
        self.histogram: dict[int, int] = {}  # bucket lower bound (1, 2, 4, ...) -> minutes
        self.daily = Daily(days)

    def close_minute(self, count: int) -> None:
        self.minutes += 1
        bucket = 1 << (count.bit_length() - 1)
        self.histogram[bucket] = self.histogram.get(bucket, 0) + 1


class Baseline:
    """One agent's learned behaviour (module docstring). Not thread-safe."""

    def __init__(self, agent: str, bounds: Bounds | None = None) -> None:
        self.agent = agent
        self.bounds = bounds = bounds or Bounds()
        self.calls = 0
        self.first_ts = 0
        self.last_ts = 0
        self.learning = True
        self.learned_ts = 0  # ts of the call that completed learning
        self.watermark = 0  # received_at (ns) of the newest call learned
        self._budgets = {
            name: Budget(getattr(bounds, name)) for name in ("types", "realms", "resources", "keys")
        }
        self._budgets["unapproved"] = Budget(bounds.realms + bounds.tools)
        self.tools = Items(Budget(bounds.tools))
        self.transitions = Items(Budget(bounds.transitions))
        self.scopes = Items(Budget(bounds.scopes))
        self.hours = Items(Budget(24))
        self.per_tool: dict[str, ToolStats] = {}
        self.cadence = Cadence(bounds.days)
        self.reference: Reference | None = None
        self._since_provisional = 0

    def activity(self, settings: DetectorSettings) -> Activity:
        """Fresh live counters sized by this baseline's bounds."""
        bounds = self.bounds
        return Activity(
            window_seconds=settings.window_seconds,
            sessions=bounds.sessions,
            session_resources=bounds.session_resources,
            live_resources=bounds.live_resources,
            window_resources=bounds.window_resources,
        )

    def tool(self, name: str) -> ToolStats | None:
        return self.per_tool.get(name)

    @property
    def span_days(self) -> float:
        return (self.last_ts - self.first_ts) / DAY_NS

    def learn(
        self, call: CallView, seen: Observation, settings: DetectorSettings, closed: list[int]
    ) -> None:
        """Take one call into the baseline (after the rules evaluated it)."""
        ts, day, tool = seen.ts_ns, seen.day, seen.tool
        self.calls += 1
        if not self.first_ts or ts < self.first_ts:
            self.first_ts = ts
        if ts > self.last_ts:  # noqa: PLR1730 - if, not max(): the hot path
            self.last_ts = ts
        if call.received_ns > self.watermark:  # noqa: PLR1730
            self.watermark = call.received_ns
        self.tools.add(tool, day)
        if seen.previous_tool:
            self.transitions.add(f"{seen.previous_tool} -> {tool}", day)
        self.hours.add(HOURS[seen.hour], day)
        scopes = call.credential_scopes
        if scopes:
            self.scopes.add(scopes[0] if len(scopes) == 1 else ",".join(sorted(scopes)), day)
        stats = self.per_tool.get(tool)
        if stats is None and tool in self.tools:  # not when the tools family is full
            stats = self.per_tool[tool] = ToolStats(self._budgets, self.bounds.days)
        if stats is not None:
            self._learn_tool(stats, call, seen)
        cadence = self.cadence
        for count in closed:
            cadence.close_minute(count)
        closed.clear()
        count = seen.minute_count
        if count > cadence.minute_max:  # noqa: PLR1730
            cadence.minute_max = count
        cadence.daily.raise_to(day, 0, count, 1)
        self._after_learning_step(settings)

    @staticmethod
    def _learn_tool(stats: ToolStats, call: CallView, seen: Observation) -> None:
        day = seen.day
        stats.calls += 1
        for kind in seen.types:
            stats.types.add(kind, day)
        for realm in seen.realms:
            stats.realms.add(realm, day)
        for resource in seen.resources:
            stats.resources.add(resource, day)
        if seen.shape:
            stats.keys.add(seen.shape, day)
        stats.provenance.add(provenance_of(call), day)
        if not call.approval_verified:
            unapproved = stats.unapproved
            unapproved.add(WHOLE_TOOL, day)
            for realm in seen.realms:
                unapproved.add(realm, day)
        if seen.resources:
            session, window = seen.session_count, seen.window_count
            if session > stats.session_max:  # noqa: PLR1730
                stats.session_max = session
            if window > stats.window_max:  # noqa: PLR1730
                stats.window_max = window
            daily = stats.daily
            daily.raise_to(day, 0, session, 2)
            daily.raise_to(day, 1, window, 2)

    def _after_learning_step(self, settings: DetectorSettings) -> None:
        if self.learning:
            if self.calls >= settings.learning_calls and self.span_days >= settings.learning_days:
                self.learning = False
                self.learned_ts = self.last_ts
                self.reference = Reference.freeze(self)
                return
            self._since_provisional += 1
            if self.reference is None or self._since_provisional >= PROVISIONAL_EVERY:
                self._since_provisional = 0
                self.reference = Reference.provisional(self)
            return
        reference = self.reference
        assert reference is not None
        if self.last_ts - reference.taken_ns >= settings.refresh_days * DAY_NS:
            self.reference = reference.refreshed(self, settings)

    # -- JSON --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The baseline as JSON (the keys of 0015's comment, plus ``format``, ``agent``)."""
        per_tool = sorted(self.per_tool.items())
        return {
            "format": FORMAT,
            "agent": self.agent,
            "calls": self.calls,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "watermark": self.watermark,
            "learning": {
                "active": self.learning,
                "completed_ts": self.learned_ts,
                "span_days": round(self.span_days, 3),
            },
            "tools": self.tools.to_json(),
            "transitions": self.transitions.to_json(),
            "resources_per_tool": {
                tool: {
                    "calls": s.calls,
                    "types": s.types.to_json(),
                    "realms": s.realms.to_json(),
                    "resources": s.resources.to_json(),
                }
                for tool, s in per_tool
            },
            "fanout": {
                tool: {
                    "session_max": s.session_max,
                    "window_max": s.window_max,
                    "daily": s.daily.to_json(),
                }
                for tool, s in per_tool
            },
            "cadence": {
                "minute_max": self.cadence.minute_max,
                "minutes": self.cadence.minutes,
                "histogram": {str(k): v for k, v in sorted(self.cadence.histogram.items())},
                "daily": self.cadence.daily.to_json(),
            },
            "hours": self.hours.to_json(),
            "scopes": self.scopes.to_json(),
            "provenance": {tool: s.provenance.to_json() for tool, s in per_tool},
            "approvals": {tool: s.unapproved.to_json() for tool, s in per_tool},
            "argument_keys": {tool: s.keys.to_json() for tool, s in per_tool},
            "reference": self.reference.to_json() if self.reference is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], bounds: Bounds | None = None) -> Baseline:
        """Rebuild a baseline saved by :meth:`to_json`; ValueError when it is not one."""
        if data.get("format") != FORMAT:
            raise ValueError(f"baseline format {data.get('format')!r} is not {FORMAT}")
        try:
            baseline = cls(str(data["agent"]), bounds)
            baseline.calls = int(data["calls"])
            baseline.first_ts = int(data["first_ts"])
            baseline.last_ts = int(data["last_ts"])
            baseline.watermark = int(data.get("watermark", 0))
            learning = data["learning"]
            baseline.learning = bool(learning["active"])
            baseline.learned_ts = int(learning["completed_ts"])
            baseline.tools.load(data["tools"])
            baseline.transitions.load(data["transitions"])
            baseline.hours.load(data["hours"])
            baseline.scopes.load(data["scopes"])
            for tool, resources in data["resources_per_tool"].items():
                stats = baseline.per_tool[tool] = ToolStats(baseline._budgets, baseline.bounds.days)
                stats.calls = int(resources["calls"])
                stats.types.load(resources["types"])
                stats.realms.load(resources["realms"])
                stats.resources.load(resources["resources"])
                stats.keys.load(data["argument_keys"][tool])
                stats.provenance.load(data["provenance"][tool])
                stats.unapproved.load(data["approvals"][tool])
                fanout = data["fanout"][tool]
                stats.session_max = int(fanout["session_max"])
                stats.window_max = int(fanout["window_max"])
                stats.daily.load(fanout["daily"])
            cadence = data["cadence"]
            baseline.cadence.minute_max = int(cadence["minute_max"])
            baseline.cadence.minutes = int(cadence["minutes"])
            baseline.cadence.histogram = {int(k): int(v) for k, v in cadence["histogram"].items()}
            baseline.cadence.daily.load(cadence["daily"])
            reference = data.get("reference")
            if reference is not None:
                baseline.reference = Reference.from_json(reference)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a baseline: {exc!r}") from None
        return baseline
