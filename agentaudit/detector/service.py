"""The detector as a running part: follow the store, detect, persist, act.

:class:`DetectorService` composes the parts on one thread: a
:class:`~agentaudit.detector.follower.Follower` over the audit chain, the
:class:`~agentaudit.detector.engine.Detector`, the finding and baseline logs
(:mod:`~agentaudit.detector.records`) and an
:class:`~agentaudit.detector.actions.ActionRunner`. Each cycle:

1. take the outcomes of finished actions onto their findings;
2. every ``exceptions_seconds``, reload the (agent, rule) pairs responders marked
   ``false_positive``;
3. read new batches until there are none (or ``MAX_CALLS_PER_CYCLE``), evaluating each
   call, and hand every decided action to the runner at once (latency matters there);
4. every :data:`SWEEP_SECONDS`, sweep for calls a tool server ran that the caller
   claimed to record and never did (:mod:`~agentaudit.detector.unrecorded`: findings of
   rule ``unrecorded_call``, alert only);
5. write the findings that changed (one version each) and hand them to ``on_finding``
   (the alert router) — a finding whose automatic action is under way goes there with
   its next version, once the action's outcome (its revocation id) is in;
6. every ``checkpoint_seconds``, and at stop, save the changed baselines with the
   follower's position and the sweep's cursor (one insert).

A cycle runs every ``interval`` seconds, and at once when :meth:`DetectorService.wake`
is called (the collector's writer calls it after each stored batch). While it catches
up on a backlog the thread keeps to ``[detector] max_cpu`` of a core (it pauses between
reads), so a burst of traffic slows detection, not ingest. Calls older than
``act_window_seconds`` (by the engine's clock, :func:`~.engine.clock_ns`: at most
``max_claimed_age_seconds`` before their receipt) are never acted on: after a long stop,
or for history whose claimed times the operator believes, the detector learns and
records but does not quarantine for the past.

Used inside ``agentaudit up``/``collector`` (embedded store; the revocation service of
the same process) and by ``agentaudit detect --follow`` (a ClickHouse server; actions
through the admin API). A failure in one cycle (the store unreachable) is logged and the
cycle retried; nothing read is lost, since the position is only saved with the baselines
that include it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from agentaudit.catalog.enforcement import CatalogSource
from agentaudit.detector.actions import ActionRunner, Actions
from agentaudit.detector.baseline import Baseline, Bounds
from agentaudit.detector.engine import Detector
from agentaudit.detector.follower import Follower, Handed, Source, StoreSource
from agentaudit.detector.model import Finding, StoreHandle
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.records import BaselineLog, FindingLog
from agentaudit.detector.unrecorded import Cursor, unrecorded_calls
from agentaudit.store import StoreError

__all__ = ["DetectorService"]

log = logging.getLogger(__name__)

MAX_CALLS_PER_CYCLE: Final = 200_000
SWEEP_SECONDS: Final = 5.0
"""How often the unrecorded-call sweep runs (its grace is 60 s: no need to run it often)."""
"""A long backlog is read in several cycles, so findings and checkpoints keep coming."""


def _acting(finding: Finding) -> bool:
    """Whether the finding's automatic action was asked for and has no outcome yet."""
    action = finding.evidence.get("action", {})
    return bool(action.get("requested")) and not (finding.revocation_id or action.get("error"))


