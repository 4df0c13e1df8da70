"""The ``[detector]`` table of the config file: learning, thresholds, and the policy.

The policy maps a finding's rule and severity to an action (``none``, ``alert``,
``quarantine``, ``revoke_credential``), by default and per agent. For one finding the
first of these that names its severity wins:

1. ``[detector.agents.<agent>.rules.<rule>]``
2. ``[detector.agents.<agent>.actions]``
3. ``[detector.rules.<rule>]``
4. ``[detector.actions]``
5. the built-in default: ``quarantine`` for ``high`` and ``critical``, ``alert`` below.

Whatever the policy says, an agent still learning its baseline gets ``alert`` at most
(:meth:`Policy.action` with ``learning=True``). ``[detector.rules.<rule>] enabled =
false`` turns a rule off (for every agent, or for one under ``[detector.agents.<agent>]``).
Errors name the key (``config file [detector.rules.fan_out].high: 'nuke' is not one of
...``). Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from agentaudit.config.values import Section
from agentaudit.detector.model import ACTIONS, SEVERITIES
from agentaudit.detector.unrecorded import GRACE_SECONDS
from agentaudit.errors import ConfigError

__all__ = [
    "ACTION_RANK",
    "DEFAULT_ACTIONS",
    "DetectorSettings",
    "Policy",
    "load_detector_settings",
    "stronger",
]

DEFAULT_ACTIONS: Final[Mapping[str, str]] = {
    "low": "alert",
    "medium": "alert",
    "high": "quarantine",
    "critical": "quarantine",
}
ACTION_RANK: Final[Mapping[str, int]] = {
    "none": 0,
    "alert": 1,
    "revoke_credential": 2,
    "quarantine": 3,
}
"""How strong an action is: a finding whose severity grows only ever acts more strongly."""
AUTOMATIC: Final = frozenset({"quarantine", "revoke_credential"})

_RULE_KEYS: Final = frozenset({"enabled", *SEVERITIES})


def stronger(left: str, right: str) -> str:
    """The stronger of two actions."""
    return left if ACTION_RANK[left] >= ACTION_RANK[right] else right


def _actions(data: object, where: str, *, extra: frozenset[str] = frozenset()) -> dict[str, str]:
    section = Section(data, where, set(SEVERITIES) | extra)
    found: dict[str, str] = {}
    for severity in SEVERITIES:
        value = section.data.get(severity)
        if value is None:
            continue
        if value not in ACTIONS:
            raise ConfigError(
                f"config file {where}.{severity}: {value!r} is not one of {', '.join(ACTIONS)}"
            )
        found[severity] = value
    return found


@dataclass(frozen=True)
class _Scope:
    """Actions by severity, per rule, and the rules turned off: for all agents or one."""

    actions: Mapping[str, str] = field(default_factory=dict)
    rules: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()


def _scope(data: Mapping[str, Any], prefix: str, known_rules: frozenset[str]) -> _Scope:
    """The ``actions`` and ``rules`` tables under ``[prefix]``."""
    actions = _actions(data.get("actions", {}), f"[{prefix}.actions]")
    rules: dict[str, dict[str, str]] = {}
    disabled: set[str] = set()
    rules_data = data.get("rules", {})
    if not isinstance(rules_data, Mapping):
        raise ConfigError(f"config file [{prefix}.rules] must be a table")
    for rule, table in rules_data.items():
        if rule not in known_rules:
            raise ConfigError(
                f"config file [{prefix}.rules]: unknown rule {rule!r} "
                f"(known: {', '.join(sorted(known_rules))})"
            )
        rule_where = f"[{prefix}.rules.{rule}]"
        rules[rule] = _actions(table, rule_where, extra=frozenset({"enabled"}))
        if not Section(table, rule_where, set(_RULE_KEYS)).flag("enabled", True):
            disabled.add(rule)
    return _Scope(actions, rules, frozenset(disabled))


@dataclass(frozen=True)
class Policy:
    """Rule and severity to action, by default and per agent (module docstring)."""

    default: _Scope = field(default_factory=_Scope)
    agents: Mapping[str, _Scope] = field(default_factory=dict)

    def action(self, agent: str, rule: str, severity: str, *, learning: bool = False) -> str:
        """The action for a finding; at most ``alert`` while the agent is learning."""
        chosen = None
        own = self.agents.get(agent)
        for scope, per_rule in (
            (own, True),
            (own, False),
            (self.default, True),
            (self.default, False),
        ):
            if scope is None:
                continue
            table = scope.rules.get(rule, {}) if per_rule else scope.actions
            chosen = table.get(severity)
            if chosen is not None:
                break
        if chosen is None:
            chosen = DEFAULT_ACTIONS[severity]
        if learning and chosen in AUTOMATIC:
            return "alert"
        return chosen

    def enabled(self, agent: str, rule: str) -> bool:
        own = self.agents.get(agent)
        if own is not None and rule in own.disabled:
            return False
        return rule not in self.default.disabled


@dataclass(frozen=True)
class DetectorSettings:
    """Everything the ``[detector]`` table configures (defaults: docs/detector.md)."""

    enabled: bool = True
    learning_calls: int = 200
    learning_days: float = 7.0
    window_seconds: float = 300.0
    """The sliding window of the per-window fan-out."""
    fanout_factor: float = 3.0
    fanout_margin: int = 10
    """Fan-out is anomalous above ``max(factor * baseline, baseline + margin)``."""
    burst_factor: float = 3.0
    burst_margin: int = 30
    """Calls per minute are anomalous above ``max(factor * baseline, baseline + margin)``."""
    novelty: float = 0.02
    """A never-seen item is a finding only where the baseline's chance of a new item
    (Good-Turing: (items seen once + 1) / (observations + 1)) is below this."""
    refresh_days: float = 7.0
    """How often (by the detector's clock: the calls' claimed times, bounded) the frozen
    reference takes in settled behaviour."""
    promote_days: int = 3
    """An item or level enters the reference only after being seen on this many days."""
    growth: float = 1.25
    """The most a reference level (fan-out, calls per minute) may grow per refresh."""
    group_seconds: float = 3600.0
    """An incident (agent, rule, session) stays one finding while hits are this close."""
    max_claimed_age_seconds: float = 60.0
    """How long before its receipt a call's claimed time is believed (the detector's
    clock, :func:`~agentaudit.detector.engine.clock_ns`): an older claim counts as this
    long before receipt. It covers an SDK's export delay (5 s by default) and retries
    while bounding how far a forging agent can spread a burst (the rules count calls
    per minute). Raise it only to load history over OTLP: then the agent's claims are
    trusted that far back (the demo does, for its backfilled fortnight)."""
    max_cpu: float = 0.25
    """The most of one core the detector's cycle may use while it catches up (a
    backlog): past it, it pauses between reads, so ingest keeps its share; 1: no bound."""
    unrecorded_grace_seconds: float = GRACE_SECONDS
    """How long a tool server's record of a call waits for its caller's record before it
    is a finding of rule ``unrecorded_call`` (callers that export late need more)."""
    policy: Policy = field(default_factory=Policy)


_TOP_KEYS: Final = {
    "enabled",
    "learning_calls",
    "learning_days",
    "window_seconds",
    "fanout_factor",
    "fanout_margin",
    "burst_factor",
    "burst_margin",
    "novelty",
    "refresh_days",
    "promote_days",
    "growth",
    "group_seconds",
    "max_claimed_age_seconds",
    "max_cpu",
    "unrecorded_grace_seconds",
    "actions",
    "rules",
    "agents",
    "alerts",  # [detector.alerts]: read by agentaudit.detector.alerts
}


def _positive(section: Section, key: str, default: float, *, integer: bool = False) -> Any:
    value = section.number(key, default, integer=integer)
    if value <= 0:
        raise ConfigError(f"config file {section.where}.{key} must be greater than zero")
    return value


def load_detector_settings(
    sections: Mapping[str, Any], *, known_rules: frozenset[str] | None = None
) -> DetectorSettings:
    """The settings of the config file's ``[detector]`` table (all optional)."""
    if known_rules is None:
        from agentaudit.detector.rules import RULE_NAMES

        known_rules = RULE_NAMES
    data = sections.get("detector", {})
    section = Section(data, "[detector]", set(_TOP_KEYS))
    defaults = DetectorSettings()
    novelty = section.number("novelty", defaults.novelty)
    if not 0 < novelty < 1:
        raise ConfigError("config file [detector].novelty must be between 0 and 1")
    growth = section.number("growth", defaults.growth)
    if growth < 1:
        raise ConfigError("config file [detector].growth must be at least 1")
    max_cpu = section.number("max_cpu", defaults.max_cpu)
    if not 0 < max_cpu <= 1:
        raise ConfigError("config file [detector].max_cpu must be above 0 and at most 1")
    agents_data = section.data.get("agents", {})
    if not isinstance(agents_data, Mapping):
        raise ConfigError("config file [detector].agents must be a table")
    agents = {}
    for agent, table in agents_data.items():
        Section(table, f"[detector.agents.{agent}]", {"actions", "rules"})
        agents[agent] = _scope(table, f"detector.agents.{agent}", known_rules)
    return DetectorSettings(
        enabled=section.flag("enabled", defaults.enabled),
        learning_calls=section.number("learning_calls", defaults.learning_calls, integer=True),
        learning_days=section.number("learning_days", defaults.learning_days),
        window_seconds=_positive(section, "window_seconds", defaults.window_seconds),
        fanout_factor=_positive(section, "fanout_factor", defaults.fanout_factor),
        fanout_margin=section.number("fanout_margin", defaults.fanout_margin, integer=True),
        burst_factor=_positive(section, "burst_factor", defaults.burst_factor),
        burst_margin=section.number("burst_margin", defaults.burst_margin, integer=True),
        novelty=novelty,
        refresh_days=_positive(section, "refresh_days", defaults.refresh_days),
        promote_days=_positive(section, "promote_days", defaults.promote_days, integer=True),
        growth=growth,
        group_seconds=_positive(section, "group_seconds", defaults.group_seconds),
        max_claimed_age_seconds=_positive(
            section, "max_claimed_age_seconds", defaults.max_claimed_age_seconds
        ),
        max_cpu=max_cpu,
        unrecorded_grace_seconds=_positive(
            section, "unrecorded_grace_seconds", defaults.unrecorded_grace_seconds
        ),
        policy=Policy(_scope(section.data, "detector", known_rules), agents),
    )
