"""The labelled corpus: per agent, a benign stream; per attack instance, its calls.

Time: :data:`DAYS` days from ``T0`` (2026-11-01, UTC). The first :data:`HISTORY_DAYS`
are the agents' backfilled history (learning completes on day 7 with the default
``learning_days``, every agent has far more than ``learning_calls``); twins and attacks
fall on days :data:`FIRST_DAY`-:data:`LAST_DAY`.

* ``benign[agent]``: the agent's ordinary sessions and its near-miss twins, as stored
  calls in ``ts`` order; ``labels`` maps a twin call's span id to ``twin:<class>#<n>``.
* ``attacks``: one :class:`Attack` per instance: its stored calls (the whole sessions:
  the carrier's or the ordinary steps around the injected ones too) and the span ids of
  its own calls (:attr:`Attack.marked`) — what a detection must name.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentaudit.detector.model import Call
from bench._detector import scenarios
from bench._detector.calls import DAY, HOUR, T0, Agent, session, stored
from bench._detector.scenarios import Planned

__all__ = ["DAYS", "FIRST_DAY", "HISTORY_DAYS", "LAST_DAY", "Attack", "Corpus", "build"]

DAYS = 35
HISTORY_DAYS = 14
FIRST_DAY = 15
LAST_DAY = 33
DOJO_SESSIONS_PER_DAY = 10
DOJO_INSTANCES = 3
"""Each AgentDojo injection task is injected this many times, each into another carrier."""


@dataclass
class Attack:
    """One attack instance."""

    source: str  # "own" | "agentdojo"
    klass: str  # the scenario class, or the AgentDojo suite
    name: str  # "exfil_fanout#3", "workspace/injection_task_0#1"
    agent: str
    calls: list[Call]
    marked: frozenset[str]
    goal: str = ""
    drip_day: dict[str, int] = field(default_factory=dict)
    """Slow attacks: span id -> the attack's day (1, 2, ...)."""

    @property
    def first_ns(self) -> int:
        return min(c.ts_ns for c in self.calls if c.span_id in self.marked)


@dataclass
class Corpus:
    benign: dict[str, list[Call]]
    labels: dict[str, str]  # span id -> "twin:<class>#<n>"
    attacks: list[Attack]
    dojo_left_out: dict[str, tuple[str, ...]]
    dojo_tasks: dict[str, tuple[int, int]]  # suite -> (user tasks, injection tasks used)
    twin_counts: dict[str, int]


def _rng(key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:12], 16))


def _calls(planned: Planned) -> list[Call]:
    return session(
        planned.agent,
        planned.steps,
        T0 + planned.start,
        user=planned.user,
        session_id=planned.session,
        rng=_rng(planned.session),
        gap=planned.gap,
        untrusted=planned.untrusted,
    )


def _marked(planned: Planned, calls: Sequence[Call]) -> list[str]:
    chosen = range(len(calls)) if planned.marked is None else planned.marked
    return [calls[i].span_id for i in chosen]


def _dojo(
    benign: dict[str, list[Call]], attacks: list[Attack], redaction: str
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[int, int]]]:
    from bench._detector import agentdojo

    left_out, used = {}, {}
    for suite in agentdojo.load():
        rng = random.Random(f"dojo-{suite.name}")
        agent: Agent = suite.agent
        planned = []
        for day in range(DAYS):
            for n in range(DOJO_SESSIONS_PER_DAY):
                start = day * DAY + 7 * HOUR + int(rng.uniform(0, 14) * HOUR)
                steps = suite.benign(day, rng)
                planned.append(
                    Planned(agent, start, steps, agentdojo.USER, f"{suite.name}-{day}-{n}")
                )
        benign[agent.name] = stored((c for p in planned for c in _calls(p)), redaction=redaction)
        for injection in suite.injection_tasks:
            for k in range(DOJO_INSTANCES):
                carrier = rng.choice(suite.carriers)
                day = rng.randint(FIRST_DAY, LAST_DAY)
                steps, marked = suite.attack(injection, carrier, day)
                start = day * DAY + 8 * HOUR + int(rng.uniform(0, 12) * HOUR)
                session_id = f"{suite.name}-inj-{injection.id}-{k}"
                p = Planned(agent, start, steps, agentdojo.USER, session_id, marked=tuple(marked))
                raw = _calls(p)
                attacks.append(
                    Attack("agentdojo", suite.name, f"{suite.name}/{injection.id}#{k}",
                           agent.name, stored(raw, redaction=redaction), frozenset(_marked(p, raw)),
                           goal=injection.goal)
                )  # fmt: skip
        left_out[suite.name] = suite.left_out
        used[suite.name] = (len(suite.user_tasks), len(suite.injection_tasks))
    return left_out, used


def build(*, with_agentdojo: bool = True, redaction: str = "default") -> Corpus:
    """The corpus (module docstring), stored through ``redaction`` (see
    :func:`~bench._detector.calls.stored`)."""
    benign: dict[str, list[Call]] = {}
    labels: dict[str, str] = {}
    attacks: list[Attack] = []

    streams: dict[str, list[Call]] = defaultdict(list)
    for planned in scenarios.ordinary(DAYS):
        streams[planned.agent.name].extend(_calls(planned))
    twin_counts = {}
    for name, instances in scenarios.twins(FIRST_DAY, LAST_DAY).items():
        twin_counts[name] = len(instances)
        for instance in instances:
            for planned in instance:
                calls = _calls(planned)
                streams[planned.agent.name].extend(calls)
                for span in _marked(planned, calls):
                    labels[span] = planned.label
    for agent, calls in streams.items():
        calls.sort(key=lambda c: c.ts_ns)
        benign[agent] = stored(calls, redaction=redaction)

    for name, instances in scenarios.attacks(FIRST_DAY, LAST_DAY).items():
        for k, instance in enumerate(instances):
            made_calls: list[Call] = []
            marked: list[str] = []
            days: dict[str, int] = {}
            for planned in instance:
                made = _calls(planned)
                made_calls.extend(made)
                own = _marked(planned, made)
                marked.extend(own)
                day = planned.extra.get("drip_day")
                if isinstance(day, int):
                    days.update(dict.fromkeys(own, day))
            attacks.append(
                Attack("own", name, f"{name}#{k}", instance[0].agent.name,
                       stored(made_calls, redaction=redaction),
                       frozenset(marked), drip_day=days)
            )  # fmt: skip

    left_out: dict[str, tuple[str, ...]] = {}
    used: dict[str, tuple[int, int]] = {}
    if with_agentdojo:
        left_out, used = _dojo(benign, attacks, redaction)
    for calls in benign.values():
        calls.sort(key=lambda c: c.ts_ns)
    return Corpus(benign, labels, attacks, left_out, used, twin_counts)