class DetectorService:
    """The detector following ``store`` (module docstring). :meth:`start`/:meth:`stop`."""

    def __init__(
        self,
        store: StoreHandle,
        settings: DetectorSettings | None = None,
        *,
        actions: Actions | None = None,
        source: Source | None = None,
        interval: float = 0.5,
        checkpoint_seconds: float = 10.0,
        exceptions_seconds: float = 10.0,
        act_window_seconds: float = 300.0,
        bounds: Bounds | None = None,
        on_finding: Callable[[Finding], object] | None = None,
        catalog: CatalogSource | None = None,
    ) -> None:
        self.store = store
        self._catalog = catalog  # rule off_card's identity-card catalog (engine.py)
        self.settings = settings or DetectorSettings()
        self.findings = FindingLog(store)
        self.baselines = BaselineLog(store, bounds=bounds)
        self._source = source or StoreSource(store)
        self._actions = actions
        self._bounds = bounds
        self._interval = interval
        self._checkpoint_seconds = checkpoint_seconds
        self._exceptions_seconds = exceptions_seconds
        self._act_window_ns = int(act_window_seconds * 1e9)
        self._on_finding = on_finding
        self.detector: Detector | None = None
        self.follower: Follower | None = None
        self._runner: ActionRunner | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one cycle at a time (the thread, stop, tests)
        self._unwritten: list[Finding] = []
        self._unrecorded: Cursor | None = None  # the unrecorded-call sweep's position
        self._last_sweep = 0.0
        self._unsaved: dict[str, Baseline] = {}
        self._last_checkpoint = 0.0
        self._last_exceptions = 0.0
        self.errors = 0
        self.cycles = 0
        self.paused = 0.0  # seconds paused by the CPU bound

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> DetectorService:
        """Load the saved baselines and position; nothing runs yet (tests drive
        :meth:`run_once`)."""
        baselines, position, self._unrecorded = self.baselines.load()
        self.detector = Detector(
            self.settings,
            baselines=baselines,
            bounds=self._bounds,
            act=self._actions is not None,
            catalog=self._catalog,
        )
        self.follower = Follower(self._source, position)
        if self._actions is not None:
            self._runner = ActionRunner(self._actions, on_done=self.wake)
        log.info(
            "detector: %d baselines loaded, following %d chain(s)%s",
            len(baselines),
            len(position),
            "" if position else " from their start",
        )
        self._last_checkpoint = time.monotonic()
        return self

    def start(self) -> DetectorService:
        """Open, then follow on a daemon thread."""
        if self.detector is None:
            self.open()
        self._thread = threading.Thread(target=self._loop, name="agentaudit-detector", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Run a cycle now."""
        self._wake.set()

    def offer(self, batch: Handed) -> None:
        """The writer of this process stored a batch: read it (from ``batch`` itself when
        it carries its rows, :class:`~agentaudit.detector.follower.Follower`) now."""
        follower = self.follower
        if follower is not None:
            follower.offer(batch)
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the cycle under way, the pending actions, then write and save everything."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._runner is not None:
            self._runner.close(timeout)
        if self.detector is None:
            return
        with self._lock:
            try:
                self._take_outcomes()
                self._write_findings()
                self.checkpoint()
            except StoreError:
                log.exception("detector: the last findings or baselines could not be saved")

    # -- one cycle ---------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                self.errors += 1
                log.exception("detector: a cycle failed; retrying")
                busy = False
            if busy:
                continue
            self._wake.wait(self._interval)
            self._wake.clear()

    def run_once(self) -> bool:
        """One cycle (module docstring); True when more is waiting to be read."""
        assert self.detector is not None
        assert self.follower is not None
        with self._lock:
            self.cycles += 1
            now = time.monotonic()
            self._take_outcomes()
            if now - self._last_exceptions >= self._exceptions_seconds:
                self._last_exceptions = now
                self.detector.suppress(self.findings.false_positives())
            read = self._read()
            if now - self._last_sweep >= SWEEP_SECONDS:
                self._last_sweep = now
                self._sweep_unrecorded()
            self._write_findings()
            if time.monotonic() - self._last_checkpoint >= self._checkpoint_seconds:
                self.checkpoint()
            return read >= MAX_CALLS_PER_CYCLE

    def _read(self) -> int:
        detector, follower = self.detector, self.follower
        assert detector is not None
        assert follower is not None
        detector.act_after_ns = time.time_ns() - self._act_window_ns
        read = 0
        while read < MAX_CALLS_PER_CYCLE and not self._stop.is_set():
            cpu, wall = time.thread_time(), time.monotonic()
            batches = follower.poll()
            if not batches:
                break
            for _, calls in batches:
                for call in calls:
                    try:
                        detector.process(call)
                    except Exception:  # a bug must not stop the detector on one call
                        self.errors += 1
                        log.exception(
                            "detector: evaluating %s/%s failed", call.trace_id, call.span_id
                        )
                read += len(calls)
            self._dispatch()
            self._pace(time.thread_time() - cpu, time.monotonic() - wall)
        return read

    def _sweep_unrecorded(self) -> None:
        """Findings for the calls a tool server ran that the caller claimed to record and
        never did (:mod:`~agentaudit.detector.unrecorded`). Action ``alert``, never an
        automatic one: the agent the finding names is what the caller put in the request,
        so acting on it would let anyone who can call the tool server quarantine any
        agent."""
        sweep = unrecorded_calls(
            self.store, after=self._unrecorded, grace_seconds=self.settings.unrecorded_grace_seconds
        )
        self._unrecorded = sweep.cursor
        for finding in sweep.findings:
            self._unwritten.append(dataclasses.replace(finding, action="alert"))

    def _pace(self, cpu: float, wall: float) -> None:
        """Pause so this thread uses at most ``max_cpu`` of a core while it catches up
        (the actions were handed over already: pausing never delays one)."""
        rest = cpu / self.settings.max_cpu - wall
        if rest > 0.001:
            self.paused += rest
            self._stop.wait(min(rest, 1.0))

    def _dispatch(self) -> None:
        assert self.detector is not None
        for request in self.detector.take_actions():
            if self._runner is not None:
                self._runner.submit(request)

    def _take_outcomes(self) -> None:
        if self._runner is None or self.detector is None:
            return
        for outcome in self._runner.completed():
            self.detector.action_done(
                outcome.request.group_key, revocation_id=outcome.revocation_id, error=outcome.error
            )

    def _write_findings(self) -> None:
        assert self.detector is not None
        pending = {f.finding_id: f for f in self._unwritten}
        for finding in self.detector.take_findings():
            pending[finding.finding_id] = finding
        if not pending:
            return
        self._unwritten = list(pending.values())
        written = self.findings.write(self._unwritten)
        self._unwritten = []
        if self._on_finding is not None:
            for finding in written:
                if _acting(finding):
                    continue  # alerted with its next version, once the action is done
                try:
                    self._on_finding(finding)
                except Exception:
                    log.exception("detector: a finding listener failed")

    def checkpoint(self) -> None:
        """Save the changed baselines and the follower's position (one insert)."""
        assert self.detector is not None
        assert self.follower is not None
        self._unsaved.update(self.detector.take_baselines())
        self.baselines.save(self._unsaved, self.follower.position, self._unrecorded)
        self._unsaved = {}
        self._last_checkpoint = time.monotonic()

    # -- what it reports ---------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        detector, follower = self.detector, self.follower
        return {
            "detector_calls": detector.calls if detector else 0,
            "detector_agents": len(detector.agents) if detector else 0,
            "detector_batches": follower.batches_read if follower else 0,
            "detector_batches_handed": follower.batches_handed if follower else 0,
            "detector_errors": self.errors,
            "detector_paused_seconds": round(self.paused, 3),
        }
