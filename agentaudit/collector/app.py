"""Compose the collector: store, admin API, WAL, writer, pipeline, receivers (or workers).

All parts are built in one place, :meth:`Collector.start`, and each part's teardown is
pushed on one exit stack as it is built, so teardown order is construction order
reversed, both on a clean stop and when start-up fails half-way. Construction order:

1. check the bind policy; open the store (and lock it, when embedded); migrations
2. the revocation path and the admin API (its port bound, not yet serving)
3. the WAL (its directory locked; what it holds that the store does not is loaded)
4. the writer (which replays that first), the pipeline
5. the detector, when this collector runs it (``detector_mode``; docs/detector.md): a
   process of its own (``detector/host.py``), handed each batch the writer stores; it
   reads and writes through this process's store and acts through its revocation path
6. the worker pool (with ``workers > 1`` it holds the OTLP ports; always, it drains
   worker WALs an earlier run left), then the OTLP receivers, bound (``workers = 1``)

Every writer (this process's WAL, each worker WAL) is built before any starts and
shares one set of span claims, so a batch a crash interrupted claims its spans before
another writer could store a copy (``writer/dedup.py``: exactly once per span).

Only when every port is bound does anything serve (a busy port fails before anything
serves). Teardown, the reverse, is what makes a clean shutdown (SIGTERM) lose nothing:
receivers stop accepting first (in-flight exports finish and are acknowledged), then
the workers stop and their WALs are drained, then the detector finishes its cycle and
saves its findings and baselines (batches stored after that are read on its next start,
from the saved position), then the writer drains everything it was handed into the
store, then the WAL closes, then the admin API stops, then the store closes. A crash
at any point loses nothing either: what was acknowledged is in a WAL and is replayed on
start.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentaudit.collector.admin.agents_api import agent_routes
from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.approvals_api import approval_routes
from agentaudit.collector.admin.cards_api import card_routes
from agentaudit.collector.admin.erasure_api import erasure_routes
from agentaudit.collector.admin.findings_api import finding_routes
from agentaudit.collector.admin.holds_api import hold_routes
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.evidence import EvidenceService
from agentaudit.collector.identity.approvals import (
    ApprovalSigner,
    ApprovalVerifier,
    GrantLedger,
    used_grants,
)
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.identity.registry import (
    TOKEN_SNAPSHOT,
    AgentRegistry,
    ClickHouseAgentStore,
    TokenSnapshot,
)
from agentaudit.collector.ingest.budget import MemoryBudget
from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.ingest.receiver_grpc import GrpcReceiver
from agentaudit.collector.ingest.receiver_http import build_otlp_http_app
from agentaudit.collector.ingest.redaction import Redactor
from agentaudit.collector.metrics import CONTENT_TYPE, CollectorMetrics
from agentaudit.collector.model import SpanRecord
from agentaudit.collector.serving.server import HttpServer
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.workers.pool import DEAD_LETTER_FILE, ApprovalKeys, WorkerPool
from agentaudit.collector.writer.dedup import SpanClaims
from agentaudit.collector.writer.writer import StoredBatch, WalLike, Writer
from agentaudit.config import Config
from agentaudit.config.tokens import ensure_tokens
from agentaudit.detector.actions import ServiceActions
from agentaudit.detector.alerts import build_alert_sinks
from agentaudit.detector.host import DetectorProcess
from agentaudit.detector.policy import load_detector_settings
from agentaudit.errors import ConfigError
from agentaudit.store import Store
from agentaudit.store.audit_chain import AuditChain
from agentaudit.store.migrations import apply_migrations

__all__ = ["Collector", "check_bind_policy"]

log = logging.getLogger(__name__)

REGISTRY_REFRESH_SECONDS = 5.0
"""How soon a collector sees agents another collector of the same store registered."""


def _every(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    """Run ``action`` every ``seconds`` on a daemon thread; returns the stop function."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                action()
            except Exception:
                log.exception("periodic %s failed", getattr(action, "__name__", "task"))

    thread = threading.Thread(target=loop, name="agentaudit-periodic", daemon=True)
    thread.start()

    def stop_it() -> None:
        stop.set()
        thread.join(seconds + 5)

    return stop_it


