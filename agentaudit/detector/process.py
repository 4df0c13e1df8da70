"""The detector process of a collector with an embedded store (started by :mod:`.host`).

    python -m agentaudit.detector.process BATCHES_FD STORE_FD EVENTS_FD

The collector's process owns the embedded store (one process per store) and its GIL
already carries the receivers and the writer; the detector's per-call work (about
20 µs of CPU per tool call) runs here, on an interpreter of its own, so it takes a core
the collector leaves idle instead of time from ingest (docs/detector.md, *Cost*).

A :class:`~agentaudit.detector.service.DetectorService` runs here as it runs in
``agentaudit detect --follow``: its store handle and its actions are the collector's,
reached over the three connections of :mod:`.channel` (inherited file descriptors, never
a port). Each stored batch arrives with its rows; what is not handed over (a restart, a
gap) is read through the store handle. Findings go back to the collector's alert router;
the health counters every :data:`HEALTH_SECONDS`.

Invariants: this process never opens the store, holds no token and listens on nothing;
it stops at ``("stop",)`` — finishing its cycle, its actions, and saving its findings
and baselines — or as soon as the collector's end closes, and at nothing else (SIGINT
and SIGTERM are ignored: the collector stops it in order).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Final

from agentaudit.catalog.enforcement import CatalogFile
from agentaudit.collector.interpreter import WORKER_SWITCH_INTERVAL, tune_process
from agentaudit.detector.channel import (
    Caller,
    Received,
    RemoteActions,
    RemoteStore,
    decode_table,
)
from agentaudit.detector.service import DetectorService

__all__ = ["HEALTH_SECONDS", "main"]

log = logging.getLogger(__name__)

HEALTH_SECONDS: Final = 0.25
NICE: Final = 10
"""Added to the process's nice value: when ingest needs every core, detection waits."""


def _connection(argument: str) -> Connection:
    return Connection(int(argument))


def follow(batches: Connection, service: DetectorService, events: Caller) -> None:
    """Hand each received batch to ``service`` until ``("stop",)`` or the collector's end
    closes; report the health counters meanwhile."""
    next_health = 0.0
    while True:
        now = time.monotonic()
        if now >= next_health:
            events.notify("health", service.health())
            next_health = now + HEALTH_SECONDS
        try:
            if not batches.poll(max(0.0, next_health - now)):
                continue
            message = batches.recv()
        except (EOFError, OSError):
            log.error("detector process: the collector is gone; stopping")
            return
        if message[0] == "stop":
            return
        _, chain_id, seq, batch_id, rows = message
        service.offer(
            Received(chain_id, seq, batch_id, decode_table(rows) if rows is not None else None)
        )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s detector %(levelname)s %(name)s: %(message)s"
    )
    os.nice(NICE)
    # Stopped by its collector only (("stop",), or its end closing): a Ctrl-C or a
    # SIGTERM sent to the whole process group must not cut a message or a checkpoint
    # in half; the collector stops it in order as it stops itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    batches, store, events_connection = map(_connection, (argv or sys.argv[1:])[:3])
    kind, settings, catalog_path = batches.recv()
    assert kind == "init", kind
    events = Caller(events_connection)
    service = DetectorService(
        RemoteStore(Caller(store)),
        settings,
        actions=RemoteActions(events),
        on_finding=lambda finding: events.notify("finding", finding),
        catalog=CatalogFile(catalog_path) if catalog_path is not None else None,
    )
    service.start()
    tune_process(WORKER_SWITCH_INTERVAL)  # no receiver here waits for the GIL
    try:
        follow(batches, service, events)
    finally:
        service.stop()
        events.notify("health", service.health())
    return 0


if __name__ == "__main__":
    sys.exit(main())
