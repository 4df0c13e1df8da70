"""Findings in, alerts out: filtering, grouping of duplicates, and delivery off the caller.

``detector -> AlertRouter.submit(finding) -> [grouping] -> QueuedSink (bounded queue,
own thread) -> AlertSink.send`` — one queue and thread per sink, so a stalled webhook
stalls neither the detector nor the SIEM file.

Filtering: a finding whose ``action`` is ``none`` or whose severity is below
``min_severity`` is not alerted.

Grouping. Findings with the same ``group_key`` (else the same agent, rule and session)
belong to one incident while they keep coming: an incident ends ``group_window`` seconds
after its last finding. Its first finding is sent at once; later ones only count. A
follow-up (the count, how many are new, the worst finding so far) goes out at most every
``follow_up_interval`` seconds while new findings arrived — at once when the severity or
the action rises above what was last sent, and when the incident ends or the router
closes with findings not yet reported. Windows run on the router's monotonic clock, not
on the findings' timestamps (which come from the agent's spans).

Bounds. ``submit`` never blocks and never raises: grouping is a dictionary update under
a lock, delivery a ``put_nowait``; a full queue drops the alert (counted per sink, logged
at most once a minute). Each sink retries within its own policy on its own thread;
:meth:`AlertRouter.close` waits at most ``timeout`` seconds for the queues to drain, then
abandons what is left (counted). At most ``max_incidents`` incidents are remembered (the
least recently seen is ended first).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from agentaudit.detector.alerts.alert import Alert, AlertSink, finding_link
from agentaudit.detector.model import ACTIONS, SEVERITIES, Finding, severity_at_least

__all__ = ["AlertRouter", "QueuedSink", "SinkStats", "Submitted"]

log = logging.getLogger(__name__)

Submitted = Literal["alerted", "follow_up", "grouped", "filtered", "failed"]
"""What :meth:`AlertRouter.submit` did with a finding."""

DROP_LOG_INTERVAL: Final = 60.0
_STOP: Final = object()


@dataclass
class SinkStats:
    """Counters of one sink (read with :meth:`AlertRouter.stats`)."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    abandoned: int = 0


class QueuedSink:
    """One sink behind a bounded queue and its own daemon thread."""

    def __init__(
        self,
        sink: AlertSink,
        *,
        maxsize: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxsize < 1:
            raise ValueError("the alert queue needs room for at least one alert")
        self.sink = sink
        self.name = sink.name
        self.stats = SinkStats()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._clock = clock
        self._lock = threading.Lock()
        self._abandon = threading.Event()
        self._last_drop_log: float | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"agentaudit-alerts-{self.name}", daemon=True
            )
            self._thread.start()

    def offer(self, alert: Alert) -> bool:
        """Queue ``alert`` without blocking; False (counted, logged) when the queue is full."""
        try:
            self._queue.put_nowait(alert)
            return True
        except queue.Full:
            with self._lock:
                self.stats.dropped += 1
                dropped = self.stats.dropped
                now = self._clock()
                due = self._last_drop_log is None or now - self._last_drop_log >= DROP_LOG_INTERVAL
                if due:
                    self._last_drop_log = now
            if due:
                log.warning(
                    "detector alerts: the queue of %s is full (%d alerts waiting); "
                    "%d alerts dropped so far",
                    self.name,
                    self._queue.qsize(),
                    dropped,
                )
            return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._abandon.is_set():
                with self._lock:
                    self.stats.abandoned += 1
                continue
            try:
                self.sink.send(item)
            except Exception as exc:
                with self._lock:
                    self.stats.failed += 1
                log.warning(
                    "detector alerts: %s did not take the alert of finding %s: %s",
                    self.name,
                    item.finding.finding_id,
                    exc,
                )
            else:
                with self._lock:
                    self.stats.delivered += 1

    def _drain(self) -> int:
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            left += item is not _STOP
        with self._lock:
            self.stats.abandoned += left
        self._queue.put_nowait(_STOP)
        return left

    def close(self, deadline: float) -> bool:
        """Let the queue drain until ``deadline`` (``time.monotonic``); True when it did.
        What is left is abandoned; the sink is closed once its thread has stopped."""
        thread = self._thread
        if thread is not None:
            while True:  # the stop marker must get in after the queued alerts
                try:
                    self._queue.put(_STOP, timeout=max(0.0, min(0.05, deadline - time.monotonic())))
                    break
                except queue.Full:
                    if time.monotonic() >= deadline:
                        break
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():  # stuck in a send: drop the rest, let it end after that
                self._abandon.set()
                left = self._drain()
                log.warning(
                    "detector alerts: %s still busy at shutdown; %d queued alerts abandoned",
                    self.name,
                    left,
                )
                return False
            left = 0
        else:  # never started: nothing was delivered
            left = self._queue.qsize()
            with self._lock:
                self.stats.abandoned += left
        try:
            self.sink.close()
        except Exception as exc:
            log.warning("detector alerts: closing %s failed: %s", self.name, exc)
        return left == 0


