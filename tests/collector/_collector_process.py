"""Run one collector as a real process: ``python -m tests.collector._collector_process``.

Argument: a JSON object of settings (``store``, ``wal_dir``, ports, ``workers``, ...).
Prints one JSON line with the bound ports once
serving, then serves until SIGTERM/SIGINT (graceful drain) or SIGKILL.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading

from agentaudit.collector.app import Collector
from agentaudit.config import load_config


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    flags = json.loads(sys.argv[1])
    collector = Collector(load_config(flags, environ={}))
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
