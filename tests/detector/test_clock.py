"""The detector's clock: a call's claimed time is believed only near its receipt.

A call's ``ts`` is what the agent's span says; ``received_ns`` is the collector's. An
agent that forges its times must not be able to pass an attack off as history (never
acted on), nor spread a burst over claimed minutes. Each attack below went unanswered
while the detector ran on the claimed time.
"""

from __future__ import annotations

from dataclasses import replace

from agentaudit.detector.engine import HISTORY, Detector, clock_ns
from agentaudit.detector.model import Call
from agentaudit.detector.policy import DetectorSettings
from tests.detector._data import MINUTE, NS, History, after, call, untrusted

HISTORY_CALLS = History().calls()
NOW = after(History())  # the day after the history, 10:00 UTC
AGE = 60 * NS  # the default max_claimed_age_seconds


def test_clock_keeps_a_claim_near_its_receipt_and_bounds_the_rest() -> None:
    received = 1_000 * NS
    at = call(ts=received - 5 * NS, received_ns=received)
    assert clock_ns(at, AGE) == 995 * NS  # an export delay: the claim stands
    assert clock_ns(replace(at, ts_ns=received - AGE), AGE) == 940 * NS
    assert clock_ns(replace(at, ts_ns=3 * NS), AGE) == 940 * NS  # backdated: receipt - age
    assert clock_ns(replace(at, ts_ns=5_000 * NS), AGE) == 1_000 * NS  # future: the receipt
    assert clock_ns(replace(at, ts_ns=3 * NS, received_ns=0), AGE) == 3 * NS  # no receipt


def _learned(settings: DetectorSettings | None = None) -> Detector:
    detector = Detector(settings or DetectorSettings())
    detector.process_all(HISTORY_CALLS)
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert not baseline.learning
    assert detector.take_findings() == []
    return detector


def _fan_out(claimed: int, received: int, count: int = 60) -> list[Call]:
    """A fan-out to ``count`` new mailboxes, one per second from ``received``, each call
    claiming to be ``claimed`` (its agent's word)."""
    return [
        untrusted(
            call(
                ts=claimed + i * NS,
                session_id="evil",
                resource_ids=(f"mailbox:v{i}@x.example",),
                received_ns=received + i * NS,
            )
        )
        for i in range(count)
    ]


def test_an_attack_claimed_an_hour_old_is_live_and_quarantined() -> None:
    detector = _learned()
    detector.act_after_ns = NOW - 300 * NS  # what the service sets: 5 min of action window
    detector.process_all(_fan_out(claimed=NOW - 60 * MINUTE, received=NOW))
    actions = detector.take_actions()
    assert [a.action for a in actions][:1] == ["quarantine"]
    finding = {f.rule: f for f in detector.take_findings()}["fan_out"]
    assert finding.action == "quarantine"
    assert finding.evidence["action"]["skipped"] != HISTORY
    assert finding.evidence["retimed_calls"] == finding.evidence["calls"] > 0
    # The finding's times are the detector's: within the tolerance before receipt.
    assert finding.ts_ns >= NOW - AGE


def test_the_same_attack_truly_received_long_ago_is_still_history() -> None:
    # A backlog (received before the action window, read after a restart) stays history.
    detector = _learned()
    detector.act_after_ns = NOW + 3_600 * NS
    detector.process_all(_fan_out(claimed=NOW, received=NOW + 2 * NS))
    assert detector.take_actions() == []
    finding = {f.rule: f for f in detector.take_findings()}["fan_out"]
    assert finding.action == "none"
    assert finding.evidence["action"]["skipped"] == HISTORY
    assert finding.evidence["retimed_calls"] == 0


