"""The collector's side of its detector process (:mod:`.process`): start, feed, serve,
supervise, stop.

:class:`DetectorProcess` is what ``agentaudit up``/``collector`` runs when the detector
is on (``detector_mode``). It spawns ``python -m agentaudit.detector.process`` with the
child ends of three socket pairs (:mod:`.channel`), then:

* :meth:`DetectorProcess.offer` takes each batch the writer stored; a sender thread
  encodes its rows (Arrow IPC) and sends them, so the writer never waits on the
  detector. At most :data:`MAX_WAITING` batches wait; older ones are dropped, and the
  detector reads them from the store (its follower reads every link it was not handed);
* two threads answer the detector's store calls (on this process's store) and its
  events (actions through the revocation service, findings to the alert router, its
  health counters);
* a detector process that dies is restarted after :data:`RESTART_SECONDS`: it loads its
  saved baselines and position and reads what it missed from the store (nothing is lost;
  the calls since its last checkpoint are evaluated again).

:meth:`DetectorProcess.stop` asks the process to finish (its last findings and
checkpoint come back over the store connection, answered until it exits) and waits up
to ``timeout`` seconds before killing it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from agentaudit.detector.actions import Actions
from agentaudit.detector.channel import decode_table, encode_calls, serve
from agentaudit.detector.follower import Handed
from agentaudit.detector.model import Finding
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.service import DetectorService
from agentaudit.store import Store

__all__ = ["MAX_WAITING", "RESTART_SECONDS", "DetectorProcess"]

log = logging.getLogger(__name__)

MAX_WAITING: Final = 64
"""Stored batches waiting to be sent at most (each holds its rows)."""
RESTART_SECONDS: Final = 1.0
_SUPERVISE_SECONDS: Final = 0.5


class _Child:
    """One run of the detector process: the process, our ends, the serving threads."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pairs = [socket.socketpair() for _ in range(3)]
        ours = [Connection(a.detach()) for a, _ in pairs]
        theirs = [b.detach() for _, b in pairs]
        try:
            self.process = subprocess.Popen(
                [*argv, *map(str, theirs)], pass_fds=theirs, env=env, stdin=subprocess.DEVNULL
            )
        finally:
            for fd in theirs:
                os.close(fd)
        self.batches, self.store, self.events = ours
        self.threads: list[threading.Thread] = []

    def serve(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"agentaudit-detector-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        for connection in (self.batches, self.store, self.events):
            connection.close()


class DetectorProcess:
    """The detector in a process of its own, fed by this one (module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: DetectorSettings,
        *,
        actions: Actions,
        on_finding: Callable[[Finding], object],
        catalog: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        self._store = store
        self._settings = settings
        self._actions = actions
        self._on_finding = on_finding
        self._catalog = catalog
        self._argv = [python, "-m", "agentaudit.detector.process"]
        self._waiting: deque[Handed] = deque(maxlen=MAX_WAITING)
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # the current child, swapped by the supervisor
        self._child: _Child | None = None
        # The service's counters, all zero, until the process reports its own.
        self._health: dict[str, Any] = DetectorService(store, settings).health()
        self._sender: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None
        self.restarts = 0
        self.reports = 0  # health reports received (the first: the process is following)
        self.dropped = 0

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> DetectorProcess:
        self._child = self._spawn()
        self._sender = threading.Thread(
            target=self._send, name="agentaudit-detector-sender", daemon=True
        )
        self._sender.start()
        self._supervisor = threading.Thread(
            target=self._supervise, name="agentaudit-detector-supervisor", daemon=True
        )
        self._supervisor.start()
        return self

    def _spawn(self) -> _Child:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTAUDIT_")}
        child = _Child(self._argv, env)
        child.batches.send(("init", self._settings, self._catalog))
        child.serve(
            "store",
            lambda: serve(child.store, {"query": self._store.query, "insert": self._insert}),
        )
        child.serve(
            "events",
            lambda: serve(
                child.events,
                {"act": self._actions.carry_out},
                {"finding": self._on_finding, "health": self._take_health},
            ),
        )
        log.info("detector: running in process %d", child.process.pid)
        return child

    def _insert(self, table: str, data: bytes, dedup_token: str | None) -> bool:
        self._store.insert_arrow(table, decode_table(data), dedup_token=dedup_token)
        return True

    def _take_health(self, health: dict[str, Any]) -> None:
        self._health = health
        self.reports += 1

    def _supervise(self) -> None:
        """Restart a detector process that died (module docstring)."""
        while not self._stopping.wait(_SUPERVISE_SECONDS):
            child = self._child
            if child is None or child.process.poll() is None:
                continue
            log.error(
                "detector: its process exited with %s; restarting it in %.0f s",
                child.process.returncode,
                RESTART_SECONDS,
            )
            child.close()
            if self._stopping.wait(RESTART_SECONDS):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._child = self._spawn()
                    self.restarts += 1
                except OSError:
                    log.exception("detector: its process could not be started")

    def stop(self, timeout: float = 60.0) -> None:
        """Send what waits, let the process save its findings and baselines, and wait
        for it (killed after ``timeout`` seconds)."""
        with self._lock:
            self._stopping.set()
        self._ready.set()
        if self._sender is not None:
            self._sender.join(timeout)
        if self._supervisor is not None:
            self._supervisor.join(timeout)
        child = self._child
        if child is None:
            return
        with contextlib.suppress(OSError):  # it is gone already
            child.batches.send(("stop",))
        try:
            child.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("detector: its process did not stop within %.0f s; killing it", timeout)
            child.process.kill()
            child.process.wait(10)
        for thread in child.threads:  # the process is gone: its ends are closed
            thread.join(10)
        child.close()

    # -- feeding -----------------------------------------------------------------------

    def offer(self, batch: Handed) -> None:
        """The writer stored ``batch`` (never blocks; module docstring)."""
        if len(self._waiting) == MAX_WAITING:
            self.dropped += 1
        self._waiting.append(batch)
        self._ready.set()

    def _send(self) -> None:
        """Send the waiting batches; at stop, those still waiting first."""
        while True:
            self._ready.wait()
            self._ready.clear()
            while self._waiting:
                batch = self._waiting.popleft()
                rows = encode_calls(batch.calls) if batch.calls is not None else None
                child = self._child
                try:
                    if child is not None:
                        child.batches.send(
                            ("batch", batch.chain_id, batch.seq, batch.batch_id, rows)
                        )
                except OSError:
                    self.dropped += 1  # restarting: the store has it
            if self._stopping.is_set():
                return

    # -- what it reports ---------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The running detector process's id (None while it is down)."""
        child = self._child
        return child.process.pid if child is not None and child.process.poll() is None else None

    def health(self) -> dict[str, Any]:
        """The process's last counters and the host's own (no pid: ``/healthz`` is open)."""
        return {
            **self._health,
            "detector_running": self.pid is not None,
            "detector_restarts": self.restarts,
            "detector_dropped_batches": self.dropped,
        }