def _rank(finding: Finding) -> tuple[int, int]:
    return SEVERITIES.index(finding.severity), ACTIONS.index(finding.action)


@dataclass
class _Incident:
    first: Finding
    worst: Finding
    count: int
    last_seen: float
    last_sent: float
    sent_rank: tuple[int, int]
    sequence: int = 0
    pending: int = 0
    last_ts_ns: int = 0
    first_ts_ns: int = field(default=0)


class AlertRouter:
    """Filters, groups and fans findings out to the sinks (module doc for the rules).

    Lifecycle: ``start()`` (or ``with``) starts one delivery thread per sink and a ticker
    that sends due follow-ups every ``tick`` seconds; ``close(timeout)`` reports what is
    pending, drains the queues for at most ``timeout`` seconds and closes the sinks.
    Findings submitted before ``start`` wait in the (bounded) queues.
    """

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        *,
        dashboard_url: str | None = None,
        min_severity: str = "low",
        group_window: float = 900.0,
        follow_up_interval: float = 60.0,
        queue_size: int = 1000,
        max_incidents: int = 10_000,
        tick: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_severity not in SEVERITIES:
            raise ValueError(f"min_severity {min_severity!r} is not one of {SEVERITIES}")
        if group_window <= 0 or follow_up_interval <= 0 or tick <= 0 or max_incidents < 1:
            raise ValueError("group_window, follow_up_interval, tick and max_incidents must be > 0")
        self.dashboard_url = dashboard_url
        self.min_severity = min_severity
        self.group_window = group_window
        self.follow_up_interval = follow_up_interval
        self._queues = [QueuedSink(sink, maxsize=queue_size, clock=clock) for sink in sinks]
        self._max_incidents = max_incidents
        self._tick = tick
        self._clock = clock
        self._lock = threading.Lock()
        self._incidents: OrderedDict[tuple[str, ...], _Incident] = OrderedDict()
        self._counts = {"findings": 0, "filtered": 0, "grouped": 0, "alerts": 0, "failed": 0}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._closed = False

    @property
    def sinks(self) -> list[AlertSink]:
        return [queued.sink for queued in self._queues]

    def start(self) -> AlertRouter:
        """Start the delivery threads and the follow-up ticker (idempotent)."""
        for queued in self._queues:
            queued.start()
        if self._ticker is None:
            self._ticker = threading.Thread(
                target=self._tick_loop, name="agentaudit-alerts-ticker", daemon=True
            )
            self._ticker.start()
        return self

    def __enter__(self) -> AlertRouter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, finding: Finding) -> Submitted:
        """Alert ``finding`` (or count it into its incident); never blocks, never raises."""
        try:
            return self._submit(finding)
        except Exception:
            log.exception("detector alerts: finding %s could not be routed", finding.finding_id)
            with self._lock:
                self._counts["failed"] += 1
            return "failed"

    def _submit(self, finding: Finding) -> Submitted:
        with self._lock:
            self._counts["findings"] += 1
            if (
                self._closed
                or finding.action == "none"
                or not severity_at_least(finding.severity, self.min_severity)
            ):
                self._counts["filtered"] += 1
                return "filtered"
            now = self._clock()
            key = self._key(finding)
            incident = self._incidents.get(key)
            if incident is not None and now - incident.last_seen >= self.group_window:
                self._end(key, incident)
                incident = None
            if incident is None:
                self._open(key, finding, now)
                return "alerted"
            self._incidents.move_to_end(key)
            incident.count += 1
            incident.pending += 1
            incident.last_seen = now
            incident.last_ts_ns = max(incident.last_ts_ns, finding.ts_ns)
            if _rank(finding) >= _rank(incident.worst):
                incident.worst = finding
            severity, action = _rank(finding)
            rose = severity > incident.sent_rank[0] or action > incident.sent_rank[1]
            if rose or now - incident.last_sent >= self.follow_up_interval:
                self._follow_up(incident, now)
                return "follow_up"
            self._counts["grouped"] += 1
            return "grouped"

    @staticmethod
    def _key(finding: Finding) -> tuple[str, ...]:
        if finding.group_key:
            return ("group", finding.group_key)
        return ("ars", finding.agent_id, finding.rule, finding.session_id)

    def _open(self, key: tuple[str, ...], finding: Finding, now: float) -> None:
        while len(self._incidents) >= self._max_incidents:
            old_key, old = next(iter(self._incidents.items()))
            self._end(old_key, old)
        self._incidents[key] = _Incident(
            first=finding,
            worst=finding,
            count=1,
            last_seen=now,
            last_sent=now,
            sent_rank=_rank(finding),
            first_ts_ns=finding.ts_ns,
            last_ts_ns=finding.ts_ns,
        )
        self._dispatch(Alert.single(finding, finding_link(self.dashboard_url, finding)))

    def _follow_up(self, incident: _Incident, now: float) -> None:
        incident.sequence += 1
        worst = incident.worst
        alert = Alert(
            worst,
            finding_link(self.dashboard_url, worst),
            incident=incident.first.finding_id,
            sequence=incident.sequence,
            count=incident.count,
            new=incident.pending,
            first_ts_ns=incident.first_ts_ns,
            last_ts_ns=incident.last_ts_ns,
        )
        incident.pending = 0
        incident.last_sent = now
        incident.sent_rank = (
            max(incident.sent_rank[0], _rank(worst)[0]),
            max(incident.sent_rank[1], _rank(worst)[1]),
        )
        self._dispatch(alert)

    def _end(self, key: tuple[str, ...], incident: _Incident) -> None:
        if incident.pending:
            self._follow_up(incident, self._clock())
        self._incidents.pop(key, None)

    def _dispatch(self, alert: Alert) -> None:
        self._counts["alerts"] += 1
        for queued in self._queues:
            queued.offer(alert)

    def poll(self) -> int:
        """Send the follow-ups that are due and end quiet incidents; the number sent.
        (The ticker calls this; tests call it with a fake clock.)"""
        sent = 0
        with self._lock:
            now = self._clock()
            for key, incident in list(self._incidents.items()):
                quiet = now - incident.last_seen >= self.group_window
                due = incident.pending and now - incident.last_sent >= self.follow_up_interval
                if due or (quiet and incident.pending):
                    self._follow_up(incident, now)
                    sent += 1
                if quiet:
                    del self._incidents[key]
        return sent

    def _tick_loop(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.poll()
            except Exception:
                log.exception("detector alerts: the follow-up ticker failed")

    def close(self, timeout: float = 5.0) -> bool:
        """Send pending follow-ups, drain the queues for at most ``timeout`` seconds, close
        the sinks; True when everything queued was handed to its sink."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            for incident in self._incidents.values():
                if incident.pending:
                    self._follow_up(incident, self._clock())
            self._incidents.clear()
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(max(0.0, deadline - time.monotonic()))
        drained = [queued.close(deadline) for queued in self._queues]
        return all(drained)

    def stats(self) -> dict[str, Any]:
        """Router counters and, per sink, delivered / failed / dropped / abandoned."""
        with self._lock:
            counts: dict[str, Any] = dict(self._counts)
            counts["open_incidents"] = len(self._incidents)
        counts["sinks"] = {q.name: replace(q.stats) for q in self._queues}
        return counts
