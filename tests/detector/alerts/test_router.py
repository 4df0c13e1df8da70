"""The router: filtering, grouping of duplicates, and delivery that never holds up the
detector — against real receivers (one that answers 500, one that never answers)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from agentaudit.collector.admin.revocation import RetryPolicy, SignedWebhook
from agentaudit.detector.alerts import AlertRouter, ChatWebhookSink
from tests.broker.helpers import FakeClock
from tests.broker.receivers import RunningReceiver
from tests.detector.alerts.helpers import (
    DASHBOARD,
    SECRET,
    HangingServer,
    RecordingSink,
    finding,
)

INTERVAL = 60.0
WINDOW = 900.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def router(clock: FakeClock, sink: RecordingSink) -> Iterator[AlertRouter]:
    router = AlertRouter(
        [sink],
        dashboard_url=DASHBOARD,
        group_window=WINDOW,
        follow_up_interval=INTERVAL,
        clock=clock,
        tick=3600,  # the tests call poll() themselves, on the fake clock
    ).start()
    yield router
    router.close(timeout=5)


def test_fifty_duplicates_make_one_alert_and_one_follow_up(
    router: AlertRouter, sink: RecordingSink, clock: FakeClock
) -> None:
    duplicates = [finding(ts_ns=finding().ts_ns + i * 10**9) for i in range(50)]
    results = []
    for duplicate in duplicates:
        results.append(router.submit(duplicate))
        clock.advance(0.5)  # 25 s in all: inside one follow-up interval
    assert results == ["alerted"] + ["grouped"] * 49
    (first,) = sink.wait_for(1)
    assert first.finding is duplicates[0]
    assert (first.sequence, first.count, first.link) == (
        0,
        1,
        f"{DASHBOARD}/session?session=sess-42",
    )

    assert router.poll() == 0  # not due yet
    clock.advance(INTERVAL)
    assert router.poll() == 1
    assert router.poll() == 0  # nothing new since
    _, follow_up = sink.wait_for(2)
    assert (follow_up.sequence, follow_up.count, follow_up.new) == (1, 50, 49)
    assert follow_up.incident_id == duplicates[0].finding_id
    assert follow_up.finding is duplicates[-1]  # the newest of the (equally) worst
    assert (follow_up.first_ts_ns, follow_up.last_ts_ns) == (
        duplicates[0].ts_ns,
        duplicates[-1].ts_ns,
    )
    router.close()
    assert len(sink.alerts) == 2
    stats = router.stats()
    assert (stats["findings"], stats["alerts"], stats["grouped"]) == (50, 2, 49)
    assert stats["sinks"]["memory"].delivered == 2


def test_a_duplicate_after_the_interval_is_sent_at_once_as_a_follow_up(
    router: AlertRouter, sink: RecordingSink, clock: FakeClock
) -> None:
    assert router.submit(finding()) == "alerted"
    clock.advance(INTERVAL)
    assert router.submit(finding()) == "follow_up"
    assert [a.count for a in sink.wait_for(2)] == [1, 2]


def test_rising_severity_or_action_is_sent_at_once(
    router: AlertRouter, sink: RecordingSink, clock: FakeClock
) -> None:
    assert router.submit(finding(severity="medium", action="alert")) == "alerted"
    assert router.submit(finding(severity="medium", action="alert")) == "grouped"
    assert router.submit(finding(severity="high", action="alert")) == "follow_up"
    assert router.submit(finding(severity="medium", action="alert")) == "grouped"
    assert router.submit(finding(severity="high", action="quarantine")) == "follow_up"
    assert router.submit(finding(severity="high", action="quarantine")) == "grouped"
    alerts = sink.wait_for(3)
    assert [(a.finding.severity, a.finding.action, a.count, a.new) for a in alerts] == [
        ("medium", "alert", 1, 1),
        ("high", "alert", 3, 2),
        ("high", "quarantine", 5, 2),
    ]
    clock.advance(INTERVAL)
    assert router.poll() == 1  # the one grouped since
    assert sink.wait_for(4)[-1].finding.action == "quarantine"  # the worst so far


def test_incidents_are_keyed_by_group_key_else_agent_rule_and_session(
    router: AlertRouter, sink: RecordingSink
) -> None:
    assert router.submit(finding()) == "alerted"
    assert router.submit(finding(session_id="sess-43")) == "alerted"
    assert router.submit(finding(rule="new_tool")) == "alerted"
    assert router.submit(finding(agent_id="billing-bot")) == "alerted"
    assert router.submit(finding(group_key="incident-7", session_id="a")) == "alerted"
    assert router.submit(finding(group_key="incident-7", session_id="b")) == "grouped"
    assert len(sink.wait_for(5)) == 5


def test_an_incident_ends_after_a_quiet_window(
    router: AlertRouter, sink: RecordingSink, clock: FakeClock
) -> None:
    assert router.submit(finding()) == "alerted"
    clock.advance(WINDOW - 1)
    assert router.submit(finding()) == "follow_up"  # still the same incident
    clock.advance(10)
    assert router.submit(finding()) == "grouped"
    clock.advance(WINDOW)
    assert router.submit(finding()) == "alerted"  # a new incident; the old one reported
    alerts = sink.wait_for(4)
    assert [(a.sequence, a.count, a.new) for a in alerts] == [
        (0, 1, 1),
        (1, 2, 1),
        (2, 3, 1),
        (0, 1, 1),
    ]
    assert alerts[3].incident_id != alerts[0].incident_id
    clock.advance(WINDOW)
    assert router.poll() == 0
    assert router.stats()["open_incidents"] == 0


def test_close_reports_what_is_pending(clock: FakeClock, sink: RecordingSink) -> None:
    router = AlertRouter([sink], clock=clock, tick=3600).start()
    for _ in range(5):
        router.submit(finding())
    assert router.close(timeout=5)
    assert [(a.sequence, a.count, a.new) for a in sink.alerts] == [(0, 1, 1), (1, 5, 4)]
    assert sink.closed
    assert router.submit(finding()) == "filtered"  # closed
    assert router.close() is True  # idempotent


def test_findings_without_action_or_below_the_floor_are_not_alerted(
    clock: FakeClock, sink: RecordingSink
) -> None:
    with AlertRouter([sink], min_severity="high", clock=clock, tick=3600) as router:
        assert router.submit(finding(action="none")) == "filtered"
        assert router.submit(finding(severity="medium")) == "filtered"
        assert router.submit(finding(severity="high")) == "alerted"
        assert router.submit(finding(severity="critical", rule="other")) == "alerted"
    assert len(sink.alerts) == 2
    assert router.stats()["filtered"] == 2


def test_remembered_incidents_are_bounded(clock: FakeClock, sink: RecordingSink) -> None:
    with AlertRouter([sink], max_incidents=3, clock=clock, tick=3600) as router:
        for session in ("a", "b", "c"):
            router.submit(finding(session_id=session))
        router.submit(finding(session_id="a"))  # a: pending follow-up, most recent
        router.submit(finding(session_id="d"))  # ends b, the least recently seen
        assert router.stats()["open_incidents"] == 3
        assert router.submit(finding(session_id="b")) == "alerted"  # b was forgotten
    assert [a.finding.session_id for a in sink.alerts if a.sequence == 0] == list("abcdb")


def test_the_ticker_sends_due_follow_ups() -> None:
    sink = RecordingSink()
    with AlertRouter([sink], follow_up_interval=0.2, tick=0.05) as router:
        router.submit(finding())
        router.submit(finding())
        alerts = sink.wait_for(2, timeout=5)
    assert [a.count for a in alerts] == [1, 2]


def test_alerts_submitted_before_start_wait_in_the_queue() -> None:
    sink = RecordingSink()
    router = AlertRouter([sink], tick=3600)
    assert router.submit(finding()) == "alerted"
    router.start()
    assert len(sink.wait_for(1)) == 1
    assert router.close()


def test_a_broken_sink_is_counted_and_the_others_still_get_the_alert() -> None:
    class Broken(RecordingSink):
        def send(self, alert: object) -> None:
            raise RuntimeError("disk on fire")

    good, broken = RecordingSink("good"), Broken("broken")
    with AlertRouter([broken, good], tick=3600) as router:
        router.submit(finding())
        good.wait_for(1)
    stats = router.stats()["sinks"]
    assert (stats["broken"].failed, stats["good"].delivered) == (1, 1)


def _webhook_sink(url: str, *, timeout: float, attempts: int) -> ChatWebhookSink:
    return ChatWebhookSink(
        SignedWebhook(
            url,
            SECRET,
            name="chat",
            timeout=timeout,
            retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.01),
        )
    )


def test_a_receiver_answering_500_gets_bounded_retries() -> None:
    with RunningReceiver(SECRET, statuses=[500] * 20) as running:
        router = AlertRouter([_webhook_sink(running.url, timeout=5, attempts=3)]).start()
        router.submit(finding())
        router.submit(finding(session_id="other"))
        assert router.close(timeout=10)
    assert len(running.receiver.deliveries) == 6  # 2 alerts x 3 attempts, then given up
    assert all(d.signature_ok for d in running.receiver.deliveries)
    assert router.stats()["sinks"]["chat"].failed == 2


def test_a_hanging_receiver_never_holds_up_the_caller() -> None:
    with HangingServer() as server:
        memory = RecordingSink()
        router = AlertRouter(
            [_webhook_sink(server.url, timeout=1.0, attempts=2), memory], queue_size=5
        ).start()
        slowest = 0.0
        began = time.monotonic()
        for index in range(200):  # distinct incidents: each one is an alert
            start = time.monotonic()
            assert router.submit(finding(session_id=f"s{index}")) == "alerted"
            slowest = max(slowest, time.monotonic() - start)
        submitting = time.monotonic() - began
        # One submit is a dict update and a put_nowait (microseconds); the bounds leave room
        # for a loaded machine and are far below one attempt's 1 s timeout.
        assert slowest < 0.25
        assert submitting < 2.0  # 200 submits while the receiver hangs

        stats = router.stats()["sinks"]
        assert stats["chat"].dropped >= 200 - 5 - 1  # the queue holds 5, the worker 1
        memory.wait_for(5)  # the other sink is not held up by the stalled one

        began = time.monotonic()
        assert router.close(timeout=0.5) is False  # the webhook is still stuck
        assert time.monotonic() - began < 1.5  # close waits for its timeout, not the peer
        chat = router.stats()["sinks"]["chat"]
        assert 1 <= chat.abandoned <= 5  # what was still queued
        assert chat.dropped + chat.abandoned == 200 - 1  # and one in flight

        # Retries are bounded: the alert in flight gets its 2 attempts, then the worker
        # ends; the abandoned ones are never tried.
        deadline = time.monotonic() + 5
        while len(server.connections) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)
        assert len(server.connections) == 2
