"""Shared pieces of the alert tests: findings, a recording sink, a receiver that hangs."""

from __future__ import annotations

import socket
import threading
from typing import Any

from agentaudit.detector.alerts import Alert
from agentaudit.detector.model import Finding

SECRET = "whsec-detector-test"
SENTENCE = (
    "support-bot called send_email for 2,314 distinct recipients in 4 minutes; in 30 days "
    "it never sent to more than 3 per session; the calls followed untrusted content from "
    "ticket T-5512; no human approved them."
)
DASHBOARD = "http://127.0.0.1:8501"


def finding(**overrides: Any) -> Finding:
    values: dict[str, Any] = {
        "ts_ns": 1_800_000_000_000_000_000,
        "agent_id": "support-bot",
        "rule": "fan_out",
        "severity": "high",
        "score": 0.97,
        "summary": SENTENCE,
        "evidence": {"observed": {"recipients": 2314}, "baseline": {"max_per_session": 3}},
        "user_id": "alice",
        "session_id": "sess-42",
        "trace_id": "ab" * 16,
        "span_id": "cd" * 8,
        "tool_name": "send_email",
        "action": "quarantine",
        "revocation_id": "5f0c2a9e",
    }
    values.update(overrides)
    return Finding(**values)


class RecordingSink:
    """An in-memory sink: records what it is sent (thread-safe)."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.alerts: list[Alert] = []
        self.closed = False
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)

    def send(self, alert: Alert) -> None:
        with self.arrived:
            self.alerts.append(alert)
            self.arrived.notify_all()

    def close(self) -> None:
        self.closed = True

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Alert]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.alerts) >= count, timeout):
                raise TimeoutError(f"{len(self.alerts)} of {count} alerts")
            return list(self.alerts)


class HangingServer:
    """Accepts TCP connections on a free loopback port and never answers (counts them)."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                continue
            self.connections.append(connection)

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for connection in self.connections:
            connection.close()
        self._listener.close()
