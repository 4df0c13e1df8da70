"""The store-owning side of ``--workers N``: spawn, supervise and drain worker processes.

This process holds the OTLP ports (bound with SO_REUSEPORT, not listening) so they stay
reserved, and starts N worker processes (:mod:`~agentaudit.collector.workers.process`)
that listen on them. Each worker's WAL directory (``<wal_dir>/worker-<n>``) is followed
by a :class:`~agentaudit.collector.wal.follower.WalFollower` feeding a writer of its own
here, so converting and storing batches has this interpreter to itself. A worker WAL
left by an earlier run with more workers is drained too. Each worker's metrics reports
(:mod:`~agentaudit.collector.workers.reports`) join this process's ``/metrics``.

Invariants: a worker that dies is restarted (its WAL is intact; the follower keeps
reading); :meth:`WorkerPool.stop` first stops the workers' receivers (SIGTERM: in-flight
exports finish), then drains every WAL into the store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentaudit.collector.errors import CollectorError
from agentaudit.collector.metrics import CollectorMetrics
from agentaudit.collector.serving.server import bind_socket
from agentaudit.collector.wal.follower import WalFollower
from agentaudit.collector.wal.log import WalEntry
from agentaudit.collector.workers.reports import WorkerReports
from agentaudit.collector.writer.writer import Writer
from agentaudit.config import SETTINGS, Config

__all__ = ["DEAD_LETTER_FILE", "ApprovalKeys", "MakeWriter", "WorkerPool", "worker_spec"]

log = logging.getLogger(__name__)

DEAD_LETTER_FILE = "dead-letter.spans"
_WORKER_DIR = re.compile(r"worker-(\d+)")
_NOT_FOR_WORKERS = frozenset(
    {
        "token",
        "admin_token",
        "config",
        "api_url",
        "store",
        "clickhouse_url",
        "reader_clickhouse_url",
        "chain_key_file",
    }
)
"""A worker never opens the store or signs chain links, and its command line (readable by
every local user) carries no token or password: tokens go by environment."""


@dataclass(frozen=True)
class ApprovalKeys:
    """What verifies an approval grant: the signer's public keys (JWKS) and issuer."""

    jwks: dict[str, Any]
    issuer: str


MakeWriter = Callable[[WalFollower, Path], Writer]
"""``make_writer(follower, dead_letter_path)``: a writer draining one worker's WAL."""


def worker_spec(
    config: Config,
    *,
    grpc_port: int,
    http_port: int,
    wal_dir: Path,
    approvals: ApprovalKeys | None = None,
) -> str:
    """The JSON argument of a worker process: its settings, never a token.

    Tokens reach the worker through its environment, not its command line (which every
    local user can read). ``approvals`` are the public keys (JWKS) and issuer that verify
    approval grants, so a worker stamps grants exactly as the store-owning process does.
    """
    settings: dict[str, Any] = {}
    for setting in SETTINGS:
        value = getattr(config, setting.name)
        if setting.name in _NOT_FOR_WORKERS or value is None:
            continue
        settings[setting.name] = str(value) if isinstance(value, Path) else value
    settings.update(grpc_port=grpc_port, http_port=http_port, wal_dir=str(wal_dir))
    sections = {"redaction": dict(config.sections.get("redaction", {}))}
    return json.dumps(
        {
            "settings": settings,
            "sections": sections,
            "state_dir": str(config.state_dir),
            "approvals": dataclasses.asdict(approvals) if approvals else None,
        }
    )


def _spawn(
    number: int, argv: list[str], env: dict[str, str], reports: WorkerReports
) -> tuple[subprocess.Popen[str], threading.Thread]:
    """Start a worker process, wait until it serves, and follow its metrics reports."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.wait(30)
        raise CollectorError(
            f"worker {number} did not start (exit code {process.returncode}); see its log"
        )
    reader = threading.Thread(
        target=reports.follow,
        args=(number, process.stdout),
        name=f"worker-{number}-reports",
        daemon=True,
    )
    reader.start()
    return process, reader


@dataclass
class _Drain:
    """A worker WAL's follower and writer, built and not started yet."""

    number: int | None  # the worker that will run on it; None: a leftover, drained only
    path: Path
    follower: WalFollower
    writer: Writer