def test_a_burst_claimed_one_call_a_minute_is_still_a_burst() -> None:
    detector = _learned()
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert baseline.reference is not None
    limit = max(3 * baseline.reference.minute_max, baseline.reference.minute_max + 30)
    received = NOW + MINUTE  # the calls arrive within 10 s of one minute ...
    burst = [
        call(
            ts=NOW - (i + 1) * MINUTE,  # ... each claiming a minute of its own, in the past
            session_id="b",
            resource_ids=("mailbox:c1@company.example",),
            received_ns=received + i * NS // 10,
        )
        for i in range(limit + 1)
    ]
    detector.process_all(burst)
    finding = {f.rule: f for f in detector.take_findings()}["burst"]
    assert finding.evidence["observed"]["per_minute"] == limit + 1
    assert finding.evidence["retimed_calls"] > 0


def test_an_operator_who_trusts_claims_gets_the_claimed_times() -> None:
    # max_claimed_age_seconds raised (to load history over OTLP): the claim stands.
    detector = _learned(DetectorSettings(max_claimed_age_seconds=7_200))
    detector.act_after_ns = NOW - 300 * NS
    detector.process_all(_fan_out(claimed=NOW - 60 * MINUTE, received=NOW))
    assert detector.take_actions() == []
    finding = {f.rule: f for f in detector.take_findings()}["fan_out"]
    assert finding.evidence["action"]["skipped"] == HISTORY
    assert finding.evidence["retimed_calls"] == 0


# -- rule claimed_time: the claim itself is a finding, dated at receipt ---------------------


def test_a_backdated_call_is_a_claimed_time_finding_dated_at_its_receipt() -> None:
    detector = _learned()
    backdated = call(
        ts=NOW - 3_600 * NS,
        session_id="s-x",
        resource_ids=("mailbox:c1@company.example",),
        received_ns=NOW,
    )
    detector.process(backdated)
    finding = {f.rule: f for f in detector.take_findings()}["claimed_time"]
    assert finding.severity == "medium"
    assert finding.action == "alert"
    assert finding.ts_ns == NOW - AGE  # dated by the clock, not the claim
    assert finding.evidence["observed"] == {"offset_seconds": -3_600.0}
    assert finding.summary.startswith(
        "support-bot sent calls claiming to end up to 1 hour before the collector received them"
    )


def test_a_call_from_the_future_is_a_claimed_time_finding() -> None:
    detector = _learned()
    ahead = call(ts=NOW + 600 * NS, resource_ids=("mailbox:c1@company.example",), received_ns=NOW)
    detector.process(ahead)
    finding = {f.rule: f for f in detector.take_findings()}["claimed_time"]
    assert finding.evidence["observed"] == {"offset_seconds": 600.0}
    assert "up to 10 minutes after the collector received them" in finding.summary


def test_a_backdated_start_with_a_forged_duration_is_a_claimed_time_finding() -> None:
    # Claiming to have run for a day hides nothing: no span ends after it was exported.
    detector = _learned()
    hidden = call(
        ts=NOW - 3_600 * NS,
        duration_ns=86_400 * NS,
        resource_ids=("mailbox:c1@company.example",),
        received_ns=NOW,
    )
    detector.process(hidden)
    finding = {f.rule: f for f in detector.take_findings()}["claimed_time"]
    assert finding.evidence["observed"] == {"offset_seconds": 82_800.0}


def test_a_long_call_exported_when_it_ends_and_an_export_delay_are_not_hits() -> None:
    detector = _learned()
    long_call = call(  # started 20 min before receipt, ran 19 min 50 s
        ts=NOW - 1_200 * NS,
        duration_ns=1_190 * NS,
        resource_ids=("mailbox:c1@company.example",),
        received_ns=NOW,
    )
    delayed = call(  # exported 50 s after it ended; a clock 50 s fast
        ts=NOW - 50 * NS, resource_ids=("mailbox:c1@company.example",), received_ns=NOW
    )
    fast = call(ts=NOW + 50 * NS, resource_ids=("mailbox:c1@company.example",), received_ns=NOW)
    detector.process_all([long_call, delayed, fast])
    assert "claimed_time" not in {f.rule for f in detector.take_findings()}
