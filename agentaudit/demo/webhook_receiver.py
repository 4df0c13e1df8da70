"""A tiny loopback webhook receiver for alerts (what the demo's "secops chat" is).

``agentaudit up --demo`` configures a ``[[revocation.webhook]]`` pointing at it, so a
responder who revokes the injected agent sees the alert arrive, and the detector's
finding alerts (which reuse that webhook, docs/detector.md) arrive there too. It stands
in for a Slack/Mattermost incoming webhook and does what a real receiver must:

* checks ``X-Agentaudit-Signature`` (HMAC-SHA256 over ``"<t>.<body>"``, 300 s tolerance)
  and answers 401 to a missing or wrong signature — such a delivery is never shown;
* shows each delivery once: retries carry the same ``X-Agentaudit-Delivery`` id;
* answers 200 quickly and keeps at most :data:`MAX_ALERTS` alerts in memory.

Standard library HTTP server (threads), bound to 127.0.0.1 by default. Run alone with
``python -m agentaudit.demo.webhook_receiver --port 9911`` and the secret in
``AGENTAUDIT_WEBHOOK_SECRET``; each alert's ``text`` is printed as it arrives — a
detector finding's as the channel would show it (:func:`format_alert`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from agentaudit.collector.admin.revocation.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookSignatureError,
    verify_webhook_signature,
)
from agentaudit.detector.alerts.chat import EVENT, EVENT_UPDATE, displayed_text

__all__ = ["Alert", "AlertReceiver", "format_alert", "main"]

MAX_BODY_BYTES: Final = 256 * 1024
MAX_ALERTS: Final = 1000
SECRET_ENV: Final = "AGENTAUDIT_WEBHOOK_SECRET"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Alert:
    """One verified delivery: its id, the decoded JSON and when it arrived."""

    delivery: str
    payload: dict[str, Any]
    received_at: float

    @property
    def text(self) -> str:
        """The chat-readable summary (the payload's ``text`` field)."""
        return str(self.payload.get("text", ""))


class AlertReceiver:
    """Serves ``POST <any path>`` on ``host:port`` (0: a free port) in a daemon thread.

    ``show(alert)`` is called once per new verified delivery (default: print its text).
    Thread-safe: :attr:`alerts` and :attr:`rejected` may be read while serving.
    """

    def __init__(
        self,
        secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        show: Callable[[Alert], None] | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the webhook receiver needs the shared secret")
        self._secret = secret
        self._show = show if show is not None else _print_alert
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._alerts: deque[Alert] = deque(maxlen=MAX_ALERTS)
        self._seen: deque[str] = deque(maxlen=MAX_ALERTS)
        self._rejected: list[str] = []
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    @property
    def alerts(self) -> list[Alert]:
        with self._lock:
            return list(self._alerts)

    @property
    def rejected(self) -> list[str]:
        """Why each refused delivery was refused (bad signature, bad JSON, ...)."""
        with self._lock:
            return list(self._rejected)

    def wait_for(self, count: int, *, timeout: float) -> list[Alert]:
        """The alerts once at least ``count`` arrived; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._alerts) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._alerts)} of {count} alerts after {timeout}s")
                self._changed.wait(left)
            return list(self._alerts)

    def start(self) -> AlertReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.1,),
            name="agentaudit-webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> AlertReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """(HTTP status, message) for one delivery; records and shows new alerts."""
        try:
            verify_webhook_signature(self._secret, headers.get(SIGNATURE_HEADER.lower()), body)
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("the alert is not a JSON object")
        except (WebhookSignatureError, ValueError, UnicodeDecodeError) as exc:
            with self._lock:
                self._rejected.append(str(exc))
            return (401 if isinstance(exc, WebhookSignatureError) else 400), str(exc)
        delivery = headers.get(DELIVERY_HEADER.lower(), "")
        alert = Alert(delivery, payload, time.time())
        with self._changed:
            if delivery and delivery in self._seen:
                return 200, "duplicate delivery ignored"
            self._seen.append(delivery)
            self._alerts.append(alert)
            self._changed.notify_all()
        try:
            self._show(alert)
        except Exception as exc:  # a display problem must not make the sender retry
            print(f"webhook receiver: could not show an alert: {exc}", file=sys.stderr)
        return 200, "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "agentaudit-webhook-receiver"

            def do_POST(self) -> None:
                length = self.headers.get("content-length", "")
                if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                    self._answer(413 if length.isdigit() else 411, "bad or missing length")
                    return
                body = self.rfile.read(int(length))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, message = receiver._accept(headers, body)
                self._answer(status, message)

            def _answer(self, status: int, message: str) -> None:
                data = json.dumps({"status": status, "message": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # alerts are shown by ``show``; keep access logs quiet

        return Handler


def format_alert(alert: Alert) -> str:
    """What the terminal shows for one alert: a header line, then its text — for a
    detector finding, as a chat client renders it (entities decoded, no code marks)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(alert.received_at))
    event = alert.payload.get("event", "?")
    if event not in (EVENT, EVENT_UPDATE):
        return f"--- alert {stamp} ({event}) ---\n{alert.text}"
    finding = alert.payload.get("finding")
    severity = str(finding.get("severity", "?")).upper() if isinstance(finding, dict) else "?"
    kind = "new"
    if event == EVENT_UPDATE:
        kind = f"update, {alert.payload.get('count', '?')} findings"
    return f"--- finding {stamp} ({severity}, {kind}) ---\n{displayed_text(alert.text)}"


def _print_alert(alert: Alert) -> None:
    print(format_alert(alert), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agentaudit.demo.webhook_receiver",
        description=f"Print verified agentaudit alerts (secret in ${SECRET_ENV}).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9911)
    args = parser.parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"set {SECRET_ENV} to the webhook's shared secret", file=sys.stderr)
        return 2
    try:
        receiver = AlertReceiver(secret, host=args.host, port=args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"waiting for alerts on {receiver.url}", flush=True)
    receiver.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