def check_bind_policy(config: Config) -> None:
    """Serve without authentication on loopback only (DESIGN §5)."""
    if config.insecure_no_auth and not config.loopback_only:
        raise ConfigError(
            f"refusing to listen on {config.host} with --insecure-no-auth: without tokens "
            "anyone who reaches the ports can query, revoke and release; drop the flag (the "
            "tokens are generated into the state directory) or bind 127.0.0.1"
        )


class Collector:
    """The running collector. Use :meth:`start` / :meth:`stop`, or ``with``.

    ``store``: an already open store to use (and not close); by default the collector
    opens the one ``config`` names and closes it on stop.
    """

    def __init__(self, config: Config, *, store: Store | None = None) -> None:
        self.config = config
        self.store: Store | None = store
        self.metrics = CollectorMetrics()
        self.wal: Wal | None = None
        self.writer: Writer | None = None
        self.pipeline: Pipeline | None = None
        self.grpc: GrpcReceiver | None = None
        self.http: HttpServer | None = None
        self.admin: HttpServer | None = None
        self.pool: WorkerPool | None = None
        self.revocation: RevocationPath | None = None
        self.registry: AgentRegistry | None = None
        self.approvals: ApprovalVerifier | None = None
        self.grants: GrantLedger | None = None
        self.detector: DetectorProcess | None = None
        self.evidence: EvidenceService | None = None
        self.authenticator = Authenticator(
            agent_token=None, admin_token=None, open_mode=config.insecure_no_auth
        )
        self._teardown = contextlib.ExitStack()
        self._claims = SpanClaims()  # every writer of this process: exactly once per span
        self.started_at = 0.0

    # -- what the running collector reports ---------------------------------------------

    @property
    def spans_received(self) -> int:
        """Spans this process received, plus those drained from its workers' WALs."""
        own = self.pipeline.spans_received if self.pipeline else 0
        return own + int(self.metrics.drained.value())

    @property
    def grpc_port(self) -> int:
        """The OTLP/gRPC port (served here, or by the workers)."""
        if self.grpc is not None:
            return self.grpc.port
        assert self.pool is not None
        return self.pool.grpc_port

    @property
    def http_port(self) -> int:
        """The OTLP/HTTP port (served here, or by the workers)."""
        if self.http is not None:
            return self.http.port
        assert self.pool is not None
        return self.pool.http_port

    def accept(self, spans: list[SpanRecord]) -> None:
        """Feed spans through the pipeline (validate, redact, WAL, writer)."""
        assert self.pipeline is not None
        self.pipeline.accept(spans)

    def health(self) -> dict[str, Any]:
        writer = self.writer
        workers = self.pool.health() if self.pool else {}
        return {
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "spans_received": self.spans_received,
            "spans_written": writer.stats.spans_written if writer else 0,
            "tool_calls_written": writer.stats.tool_calls_written if writer else 0,
            "pending": writer.pending if writer else 0,
            "store_errors": writer.stats.store_errors if writer else 0,
            "wal_bytes": self.wal.bytes if self.wal else 0,
            **workers,
            **(self.detector.health() if self.detector else {}),
        }

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Build every part, then serve; a failure undoes what was built, in reverse."""
        with contextlib.ExitStack() as teardown:
            self._build(teardown)
            self._serve()
            self._teardown = teardown.pop_all()
        log.info("collector started: %s", self.health())

    def stop(self) -> None:
        """Stop receiving, drain into the store, close everything (reverse of start)."""
        self._teardown.close()
        log.info("collector stopped: %s", self.health())

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _build(self, teardown: contextlib.ExitStack) -> None:
        """Construct every part; each pushes its own teardown as it is built."""
        check_bind_policy(self.config)
        if self.store is None:
            self.store = teardown.enter_context(
                Store.open(self.config.clickhouse_url, reader_dsn=self.config.reader_clickhouse_url)
            )
        store = self.store
        self.config, created = ensure_tokens(self.config)
        for path in created:
            log.warning("generated a token (first start): %s", path)
        config = self.config
        apply_migrations(store)
        # Seals, digests, retention, holds: stopped last (after the admin API), so its
        # shutdown seal and digest cover everything written (docs/evidence.md).
        self.evidence = EvidenceService.for_collector(store, config)
        teardown.callback(self.evidence.stop)
        self.evidence.open()

        self.registry = AgentRegistry(
            ClickHouseAgentStore(store), snapshot=TokenSnapshot(config.state_dir / TOKEN_SNAPSHOT)
        )
        if not config.embedded:  # other collectors may register agents in the same store
            teardown.callback(_every(REGISTRY_REFRESH_SECONDS, self.registry.reload))
        self.authenticator = Authenticator(
            agent_token=config.token,
            admin_token=config.admin_token,
            lookup=self.registry.lookup,
            open_mode=config.insecure_no_auth,
        )

        self.revocation = build_revocation_path(
            store,
            config.sections,
            default_key_file=config.state_dir / "broker.pem",
            catalog=config.catalog,
        )
        teardown.callback(self.revocation.close)
        broker = self.revocation.broker
        self.approvals = ApprovalVerifier(broker.jwks(), issuer=broker.issuer)
        self.grants = GrantLedger(used_grants(store))
        self.admin = teardown.enter_context(
            self._admin_server(
                store,
                self.revocation,
                self.registry,
                ApprovalSigner(broker.key, issuer=broker.issuer),
            )
        )

        self.wal = Wal(
            config.wal_dir or config.state_dir / "wal",
            max_bytes=config.wal_max_bytes,
            segment_bytes=config.wal_segment_bytes,
            fsync=config.fsync,
            observe_fsync=self.metrics.fsync_seconds.observe,
        )
        teardown.callback(self.wal.close)
        self.writer = teardown.enter_context(
            self._make_writer(self.wal, self.wal.directory / DEAD_LETTER_FILE)
        )
        self.pipeline = Pipeline(
            self.writer,
            wal=self.wal,
            redact=Redactor.from_config(
                config.sections.get("redaction", {}), state_dir=config.state_dir
            ).redact,
            verify_approvals=self.approvals.stamp,
            refuse_mismatch=config.refuse_agent_mismatch,
            metrics=self.metrics,
            max_pending_spans=config.max_pending_spans,
        )
        self._register_gauges()

        self.detector = self._detector(store, teardown)
        if self.detector is not None:
            teardown.callback(self.detector.stop)

        self.pool = WorkerPool(
            config,
            metrics=self.metrics,
            make_writer=self._make_writer,
            approvals=ApprovalKeys(broker.jwks(), broker.issuer),
        )
        teardown.callback(self.pool.stop)
        if config.workers == 1:
            self.grpc = teardown.enter_context(self._grpc_receiver(self.pipeline))
            self.http = teardown.enter_context(self._http_receiver(self.pipeline))

    def _serve(self) -> None:
        assert self.writer is not None
        assert self.admin is not None
        self.started_at = time.time()
        assert self.pool is not None
        self.writer.start()
        if self.detector is not None:
            self.detector.start()
        self.pool.start()
        if self.evidence is not None:
            self.evidence.start()
        if self.grpc is not None:
            self.grpc.start()
        if self.http is not None:
            self.http.start()
        self.admin.start()

    # -- parts -------------------------------------------------------------------------

    def _make_writer(self, wal: WalLike, dead_letter: Path) -> Writer:
        assert self.store is not None
        return Writer(
            self.store,
            batch_rows=self.config.batch_rows,
            batch_seconds=self.config.batch_seconds,
            wal=wal,
            chain=AuditChain(self.store, key=self.config.chain_key),
            metrics=self.metrics,
            dead_letter=dead_letter,
            was_blocked=self.revocation.was_blocked if self.revocation else None,
            first_use=self.grants.first_use if self.grants else None,
            on_stored=self._batch_stored,
            claims=self._claims,
        )

    def _batch_stored(self, batch: StoredBatch) -> None:
        """The writer stored a batch of tool calls: the detector reads it now (its rows
        handed over, no query)."""
        detector = self.detector
        if detector is not None:
            detector.offer(batch)

    def _detector(self, store: Store, teardown: contextlib.ExitStack) -> DetectorProcess | None:
        """The detector of this process and its alert router, or None (``detector_mode``,
        ``[detector]``); the router closes after the detector stopped."""
        config = self.config
        settings = load_detector_settings(config.sections)  # a bad table fails even when off
        if not settings.enabled or not config.runs_detector:
            if settings.enabled and config.detector_mode == "auto":
                log.info(
                    "detector: not in this collector (a ClickHouse server may have several); "
                    "run `agentaudit detect --follow` once, or set detector_mode = on in one"
                )
            return None
        assert self.revocation is not None
        revocation = config.sections.get("revocation", {})
        router = teardown.enter_context(
            build_alert_sinks(config.sections, dashboard_url=revocation.get("dashboard_url"))
        )
        return DetectorProcess(
            store,
            settings,
            actions=ServiceActions(self.revocation.service),
            on_finding=router.submit,
            catalog=config.catalog,  # the broker's catalog file: rule off_card reads it
        )

    def _grpc_receiver(self, pipeline: Pipeline) -> GrpcReceiver:
        config = self.config
        return GrpcReceiver(
            functools.partial(pipeline.accept, protocol="grpc"),
            host=config.host,
            port=config.grpc_port,
            authenticate=self.authenticator.agent,
            max_message_bytes=config.max_request_bytes,
            budget=MemoryBudget.for_process(config.decode_budget_bytes),
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
            latency=self.metrics.export_seconds,
        )

    def _http_receiver(self, pipeline: Pipeline) -> HttpServer:
        config = self.config
        return HttpServer(
            build_otlp_http_app(
                functools.partial(pipeline.accept, protocol="http"),
                authenticate=self.authenticator.agent,
                max_bytes=config.max_request_bytes,
                budget=MemoryBudget.for_process(config.decode_budget_bytes),
                latency=self.metrics.export_seconds,
                reject=pipeline.reject,
            ),
            host=config.host,
            port=config.http_port,
            what="OTLP/HTTP",
            flag="--http-port",
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
        )

    def _admin_server(
        self,
        store: Store,
        revocation: RevocationPath,
        registry: AgentRegistry,
        signer: ApprovalSigner,
    ) -> HttpServer:
        config = self.config
        gate = revocation.gate(self.authenticator)
        app = build_admin_app(
            store,
            gate=gate,
            health=self.health,
            extra_routes=[
                *revocation.routes(gate),
                *agent_routes(registry, gate),
                *approval_routes(store, signer, gate),
                *finding_routes(store, revocation.service, gate),
                *card_routes(store, gate),
                *hold_routes(self.evidence, gate),
                *erasure_routes(self.evidence, gate),
            ],
        )

        async def metrics(request: Request) -> Response:
            who = await gate.responder(request, "read", "metrics")
            if isinstance(who, Response):
                return who
            return Response(self.metrics.render(), media_type=CONTENT_TYPE)

        app.router.routes.append(Route("/metrics", metrics, methods=["GET"]))
        return HttpServer(
            app,
            host=config.host,
            port=config.api_port,
            what="the admin API",
            flag="--api-port",
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
        )

    def _register_gauges(self) -> None:
        metrics = self.metrics

        def wal_bytes() -> float:
            own = self.wal.bytes if self.wal else 0
            return float(own + (self.pool.wal_bytes if self.pool else 0))

        def wal_age() -> float:
            found = [
                self.writer.oldest_pending_ns() if self.writer else None,
                self.pool.oldest_pending_ns() if self.pool else None,
            ]
            oldest = min((ns for ns in found if ns is not None), default=None)
            return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1e9)

        def pending() -> float:
            own = self.writer.pending if self.writer else 0
            return float(own + (self.pool.pending if self.pool else 0))

        metrics.gauge(
            "agentaudit_wal_bytes",
            "Bytes of WAL segments on disk (the workers' included).",
            wal_bytes,
        )
        metrics.gauge(
            "agentaudit_wal_oldest_age_seconds",
            "Age of the oldest acknowledged span not yet in the store.",
            wal_age,
        )
        metrics.gauge("agentaudit_writer_pending_spans", "Spans waiting for a batch.", pending)
