"""A receive-only worker process of ``--workers N`` (started by :class:`Collector`).

Each worker listens on the collector's ports with SO_REUSEPORT (the kernel spreads
connections over the processes), decodes, validates and redacts exports, and appends
them to its own WAL directory before acknowledging; it never touches the store. The
store-owning process drains the worker's WAL with a
:class:`~agentaudit.collector.wal_follower.WalFollower`. This is how one collector uses
more than one core, including with the embedded store (one process per store).

    python -m agentaudit.collector.worker '<json spec>'

The spec names host, ports, WAL directory, redaction state directory and the
``[collector]`` / ``[redaction]`` sections; tokens come from the environment
(``AGENTAUDIT_TOKEN``), never the command line. The worker prints ``ready`` once
serving and stops gracefully on SIGTERM (in-flight exports finish), or within a second
of the store-owning process dying, so a restarted collector finds its ports and WAL
directories free.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    from agentaudit.collector.app import CollectorOptions
    from agentaudit.collector.http_server import HttpServer
    from agentaudit.collector.pipeline import Pipeline
    from agentaudit.collector.receiver_grpc import GrpcReceiver
    from agentaudit.collector.receiver_http import build_otlp_http_app
    from agentaudit.collector.redaction import Redactor
    from agentaudit.collector.tuning import WORKER_SWITCH_INTERVAL, tune_process
    from agentaudit.collector.wal import Wal

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s worker %(levelname)s %(name)s: %(message)s"
    )
    spec: dict[str, Any] = json.loads((argv or sys.argv[1:])[0])
    options = CollectorOptions.from_section(spec.get("collector", {}))
    token = os.environ.get("AGENTAUDIT_TOKEN") or None
    redact = None
    if options.redaction:
        redact = Redactor.from_config(
            spec.get("redaction", {}), state_dir=Path(spec["state_dir"])
        ).redact
    wal = Wal(
        Path(spec["wal_dir"]),
        max_bytes=options.wal_max_bytes,
        segment_bytes=options.wal_segment_bytes,
        fsync=options.fsync,
        shared=True,
    )
    pipeline = Pipeline(None, wal=wal, redact=redact)
    grpc_receiver = GrpcReceiver(
        functools.partial(pipeline.accept, protocol="grpc"),
        host=spec["host"],
        port=spec["grpc_port"],
        token=token,
        max_message_bytes=options.max_request_bytes,
        tls_cert=options.tls_cert,
        tls_key=options.tls_key,
        reuse_port=True,
    )
    http = HttpServer(
        build_otlp_http_app(
            functools.partial(pipeline.accept, protocol="http"),
            token=token,
            max_bytes=options.max_request_bytes,
        ),
        host=spec["host"],
        port=spec["http_port"],
        what="OTLP/HTTP",
        flag="--http-port",
        tls_cert=options.tls_cert,
        tls_key=options.tls_key,
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
    while not stop.wait(0.5):
        if os.getppid() != parent:
            # The store-owning process died (SIGKILL, OOM): nothing drains this WAL now,
            # and its restart needs the ports and this WAL's lock. Stop receiving; what
            # was acknowledged stays in the WAL for the next start to drain.
            log.warning("the collector process %d is gone; this worker stops", parent)
            break
    grpc_receiver.stop()
    http.stop()
    wal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
