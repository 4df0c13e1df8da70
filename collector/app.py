"""Compose the collector: store, WAL, writer, pipeline, receivers and admin API.

Start order: check the bind policy, open the store (and lock it, when embedded), apply
migrations, open the WAL (and lock its directory) and load what it holds that the store
does not, start the writer (which replays that first), bind every listener (so a busy
port fails before anything serves), then start serving.

With ``workers > 1`` this process receives nothing: it holds the OTLP ports (bound
with SO_REUSEPORT, not listening) and starts that many worker processes
(:mod:`~agentaudit.collector.worker`) that listen on them, each followed by a
:class:`~agentaudit.collector.wal_follower.WalFollower` and a writer of its own here.
Converting and storing batches then has this process's interpreter (its GIL) to
itself. A worker WAL directory left by an earlier run with more workers is drained too.

Stop order is the reverse, and it is what makes a clean shutdown (SIGTERM) lose
nothing: receivers stop accepting first (in-flight exports finish and are
acknowledged), then the workers stop and their WALs are drained, then the writer
drains everything it was handed into the store, then the WAL closes, then the admin
API stops, then the store closes. A crash at any point loses nothing either: what was
acknowledged is in a WAL and is replayed on start.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentaudit.collector.admin_api import build_admin_app
from agentaudit.collector.chain import AuditChain
from agentaudit.collector.errors import CollectorError
from agentaudit.collector.http_server import HttpServer, bind_socket
from agentaudit.collector.metrics import CONTENT_TYPE, CollectorMetrics
from agentaudit.collector.migrations import apply_migrations
from agentaudit.collector.pipeline import Pipeline
from agentaudit.collector.receiver_grpc import MAX_MESSAGE_BYTES, GrpcReceiver
from agentaudit.collector.receiver_http import build_otlp_http_app
from agentaudit.collector.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.spans import SpanRecord
from agentaudit.collector.store import Store
from agentaudit.collector.wal import DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES, Wal, WalEntry
from agentaudit.collector.wal_follower import WalFollower
from agentaudit.collector.writer import Writer
from agentaudit.config import Config
from agentaudit.errors import ConfigError

__all__ = ["Collector", "CollectorOptions", "check_bind_policy"]


def _spawn(number: int, argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a worker process and wait until it serves."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.wait(30)
        raise CollectorError(
            f"worker {number} did not start (exit code {process.returncode}); see its log"
        )
    return process


@dataclass
class _Worker:
    """A receive-only worker process and the follower/writer draining its WAL.

    ``process`` is None for the WAL of a worker an earlier run had and this one has not:
    it is drained and nothing more.
    """

    number: int
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[str] | None
    follower: WalFollower
    writer: Writer
    restarts: int = 0


_WORKER_DIR = re.compile(r"worker-(\d+)")


log = logging.getLogger(__name__)

DEAD_LETTER_FILE = "dead-letter.spans"


def check_bind_policy(config: Config) -> None:
    """Refuse a non-loopback bind unless both tokens are configured (DESIGN §5)."""
    if config.loopback_only:
        return
    missing = [
        name
        for name, value in (
            ("AGENTAUDIT_TOKEN", config.token),
            ("AGENTAUDIT_ADMIN_TOKEN", config.admin_token),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"refusing to listen on {config.host} without authentication: set "
            f"{' and '.join(missing)}, or bind loopback with --host 127.0.0.1"
        )


@dataclass(frozen=True)
class CollectorOptions:
    """Collector settings not (yet) in :class:`Config`; see :meth:`from_section`.

    TODO(lead): promote these to Config fields and CLI flags (``--wal-max-bytes``,
    ``--tls-cert``, ``--tls-key``, ``--chain-key-file``, ``--workers``); until then they
    come from the config file's ``[collector]`` section.
    """

    wal_max_bytes: int = DEFAULT_MAX_BYTES
    wal_segment_bytes: int = DEFAULT_SEGMENT_BYTES
    fsync: bool = True
    max_request_bytes: int = MAX_MESSAGE_BYTES
    max_pending_spans: int = 2_000_000
    tls_cert: Path | None = None
    tls_key: Path | None = None
    chain_key: bytes | None = None
    redaction: bool = True
    wal: bool = True
    workers: int = 1

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> CollectorOptions:
        """Read the ``[collector]`` section of the config file; ConfigError names a bad key."""
        known = {
            "wal_max_bytes", "wal_segment_bytes", "fsync", "max_request_bytes",
            "max_pending_spans", "tls_cert", "tls_key", "chain_key_file", "workers",
        }  # fmt: skip
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"config file [collector]: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name in (
            "wal_max_bytes",
            "wal_segment_bytes",
            "max_request_bytes",
            "max_pending_spans",
            "workers",
        ):
            if name in section:
                value = section[name]
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise ConfigError(f"config file [collector] {name}: must be a positive integer")
                values[name] = value
        if "fsync" in section:
            if not isinstance(section["fsync"], bool):
                raise ConfigError("config file [collector] fsync: must be true or false")
            values["fsync"] = section["fsync"]
        for name in ("tls_cert", "tls_key"):
            if name in section:
                values[name] = Path(str(section[name])).expanduser()
        if ("tls_cert" in values) != ("tls_key" in values):
            raise ConfigError("config file [collector]: give both tls_cert and tls_key, or neither")
        if "chain_key_file" in section:
            path = Path(str(section["chain_key_file"])).expanduser()
            try:
                values["chain_key"] = path.read_bytes().strip()
            except OSError as exc:
                raise ConfigError(
                    f"config file [collector] chain_key_file: cannot read {path}: {exc.strerror}"
                ) from None
        return cls(**values)

    @classmethod
    def from_config(cls, config: Config) -> CollectorOptions:
        """The ``[collector]`` section, overridden by what flags and environment set."""
        section = dict(config.sections.get("collector", {}))
        for name in ("workers", "wal_max_bytes"):
            value = getattr(config, name)
            if value is not None:
                section[name] = value
        for name in ("tls_cert", "tls_key", "chain_key_file"):
            path = getattr(config, name)
            if path is not None:
                section[name] = str(path)
        return cls.from_section(section)


class Collector:
    """The running collector. Use :meth:`start` / :meth:`stop`, or ``with``."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        options: CollectorOptions | None = None,
    ) -> None:
        self.config = config
        self.options = options or CollectorOptions.from_config(config)
        self._given_store = store
        self.store: Store | None = store
        self.metrics = CollectorMetrics()
        self.wal: Wal | None = None
        self.writer: Writer | None = None
        self.pipeline: Pipeline | None = None
        self.grpc: GrpcReceiver | None = None
        self.http: HttpServer | None = None
        self.admin: HttpServer | None = None
        self.workers: list[_Worker] = []
        self._held_ports: list[socket.socket] = []
        self.revocation: RevocationPath | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.started_at = 0.0

    @property
    def spans_received(self) -> int:
        """Spans this process received, plus those drained from its workers' WALs."""
        own = self.pipeline.spans_received if self.pipeline else 0
        return own + int(self.metrics.received.value("worker"))

    @property
    def grpc_port(self) -> int:
        """The OTLP/gRPC port (served here, or by the workers)."""
        if self.grpc is not None:
            return self.grpc.port
        return int(self._held_ports[0].getsockname()[1])

    @property
    def http_port(self) -> int:
        """The OTLP/HTTP port (served here, or by the workers)."""
        if self.http is not None:
            return self.http.port
        return int(self._held_ports[1].getsockname()[1])

    def accept(self, spans: list[SpanRecord]) -> None:
        """Feed spans through the pipeline (validate, redact, WAL, writer)."""
        assert self.pipeline is not None
        self.pipeline.accept(spans)

    def health(self) -> dict[str, Any]:
        writer = self.writer
        return {
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "spans_received": self.spans_received,
            "spans_written": writer.stats.spans_written if writer else 0,
            "tool_calls_written": writer.stats.tool_calls_written if writer else 0,
            "pending": writer.pending if writer else 0,
            "store_errors": writer.stats.store_errors if writer else 0,
            "wal_bytes": self.wal.bytes if self.wal else 0,
            "workers": len(self._running_workers()),
            "pending_in_workers": sum(w.writer.pending for w in self.workers),
            "worker_pids": [w.process.pid for w in self.workers if w.process is not None],
            "worker_restarts": sum(w.restarts for w in self.workers),
        }

    def _redactor(self) -> Any:
        if not self.options.redaction:
            return None
        from agentaudit.collector.redaction import Redactor

        state_dir = self.config.wal_dir.parent if self.config.wal_dir else None
        redactor = Redactor.from_config(
            self.config.sections.get("redaction", {}), state_dir=state_dir
        )
        return redactor.redact

    def _register_gauges(self) -> None:
        metrics = self.metrics

        def wal_bytes() -> float:
            return float(self.wal.bytes) if self.wal else 0.0

        def wal_age() -> float:
            oldest = self.writer.oldest_pending_ns() if self.writer else None
            return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1e9)

        def pending() -> float:
            return float(self.writer.pending) if self.writer else 0.0

        metrics.gauge("agentaudit_wal_bytes", "Bytes of WAL segments on disk.", wal_bytes)
        metrics.gauge(
            "agentaudit_wal_oldest_age_seconds",
            "Age of the oldest acknowledged span not yet in the store.",
            wal_age,
        )
        metrics.gauge("agentaudit_writer_pending_spans", "Spans waiting for a batch.", pending)

    def _build_admin(self, store: Store) -> HttpServer:
        state_dir = self.config.wal_dir.parent if self.config.wal_dir else None
        self.revocation = build_revocation_path(
            store,
            self.config.sections,
            default_key_file=state_dir / "broker.pem" if state_dir else None,
        )
        app = build_admin_app(
            store,
            admin_token=self.config.admin_token,
            health=self.health,
            extra_routes=self.revocation.routes(
                admin_token=self.config.admin_token, agent_token=self.config.token
            ),
        )

        async def metrics(request: Request) -> Response:
            return Response(self.metrics.render(), media_type=CONTENT_TYPE)

        app.router.routes.append(Route("/metrics", metrics, methods=["GET"]))
        return HttpServer(
            app,
            host=self.config.host,
            port=self.config.api_port,
            what="the admin API",
            flag="--api-port",
            tls_cert=self.options.tls_cert,
            tls_key=self.options.tls_key,
        )

    def start(self) -> None:
        config, options = self.config, self.options
        check_bind_policy(config)
        if self.store is None:
            self.store = Store.open(config.clickhouse_url)
        try:
            apply_migrations(self.store)
            redact = self._redactor()
            if options.wal and config.wal_dir is not None:
                self.wal = Wal(
                    config.wal_dir,
                    max_bytes=options.wal_max_bytes,
                    segment_bytes=options.wal_segment_bytes,
                    fsync=options.fsync,
                    observe_fsync=self.metrics.fsync_seconds.observe,
                )
            self.writer = Writer(
                self.store,
                batch_rows=config.batch_rows,
                batch_seconds=config.batch_seconds,
                wal=self.wal,
                chain=AuditChain(self.store, key=options.chain_key),
                metrics=self.metrics,
                dead_letter=config.wal_dir / DEAD_LETTER_FILE if config.wal_dir else None,
            )
            self.pipeline = Pipeline(
                self.writer,
                wal=self.wal,
                redact=redact,
                metrics=self.metrics,
                max_pending_spans=options.max_pending_spans,
            )
            self._register_gauges()
            if options.workers > 1:
                self._hold_ports()
            else:
                self._build_receivers(self.pipeline)
            self.admin = self._build_admin(self.store)
            if options.workers > 1:
                for number in range(1, options.workers + 1):
                    self.workers.append(self._start_worker(number, self.store))
            self._drain_leftover_worker_wals(self.store)
        except BaseException:
            self._stop_workers()
            self._close_listeners()
            if self.revocation is not None:
                self.revocation.close()
            if self.wal is not None:
                self.wal.close()
            self._close_store()
            raise
        self.started_at = time.time()
        self.writer.start()
        if self.grpc is not None and self.http is not None:
            self.grpc.start()
            self.http.start()
        self.admin.start()
        if self.workers:
            self._supervisor = threading.Thread(
                target=self._supervise, name="worker-supervisor", daemon=True
            )
            self._supervisor.start()
        log.info("collector started: %s", self.health())

    def _build_receivers(self, pipeline: Pipeline) -> None:
        config, options = self.config, self.options
        self.grpc = GrpcReceiver(
            functools.partial(pipeline.accept, protocol="grpc"),
            host=config.host,
            port=config.grpc_port,
            token=config.token,
            max_message_bytes=options.max_request_bytes,
            tls_cert=options.tls_cert,
            tls_key=options.tls_key,
            latency=self.metrics.export_seconds,
        )
        self.http = HttpServer(
            build_otlp_http_app(
                functools.partial(pipeline.accept, protocol="http"),
                token=config.token,
                max_bytes=options.max_request_bytes,
                latency=self.metrics.export_seconds,
                reject=pipeline.reject,
            ),
            host=config.host,
            port=config.http_port,
            what="OTLP/HTTP",
            flag="--http-port",
            tls_cert=options.tls_cert,
            tls_key=options.tls_key,
        )

    def _hold_ports(self) -> None:
        """Bind the OTLP ports without listening, for the workers to share (SO_REUSEPORT)."""
        config = self.config
        for port, what, flag in (
            (config.grpc_port, "OTLP/gRPC", "--grpc-port"),
            (config.http_port, "OTLP/HTTP", "--http-port"),
        ):
            self._held_ports.append(
                bind_socket(config.host, port, what=what, flag=flag, reuse_port=True, listen=False)
            )

    def _running_workers(self) -> list[_Worker]:
        """The workers with a process (not the drains of an earlier run's WALs)."""
        return [w for w in self.workers if w.process is not None]

    def _close_listeners(self) -> None:
        if self.grpc is not None:
            self.grpc.stop(0)
        for server in (self.http, self.admin):
            if server is not None:
                server.close()
        for held in self._held_ports:
            held.close()

    def stop(self) -> None:
        """Stop receiving, drain the writer into the store, close everything."""
        if self.grpc is not None:
            self.grpc.stop()
        if self.http is not None:
            self.http.stop()
        self._stop_workers()
        for held in self._held_ports:
            held.close()
        if self.writer is not None:
            self.writer.stop()
        if self.wal is not None:
            self.wal.close()
        if self.admin is not None:
            self.admin.stop()
        if self.revocation is not None:
            self.revocation.close()
        self._close_store()
        log.info("collector stopped: %s", self.health())

    def _drainer(self, wal_dir: Path, store: Store) -> tuple[WalFollower, Writer]:
        """A follower of a worker's WAL and the writer that stores what it reads.

        Not started: call :meth:`_start_draining`.
        """
        follower = WalFollower(wal_dir)
        writer = Writer(
            store,
            batch_rows=self.config.batch_rows,
            batch_seconds=self.config.batch_seconds,
            wal=follower,
            chain=AuditChain(store, key=self.options.chain_key),
            metrics=self.metrics,
            dead_letter=wal_dir / DEAD_LETTER_FILE,
        )
        return follower, writer

    def _start_draining(self, follower: WalFollower, writer: Writer) -> None:
        received = self.metrics.received

        def drain(entry: WalEntry) -> None:
            received.inc(len(entry.spans), "worker")
            writer.enqueue_entry(entry)

        writer.start()
        follower.start(drain)

    def _drain_leftover_worker_wals(self, store: Store) -> None:
        """Drain the WAL of every worker an earlier run had and this one has not."""
        if self.config.wal_dir is None or not self.config.wal_dir.is_dir():
            return
        running = {w.number for w in self.workers}
        for path in sorted(self.config.wal_dir.iterdir()):
            match = _WORKER_DIR.fullmatch(path.name)
            if match is None or not path.is_dir() or int(match.group(1)) in running:
                continue
            follower, writer = self._drainer(path, store)
            self._start_draining(follower, writer)
            self.workers.append(_Worker(int(match.group(1)), [], {}, None, follower, writer))
            log.info("draining %s, left by an earlier run with more workers", path)

    def _start_worker(self, number: int, store: Store) -> _Worker:
        """Spawn receive-only worker ``number``; drain its WAL into ``store`` here."""
        assert self.config.wal_dir is not None
        wal_dir = self.config.wal_dir / f"worker-{number}"
        spec = {
            "host": self.config.host,
            "grpc_port": self.grpc_port,
            "http_port": self.http_port,
            "wal_dir": str(wal_dir),
            "state_dir": str(self.config.wal_dir.parent),
            "collector": dict(self.config.sections.get("collector", {})),
            "redaction": dict(self.config.sections.get("redaction", {})),
        }
        env = dict(os.environ)
        env.pop("AGENTAUDIT_TOKEN", None)
        if self.config.token:
            env["AGENTAUDIT_TOKEN"] = self.config.token
        argv = [sys.executable, "-m", "agentaudit.collector.worker", json.dumps(spec)]
        follower, writer = self._drainer(wal_dir, store)
        process = _spawn(number, argv, env)
        self._start_draining(follower, writer)
        log.info("worker %d (pid %d) receiving, WAL %s", number, process.pid, wal_dir)
        return _Worker(number, argv, env, process, follower, writer)

    def _supervise(self) -> None:
        """Restart a worker that died (its WAL is intact; the follower keeps reading)."""
        while not self._stopping.wait(1.0):
            for worker in self._running_workers():
                assert worker.process is not None
                code = worker.process.poll()
                if code is None or self._stopping.is_set():
                    continue
                log.error("worker %d exited with %s; restarting it", worker.number, code)
                try:
                    worker.process = _spawn(worker.number, worker.argv, worker.env)
                    worker.restarts += 1
                except CollectorError as exc:
                    log.error("%s", exc)

    def _stop_workers(self) -> None:
        """Stop the workers' receivers, then drain what their WALs hold."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(10)
        for worker in self._running_workers():
            assert worker.process is not None
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            if worker.process is not None:
                try:
                    worker.process.wait(60)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait(10)
            worker.follower.stop()
            worker.writer.stop()
        self.workers = []

    def _close_store(self) -> None:
        if self.store is not None and self._given_store is None:
            self.store.close()

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
