"""A receive-only worker process of ``--workers N`` (started by :class:`Collector`).

Each worker listens on the collector's ports with SO_REUSEPORT (the kernel spreads
connections over the processes), decodes, validates and redacts exports, and appends
them to its own WAL directory before acknowledging; it never touches the store. The
store-owning process drains the worker's WAL with a
:class:`~agentaudit.collector.wal.follower.WalFollower`. This is how one collector uses
more than one core, including with the embedded store (one process per store).

    python -m agentaudit.collector.workers.process '<json spec>'

The spec (:func:`~agentaudit.collector.workers.pool.worker_spec`) holds the collector's
settings with the worker's own WAL directory, the ``[redaction]`` table, the state
directory (the redaction key, the registered agents' token digests) and the keys that
verify approval grants; the token comes from the environment (``AGENTAUDIT_TOKEN``),
never the command line. A worker authenticates, attributes, verifies approvals and
refuses mismatched agents exactly as the store-owning process does: which process
receives an export never changes what is recorded.

Invariant: this process imports the receivers, redaction and the WAL, never the writer,
the store or pyarrow (a test imports this module and asserts it on ``sys.modules``).

The worker prints ``ready`` once serving, then its metrics whenever they changed
(:mod:`~agentaudit.collector.workers.reports`), and stops gracefully on SIGTERM (in-flight
exports finish), or within a second of the store-owning process dying, so a restarted
collector finds its ports and WAL directories free.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from agentaudit.collector.identity.approvals import ApprovalVerifier
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.identity.registry import TOKEN_SNAPSHOT, TokenSnapshot
from agentaudit.collector.ingest.budget import MemoryBudget
from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.ingest.receiver_grpc import GrpcReceiver
from agentaudit.collector.ingest.receiver_http import build_otlp_http_app
from agentaudit.collector.ingest.redaction import Redactor
from agentaudit.collector.interpreter import WORKER_SWITCH_INTERVAL, tune_process
from agentaudit.collector.metrics import CollectorMetrics
from agentaudit.collector.serving.server import HttpServer
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.workers.reports import REPORT_INTERVAL, format_report
from agentaudit.config import Config, load_config

__all__ = ["main"]

log = logging.getLogger(__name__)

WAL_LOCK_WAIT = 30.0
"""Seconds a worker waits for its WAL directory's lock. A collector restarted right after
it was killed finds that run's workers still stopping (they notice within 0.5 s, then
give in-flight exports up to 5 s): the restart waits for them instead of failing."""


def _settings(spec: dict[str, Any]) -> Config:
    """The worker's settings: what the spec names, its token from the environment."""
    config = load_config(spec["settings"], environ={})
    return dataclasses.replace(
        config,
        sections=spec.get("sections", {}),
        token=os.environ.get("AGENTAUDIT_TOKEN") or None,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s worker %(levelname)s %(name)s: %(message)s"
    )
    spec: dict[str, Any] = json.loads((argv or sys.argv[1:])[0])
    config = _settings(spec)
    assert config.wal_dir is not None
    state_dir = Path(spec["state_dir"])
    redact = Redactor.from_config(config.sections.get("redaction", {}), state_dir=state_dir).redact
    metrics = CollectorMetrics()
    wal = Wal(
        config.wal_dir,
        max_bytes=config.wal_max_bytes,
        segment_bytes=config.wal_segment_bytes,
        fsync=config.fsync,
        shared=True,
        observe_fsync=metrics.fsync_seconds.observe,
        lock_wait=WAL_LOCK_WAIT,
    )
    approvals = spec.get("approvals")
    verifier = (
        ApprovalVerifier(approvals["jwks"], issuer=approvals["issuer"]) if approvals else None
    )
    pipeline = Pipeline(
        None,
        wal=wal,
        redact=redact,
        verify_approvals=verifier.stamp if verifier else None,
        refuse_mismatch=config.refuse_agent_mismatch,
        metrics=metrics,
    )
    authenticator = Authenticator(
        agent_token=config.token,
        admin_token=None,
        lookup=TokenSnapshot(state_dir / TOKEN_SNAPSHOT).lookup,
        open_mode=config.insecure_no_auth,
    )
    budget = MemoryBudget.for_process(config.decode_budget_bytes)  # both receivers
    grpc_receiver = GrpcReceiver(
        functools.partial(pipeline.accept, protocol="grpc"),
        host=config.host,
        port=config.grpc_port,
        authenticate=authenticator.agent,
        max_message_bytes=config.max_request_bytes,
        budget=budget,
        tls_cert=config.tls_cert,
        tls_key=config.tls_key,
        reuse_port=True,
        latency=metrics.export_seconds,
    )
    http = HttpServer(
        build_otlp_http_app(
            functools.partial(pipeline.accept, protocol="http"),
            authenticate=authenticator.agent,
            max_bytes=config.max_request_bytes,
            budget=budget,
            latency=metrics.export_seconds,
            reject=pipeline.reject,
        ),
        host=config.host,
        port=config.http_port,
        what="OTLP/HTTP",
        flag="--http-port",
        tls_cert=config.tls_cert,
        tls_key=config.tls_key,
        reuse_port=True,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    grpc_receiver.start()
    http.start()
    tune_process(WORKER_SWITCH_INTERVAL)
    print("ready", flush=True)
    reporter = _Reporter(metrics, wal)
    while not stop.wait(REPORT_INTERVAL):
        reporter.send()
        if os.getppid() != parent:
            # The store-owning process died (SIGKILL, OOM): nothing drains this WAL now,
            # and its restart needs the ports and this WAL's lock. Stop receiving; what
            # was acknowledged stays in the WAL for the next start to drain.
            log.warning("the collector process %d is gone; this worker stops", parent)
            break
    grpc_receiver.stop()
    http.stop()
    reporter.send()  # what the last exports counted
    wal.close()
    return 0


class _Reporter:
    """Prints this worker's metrics for the pool (:mod:`.reports`) when they changed."""

    def __init__(self, metrics: CollectorMetrics, wal: Wal) -> None:
        self._metrics, self._wal = metrics, wal
        self._last = ""

    def send(self) -> None:
        line = format_report(self._metrics.report(wal_bytes=self._wal.bytes))
        if line == self._last:
            return
        try:
            print(line, flush=True)
        except BrokenPipeError:  # the pool is gone: nobody to report to, now or at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        self._last = line


if __name__ == "__main__":
    sys.exit(main())
