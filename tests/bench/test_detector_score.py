"""The detection benchmark's scoring (bench/_detector/score.py): what counts as detected,
flagged and false, and the precision / recall / F1 built on them.

The corpus here is ours only (no AgentDojo, which ``make bench`` installs); the real
detector runs over it, as in ``python -m bench detector``.
"""

from __future__ import annotations

import pytest

from agentaudit.detector.policy import DetectorSettings
from bench._detector import corpus as corpora
from bench._detector import score


def test_scores_follow_the_definitions() -> None:
    s = score.Scores("high", attacks=60, detected=59, benign_sessions=3000, false_sessions=15)
    assert s.recall == pytest.approx(59 / 60)
    assert s.precision == pytest.approx(59 / 74)
    assert s.f1 == pytest.approx(2 * (59 / 74) * (59 / 60) / (59 / 74 + 59 / 60))
    none = score.Scores("high", attacks=0, detected=0, benign_sessions=10, false_sessions=0)
    assert (none.precision, none.recall, none.f1) == (0.0, 0.0, 0.0)
    missed_all = score.Scores("high", attacks=5, detected=0, benign_sessions=10, false_sessions=2)
    assert (missed_all.precision, missed_all.recall, missed_all.f1) == (0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def corpus() -> corpora.Corpus:
    return corpora.build(with_agentdojo=False)


def test_an_exfiltration_is_detected_and_its_benign_stream_flags_no_session(
    corpus: corpora.Corpus,
) -> None:
    settings = DetectorSettings()
    attack = next(a for a in corpus.attacks if a.name == "exfil_fanout#0")
    benign = corpus.benign[attack.agent]
    result = score.run_attack(benign, attack.calls, attack.marked, settings)
    assert result.detected
    assert score.detected_at(result, "high")
    assert score.detected_at(result, "medium")
    assert result.detected_span in attack.marked
    assert "fan_out" in result.high_rules

    clean = score.run_benign(attack.agent, benign, settings)
    assert clean.sessions > 1000  # ~50 a day after learning
    assert clean.flagged("high") == set()
    s = score.scores([result], [clean], "high")
    assert (s.attacks, s.detected, s.false_sessions) == (1, 1, 0)
    assert s.f1 == 1.0


def test_attack_calls_in_a_benign_stream_count_as_a_flagged_session(
    corpus: corpora.Corpus,
) -> None:
    # The same attack, labelled benign: its session must come out as a false positive,
    # so a detector that flags ordinary sessions cannot score a perfect precision.
    attack = next(a for a in corpus.attacks if a.name == "exfil_fanout#0")
    mixed = sorted([*corpus.benign[attack.agent], *attack.calls], key=lambda c: c.ts_ns)
    run = score.run_benign(attack.agent, mixed, DetectorSettings())
    sessions = {c.session_id for c in attack.calls if c.span_id in attack.marked}
    assert sessions <= run.flagged("high")
    s = score.scores([], [run], "high")
    assert s.false_sessions >= 1
    assert s.precision == 0.0


def test_an_attack_seen_only_below_the_threshold_is_missed_at_it() -> None:
    medium = score.AttackResult(severity="medium", rules={"new_resource"})
    assert not score.detected_at(medium, "high")
    assert score.detected_at(medium, "medium")
    assert not score.detected_at(score.AttackResult(), "low")  # no finding at all
    at_high = score.scores([medium, score.AttackResult()], [], "high")
    at_medium = score.scores([medium, score.AttackResult()], [], "medium")
    assert (at_high.detected, at_high.recall) == (0, 0.0)
    assert (at_medium.detected, at_medium.recall) == (1, 0.5)
