"""Run one collector as a real process: ``python -m tests.collector._collector_process``.

Argument: a JSON object of settings (``store``, ``wal_dir``, ports, ``workers``, ...),
plus, for fault tests, ``crash_after_accepts: n``: the process SIGKILLs itself right
after its n-th export is durable (in the WAL, fsync'd) and before the receiver sends
the acknowledgement, as a crash between the fsync and the reply would.
Prints one JSON line with the bound ports once serving, then serves until
SIGTERM/SIGINT (graceful drain) or SIGKILL.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, cast

from agentaudit.collector.app import Collector
from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.ingest.receiver_grpc import GrpcReceiver
from agentaudit.collector.model import Accepted, SpanRecord
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import Config, load_config


class _CrashAfter:
    """The pipeline, except that its n-th accepted export kills the process before the reply."""

    def __init__(self, pipeline: Pipeline, accepts: int) -> None:
        self._pipeline = pipeline
        self._left = accepts
        self._lock = threading.Lock()

    def accept(self, spans: Sequence[SpanRecord], **options: Any) -> Accepted:
        accepted = self._pipeline.accept(spans, **options)  # durable when it returns
        with self._lock:
            self._left -= 1
            crash = self._left == 0
        if crash:
            os.kill(os.getpid(), signal.SIGKILL)
        return accepted

    def reject(self, reason: str, count: int = 1) -> None:
        self._pipeline.reject(reason, count)


class _CrashingCollector(Collector):
    """A collector whose receivers (both) feed a :class:`_CrashAfter` pipeline."""

    def __init__(self, config: Config, *, crash_after_accepts: int) -> None:
        super().__init__(config)
        self._accepts = crash_after_accepts
        self._crashing: _CrashAfter | None = None

    def _hooked(self, pipeline: Pipeline) -> Pipeline:
        if self._crashing is None:
            self._crashing = _CrashAfter(pipeline, self._accepts)
        return cast(Pipeline, self._crashing)

    def _grpc_receiver(self, pipeline: Pipeline) -> GrpcReceiver:
        return super()._grpc_receiver(self._hooked(pipeline))

    def _http_receiver(self, pipeline: Pipeline) -> HttpServer:
        return super()._http_receiver(self._hooked(pipeline))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    flags = json.loads(sys.argv[1])
    crash_after = flags.pop("crash_after_accepts", None)
    config = load_config(flags, environ={})
    collector = (
        Collector(config)
        if crash_after is None
        else _CrashingCollector(config, crash_after_accepts=int(crash_after))
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    collector.start()
    assert collector.admin is not None
    ports = {"grpc": collector.grpc_port, "http": collector.http_port, "api": collector.admin.port}
    print(json.dumps(ports), flush=True)
    while not stop.wait(0.5):
        pass
    collector.stop()
    print(json.dumps({"stopped": collector.health()}), flush=True)


if __name__ == "__main__":
    main()
