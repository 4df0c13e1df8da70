"""Poisoning resistance: an agent cannot walk its baseline toward an attack slowly.

After learning (at most 3 recipients per session), the agent adds one recipient per
session per day. Against its own live baseline each day looks like yesterday; against
the frozen reference (which takes in a level only after it held on three days, and grows
it by 25 % per weekly refresh at most) the drift is caught within two weeks.
"""

from __future__ import annotations

from agentaudit.detector.engine import Detector
from agentaudit.detector.model import Call
from agentaudit.detector.policy import DetectorSettings
from tests.detector._data import DAY, HOUR, MINUTE, NS, History, call

HISTORY = History()


def drift(days: int) -> list[Call]:
    """Day d after the history: 8 sessions, each mailing 3 + d known-domain recipients."""
    calls = []
    for day in range(1, days + 1):
        for session in range(8):
            ts = HISTORY.end + day * DAY + (9 + session) * HOUR
            for i in range(3 + day):
                to = f"mailbox:r{(session * 7 + i) % 60}@company.example"
                calls.append(
                    call(ts=ts + i * 20 * NS, session_id=f"d{day}-{session}", resource_ids=(to,))
                )
    return calls


def first_fan_out_day(settings: DetectorSettings, days: int = 30) -> int | None:
    detector = Detector(settings)
    detector.process_all(HISTORY.calls())
    for call_ in drift(days):
        detector.process(call_)
        if any(f.rule == "fan_out" for f in detector.take_findings()):
            return int((call_.ts_ns - HISTORY.end) // DAY)
    return None


def test_slow_drift_is_caught_against_the_frozen_reference() -> None:
    day = first_fan_out_day(DetectorSettings())
    assert day is not None
    assert day <= 14, day
    print(f"a +1 recipient/day drift from 3 is caught on day {day}")


def test_the_same_drift_passes_a_baseline_that_follows_live_behaviour() -> None:
    # What the reference prevents: refreshed daily from the live baseline, any level
    # promoted at once and unbounded growth, the drift never looks unusual.
    follow_live = DetectorSettings(refresh_days=1, promote_days=1, growth=1000.0)
    assert first_fan_out_day(follow_live) is None


def test_a_new_recipient_domain_is_flagged_each_day_until_it_is_settled() -> None:
    detector = Detector()
    detector.process_all(HISTORY.calls())
    days_flagged = []
    for day in range(1, 15):
        ts = HISTORY.end + day * DAY + 10 * HOUR
        detector.process(
            call(ts=ts, session_id=f"x{day}", resource_ids=("mailbox:a@drip.example",))
        )
        detector.process(
            call(ts=ts + MINUTE, session_id=f"x{day}", resource_ids=("mailbox:c1@company.example",))
        )
        if any(f.rule == "new_recipient_domain" for f in detector.take_findings()):
            days_flagged.append(day)
    # flagged every day until a weekly refresh finds it settled (3+ days, first 3+ days ago)
    assert days_flagged[:4] == [1, 2, 3, 4]
    assert len(days_flagged) >= 4
    assert days_flagged[-1] < 14  # then it is part of the reference