@dataclass
class _Worker:
    """A worker process and the follower/writer draining its WAL.

    ``process`` is None for the WAL of a worker an earlier run had and this one has not:
    it is drained and nothing more.
    """

    number: int
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[str] | None
    follower: WalFollower
    writer: Writer
    reports: threading.Thread | None = None  # reads the process's metrics reports
    restarts: int = 0

    def retire(self, reports: WorkerReports) -> None:
        """The process exited: read its last reports, then fold them into the retired."""
        if self.reports is not None:
            self.reports.join(5)
        reports.retire(self.number)


class WorkerPool:
    """N receive-only worker processes on the collector's OTLP ports (N = ``workers``
    when above 1), and the drains of worker WALs an earlier run left (always).

    Constructing the pool binds (holds) the ports, so a busy port fails before anything
    serves; :meth:`start` spawns the workers; :meth:`stop` stops and drains them.
    """

    def __init__(
        self,
        config: Config,
        *,
        metrics: CollectorMetrics,
        make_writer: MakeWriter,
        approvals: ApprovalKeys | None = None,
    ) -> None:
        assert config.wal_dir is not None
        self._config = config
        self._approvals = approvals
        self._metrics = metrics
        self._make_writer = make_writer
        self._workers: list[_Worker] = []
        self._reports = WorkerReports()
        metrics.include(self._reports.total)
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._held: list[socket.socket] = []
        self._spawn = config.workers if config.workers > 1 else 0
        for port, what, flag in (
            ()
            if not self._spawn
            else (
                (config.grpc_port, "OTLP/gRPC", "--grpc-port"),
                (config.http_port, "OTLP/HTTP", "--http-port"),
            )
        ):
            self._held.append(
                bind_socket(config.host, port, what=what, flag=flag, reuse_port=True, listen=False)
            )
        try:
            self._drains = self._build_drains(config.wal_dir)
        except BaseException:
            for held in self._held:
                held.close()
            raise

    @property
    def grpc_port(self) -> int:
        return int(self._held[0].getsockname()[1])

    @property
    def http_port(self) -> int:
        return int(self._held[1].getsockname()[1])

    @property
    def pending(self) -> int:
        return sum(w.writer.pending for w in self._workers)

    @property
    def wal_bytes(self) -> int:
        """Bytes of the running workers' WAL segments, as they last reported."""
        return self._reports.total().wal_bytes

    def oldest_pending_ns(self) -> int | None:
        """Receive time of the oldest span the drains have not stored yet."""
        found = [w.writer.oldest_pending_ns() for w in self._workers]
        return min((ns for ns in found if ns is not None), default=None)

    @property
    def tool_calls_written(self) -> int:
        """Tool calls the drains of worker WALs stored."""
        return sum(w.writer.stats.tool_calls_written for w in self._workers)

    def running(self) -> list[_Worker]:
        """The workers with a process (not the drains of an earlier run's WALs)."""
        return [w for w in self._workers if w.process is not None]

    def health(self) -> dict[str, Any]:
        return {
            "workers": len(self.running()),
            "pending_in_workers": self.pending,
            "worker_pids": [w.process.pid for w in self.running() if w.process is not None],
            "worker_restarts": sum(w.restarts for w in self._workers),
        }

    def start(self) -> None:
        """Spawn the workers, drain leftover WALs, and supervise."""
        for number in range(1, self._spawn + 1):
            self._workers.append(self._start_worker(number))
        self._drain_leftover_wals()
        if not self._spawn:
            return
        self._supervisor = threading.Thread(
            target=self._supervise, name="worker-supervisor", daemon=True
        )
        self._supervisor.start()

    def _build_drains(self, wal_dir: Path) -> list[_Drain]:
        """A follower and a writer for every worker WAL: this run's workers', and those an
        earlier run left.

        Built with the pool, before any writer of the process starts: a writer whose WAL
        holds a batch a crash interrupted claims that batch's spans when it is built
        (:mod:`~agentaudit.collector.writer.dedup`), and no writer may store its own copy
        of one of them first.
        """
        spawned = [(number, wal_dir / f"worker-{number}") for number in range(1, self._spawn + 1)]
        leftovers: list[tuple[int | None, Path]] = []
        if wal_dir.is_dir():
            ours = {path for _, path in spawned}
            leftovers = [
                (None, path)
                for path in sorted(wal_dir.iterdir())
                if _WORKER_DIR.fullmatch(path.name) and path.is_dir() and path not in ours
            ]
        drains = []
        for number, path in [*spawned, *leftovers]:
            follower = WalFollower(path)
            writer = self._make_writer(follower, path / DEAD_LETTER_FILE)
            drains.append(_Drain(number, path, follower, writer))
        return drains

    def _take_drain(self, number: int) -> _Drain:
        drain = next(d for d in self._drains if d.number == number)
        self._drains.remove(drain)
        return drain

    def _start_draining(self, follower: WalFollower, writer: Writer) -> None:
        drained = self._metrics.drained

        def drain(entry: WalEntry) -> None:
            drained.inc(len(entry.spans))
            writer.enqueue_entry(entry)

        writer.start()
        follower.start(drain)

    def _drain_leftover_wals(self) -> None:
        """Drain the WAL of every worker an earlier run had and this one has not."""
        for drain in self._drains:
            match = _WORKER_DIR.fullmatch(drain.path.name)
            assert match is not None
            self._start_draining(drain.follower, drain.writer)
            self._workers.append(
                _Worker(int(match.group(1)), [], {}, None, drain.follower, drain.writer)
            )
            log.info("draining %s, left by an earlier run with more workers", drain.path)
        self._drains = []

    def _start_worker(self, number: int) -> _Worker:
        """Spawn receive-only worker ``number``; drain its WAL here."""
        drain = self._take_drain(number)
        spec = worker_spec(
            self._config,
            grpc_port=self.grpc_port,
            http_port=self.http_port,
            wal_dir=drain.path,
            approvals=self._approvals,
        )
        env = dict(os.environ)
        env.pop("AGENTAUDIT_TOKEN", None)
        env.pop("AGENTAUDIT_ADMIN_TOKEN", None)  # a worker never needs the responder token
        if self._config.token:
            env["AGENTAUDIT_TOKEN"] = self._config.token
        argv = [sys.executable, "-m", "agentaudit.collector.workers.process", spec]
        process, reports = _spawn(number, argv, env, self._reports)
        self._start_draining(drain.follower, drain.writer)
        log.info("worker %d (pid %d) receiving, WAL %s", number, process.pid, drain.path)
        return _Worker(number, argv, env, process, drain.follower, drain.writer, reports)

    def _supervise(self) -> None:
        """Restart a worker that died (its WAL is intact; the follower keeps reading)."""
        while not self._stopping.wait(1.0):
            for worker in self.running():
                assert worker.process is not None
                code = worker.process.poll()
                if code is None or self._stopping.is_set():
                    continue
                log.error("worker %d exited with %s; restarting it", worker.number, code)
                worker.retire(self._reports)
                try:
                    worker.process, worker.reports = _spawn(
                        worker.number, worker.argv, worker.env, self._reports
                    )
                    worker.restarts += 1
                except CollectorError as exc:
                    log.error("%s", exc)

    def stop(self) -> None:
        """Stop the workers' receivers, drain what their WALs hold, release the ports."""
        self._stopping.set()
        self._drains = []  # built and never started (start failed): nothing to drain
        if self._supervisor is not None:
            self._supervisor.join(10)
        for worker in self.running():
            assert worker.process is not None
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self._workers:
            if worker.process is not None:
                try:
                    worker.process.wait(60)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait(10)
                worker.retire(self._reports)
            worker.follower.stop()
            worker.writer.stop()
        self._workers = []
        for held in self._held:
            held.close()
