"""The learning period: findings at most ``alert`` until an agent has ``learning_calls``
calls and ``learning_days`` days of history, counted by the calls' own ``ts`` — so
backfilled (imported, old) history completes it."""

from __future__ import annotations

import time
from dataclasses import replace

from agentaudit.detector.engine import HISTORY, Detector
from agentaudit.detector.model import Call
from agentaudit.detector.policy import DetectorSettings
from tests.detector._data import DAY, NS, History, after, call, untrusted


def fan_out_attack(at: int, session: str = "evil", count: int = 60) -> list[Call]:
    return [
        untrusted(
            call(ts=at + i * NS, session_id=session, resource_ids=(f"mailbox:v{i}@x.example",))
        )
        for i in range(count)
    ]


def test_no_automatic_action_while_learning() -> None:
    history = History(days=3, sessions_per_day=14)  # plenty of calls, too few days
    detector = Detector(DetectorSettings(learning_calls=50, learning_days=7))
    detector.process_all(history.calls())
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert baseline.calls >= 50
    assert baseline.learning
    assert baseline.reference is not None
    assert not baseline.reference.frozen

    detector.process_all(fan_out_attack(after(history)))
    (finding,) = [f for f in detector.take_findings() if f.rule == "fan_out"]
    assert finding.severity == "critical"
    assert finding.action == "alert"  # quarantine once learning is over
    assert finding.evidence["learning"] is True
    assert finding.evidence["action"]["decided"] == "alert"
    assert detector.take_actions() == []
    # the novelty rules wait for the frozen reference
    assert not [f for f in detector.take_findings() if f.rule == "new_recipient_domain"]


def test_enough_days_but_too_few_calls_is_still_learning() -> None:
    history = History(days=10, sessions_per_day=1)
    detector = Detector(DetectorSettings(learning_calls=200, learning_days=7))
    detector.process_all(history.calls())
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert baseline.span_days > 7
    assert baseline.calls < 200
    assert baseline.learning


def test_backfilled_history_completes_learning_then_the_detector_acts() -> None:
    # Ten days of history imported now: old ts, received now; the operator trusts the
    # claimed times that far back (what the demo configures to load its history).
    now = time.time_ns()
    history = History(start=now - now % DAY - 12 * DAY)
    received = [replace(c, received_ns=now) for c in history.calls()]
    detector = Detector(DetectorSettings(max_claimed_age_seconds=13 * DAY / NS))
    detector.act_after_ns = now - 300 * NS  # what the service sets: the past is not acted on
    detector.process_all(received)
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert not baseline.learning
    assert detector.take_actions() == []

    detector.process_all(fan_out_attack(now))
    actions = detector.take_actions()
    assert [a.action for a in actions][:1] == ["quarantine"]
    assert actions[0].agent == "support-bot"
    assert actions[0].reason.startswith("detector: support-bot ")
    findings = {f.rule: f for f in detector.take_findings()}
    assert findings["fan_out"].action == "quarantine"
    assert findings["fan_out"].evidence["learning"] is False


def test_history_backfilled_by_default_counts_at_its_receipt() -> None:
    # The same backfill without the operator's trust: the claimed days are the agent's
    # word, so they neither complete learning nor make the calls history.
    now = time.time_ns()
    history = History(start=now - now % DAY - 12 * DAY)
    received = [replace(c, received_ns=now) for c in history.calls()]
    detector = Detector(DetectorSettings())
    detector.act_after_ns = now - 300 * NS
    detector.process_all(received)
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert baseline.calls == len(received)
    assert baseline.span_days < 1
    assert baseline.learning


def test_an_old_attack_in_imported_history_is_recorded_not_acted_on() -> None:
    now = time.time_ns()
    history = History(start=now - now % DAY - 20 * DAY)
    detector = Detector(DetectorSettings())
    detector.act_after_ns = now - 300 * NS
    detector.process_all(history.calls())
    detector.process_all(fan_out_attack(after(history)))  # 10 days ago
    assert detector.take_actions() == []
    finding = {f.rule: f for f in detector.take_findings()}["fan_out"]
    assert finding.action == "none"
    assert finding.evidence["action"]["decided"] == "quarantine"
    assert finding.evidence["action"]["skipped"].startswith("history")


def test_a_finding_in_backfilled_history_is_recorded_not_alerted() -> None:
    # Backfilled history is learned; what it raises is kept (action none), but neither
    # acted on nor sent to the on-call channel: the alerts send actions other than none.
    now = time.time_ns()
    history = History(start=now - now % DAY - 20 * DAY)
    detector = Detector(DetectorSettings())
    detector.act_after_ns = now - 300 * NS
    detector.process_all(history.calls())
    old = after(history)  # ten days ago
    detector.process_all([call(tool="export_customers", ts=old, resource_ids=("crm:all",))])
    finding = {f.rule: f for f in detector.take_findings()}["new_tool"]
    assert finding.severity == "medium"
    assert finding.evidence["action"]["decided"] == "alert"
    assert finding.action == "none"
    assert finding.evidence["action"]["skipped"].startswith("history")

    # The same tool now, live: alerted.
    detector.process_all([call(tool="export_customers", ts=now, resource_ids=("crm:all",))])
    live = {f.rule: f for f in detector.take_findings()}["new_tool"]
    assert live.finding_id != finding.finding_id
    assert live.action == "alert"
    assert live.evidence["action"]["skipped"] == ""


def test_a_live_call_joining_a_history_incident_makes_it_alert() -> None:
    # A backlog read late: the incident's first call is older than the action window
    # (recorded, not alerted); a live call of the same session, minutes later, joins the
    # incident: now it is news, and the finding alerts.
    now = time.time_ns()
    history = History(start=now - now % DAY - 20 * DAY)
    detector = Detector(DetectorSettings())
    detector.act_after_ns = now - 300 * NS
    detector.process_all(history.calls())
    backlog = call(tool="export_customers", ts=now - 600 * NS, session_id="s-late")
    detector.process_all([backlog])
    (old,) = [f for f in detector.take_findings() if f.rule == "new_tool"]
    assert old.action == "none"
    assert old.evidence["action"]["skipped"] == HISTORY

    detector.process_all([call(tool="export_customers", ts=now, session_id="s-late")])
    (joined,) = [f for f in detector.take_findings() if f.rule == "new_tool"]
    assert joined.finding_id == old.finding_id  # one incident
    assert joined.evidence["calls"] == 2
    assert joined.action == "alert"
    assert joined.evidence["action"]["skipped"] == ""
    assert detector.take_actions() == []  # medium: an alert, no automatic action


def test_history_read_chain_by_chain_raises_nothing() -> None:
    # Two receiving workers write two chains; after a restart or a backfill the follower
    # reads one chain's batches, then the other's: the calls go back in time by days.
    calls = History(sessions_per_day=24, first_hour=0, hours=24).calls()
    requests = [calls[i : i + 200] for i in range(0, len(calls), 200)]
    first = [c for request in requests[0::2] for c in request]
    second = [c for request in requests[1::2] for c in request]
    detector = Detector(DetectorSettings())
    detector.process_all(first)
    detector.process_all(second)
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert not baseline.learning
    assert detector.take_findings() == []
