"""The real detector over the corpus, and what counts as detected, missed and false.

Each run is a fresh :class:`~agentaudit.detector.engine.Detector` (default settings,
``act=False``: the replay mode of ``agentaudit detect --replay``, which reports the
action the policy would have taken) fed one agent's calls in ``ts`` order, as the live
detector reads them; :meth:`Detector.take_findings` after every call, so the call that
raised or raised the severity of a finding is known.

* **Detected**: an attack is detected when a finding of severity ``high`` or ``critical``
  names one of the attack's own calls — the finding's call, or one of its evidence's
  ``triggering_calls`` (the incident's first ten and latest ten) — in the run of the
  agent's benign stream plus that attack alone. At ``high`` and above the default policy
  quarantines the agent once its learning period is over (here: always, attacks come
  after day 14).
* **False findings**: every finding of the benign run (ordinary traffic and the
  near-miss twins, no attack), by severity, per 10,000 benign calls the detector
  evaluated after the agent's learning period (findings raised while an agent learns
  can only alert, and are counted apart).
* **Precision, recall, F1** (:class:`Scores`), per session: the positives are the
  attacks (one each, however many sessions it spans), the negatives the benign sessions
  with a call after the agent's learning period (twins included). A benign session is a
  false positive when a finding at or above the threshold raised after learning names
  one of its calls; an attack is a true positive when it is detected at that threshold.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agentaudit.detector.engine import Detector
from agentaudit.detector.model import Call, Finding, severity_at_least
from agentaudit.detector.policy import DetectorSettings

__all__ = [
    "AttackResult",
    "BenignResult",
    "Scores",
    "detected_at",
    "names",
    "run_attack",
    "run_benign",
    "scores",
]


def names(finding: Finding) -> set[str]:
    """The span ids a finding names."""
    found = {finding.span_id}
    for entry in finding.evidence.get("triggering_calls", ()):
        found.add(str(entry.get("span_id", "")))
    return found


@dataclass
class AttackResult:
    detected: bool = False
    detected_ns: int = 0  # ts of the call that made a finding >= high name the attack
    detected_span: str = ""
    severity: str = ""  # the highest severity of a finding naming the attack's calls
    rules: set[str] = field(default_factory=set)  # rules of findings naming its calls
    high_rules: set[str] = field(default_factory=set)
    action: str = ""  # what the policy would do, for the strongest such finding
    summary: str = ""  # of the first finding >= high naming it
    seconds: float = 0.0  # CPU of the run


def _rank(severity: str) -> int:
    return ("low", "medium", "high", "critical").index(severity) if severity else -1


def detected_at(result: AttackResult, threshold: str) -> bool:
    """Whether a finding at or above ``threshold`` named one of the attack's calls."""
    return severity_at_least(result.severity, threshold) if result.severity else False


def run_attack(
    benign: Sequence[Call],
    attack: Iterable[Call],
    marked: frozenset[str],
    settings: DetectorSettings,
) -> AttackResult:
    """The agent's benign stream plus one attack, through a fresh detector."""
    calls = sorted([*benign, *attack], key=lambda c: c.ts_ns)
    last = max(c.ts_ns for c in calls if c.span_id in marked)
    detector = Detector(settings, act=False)
    result = AttackResult()
    started = time.process_time()
    for call in calls:
        if call.ts_ns > last + 86_400_000_000_000 and result.detected:
            break  # a day past the attack's last call: nothing more to learn about it
        detector.process(call)
        for finding in detector.take_findings():
            if not names(finding) & marked:
                continue
            result.rules.add(finding.rule)
            if _rank(finding.severity) > _rank(result.severity):
                result.severity = finding.severity
                result.action = finding.action
            if severity_at_least(finding.severity, "high"):
                result.high_rules.add(finding.rule)
                if not result.detected:
                    result.detected = True
                    result.detected_ns = call.ts_ns
                    result.detected_span = call.span_id
                    result.summary = finding.summary
    result.seconds = time.process_time() - started
    return result


@dataclass
class BenignResult:
    agent: str
    calls: int = 0
    evaluated: int = 0  # calls after the agent's learning period
    learned_day: float = 0.0
    findings: list[Finding] = field(default_factory=list)  # the latest version of each
    cpu_seconds: float = 0.0
    sessions: int = 0  # sessions with a call after the agent's learning period
    session_of: dict[str, str] = field(default_factory=dict)  # span id -> session id

    def flagged(self, threshold: str) -> set[str]:
        """Sessions named by a finding at or above ``threshold`` raised after learning."""
        return {
            self.session_of[span]
            for f in self.after_learning()
            if severity_at_least(f.severity, threshold)
            for span in names(f)
            if span in self.session_of
        }

    def after_learning(self) -> list[Finding]:
        return [f for f in self.findings if not f.evidence.get("learning")]

    def during_learning(self) -> list[Finding]:
        return [f for f in self.findings if f.evidence.get("learning")]


def run_benign(agent: str, calls: Sequence[Call], settings: DetectorSettings) -> BenignResult:
    detector = Detector(settings, act=False)
    latest: dict[str, Finding] = {}
    started = time.process_time()
    for call in calls:
        detector.process(call)
        for finding in detector.take_findings():
            latest[finding.finding_id] = finding
    cpu = time.process_time() - started
    baseline = detector.baseline(agent)
    assert baseline is not None, agent
    assert not baseline.learning, agent
    learned = baseline.learned_ts
    return BenignResult(
        agent,
        calls=len(calls),
        evaluated=sum(1 for c in calls if c.ts_ns > learned),
        learned_day=(learned - calls[0].ts_ns) / 86_400e9,
        findings=list(latest.values()),
        cpu_seconds=cpu,
        sessions=len({c.session_id for c in calls if c.ts_ns > learned}),
        session_of={c.span_id: c.session_id for c in calls},
    )


@dataclass(frozen=True)
class Scores:
    """Session-level detection quality at one severity threshold (module docstring)."""

    threshold: str
    attacks: int
    detected: int  # true positives
    benign_sessions: int  # negatives
    false_sessions: int  # false positives

    @property
    def precision(self) -> float:
        flagged = self.detected + self.false_sessions
        return self.detected / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.attacks if self.attacks else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def scores(
    attacks: Iterable[AttackResult], benign: Iterable[BenignResult], threshold: str
) -> Scores:
    """Precision, recall and F1 of these attacks against these agents' benign sessions."""
    results = list(attacks)
    runs = list(benign)
    return Scores(
        threshold=threshold,
        attacks=len(results),
        detected=sum(detected_at(r, threshold) for r in results),
        benign_sessions=sum(b.sessions for b in runs),
        false_sessions=sum(len(b.flagged(threshold)) for b in runs),
    )


def by_severity(findings: Iterable[Finding]) -> Counter[str]:
    return Counter(f.severity for f in findings)


def twin_findings(
    findings: Iterable[Finding], labels: dict[str, str]
) -> dict[str, list[tuple[str, Finding]]]:
    """Findings naming a twin's calls, by twin class: (instance label, finding)."""
    out: dict[str, list[tuple[str, Finding]]] = defaultdict(list)
    for finding in findings:
        hit = {labels[s] for s in names(finding) if s in labels}
        for label in hit:
            klass = label.split(":", 1)[1].split("#", 1)[0]
            out[klass].append((label, finding))
    return out
