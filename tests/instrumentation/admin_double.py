"""A tiny real HTTP server standing in for the admin API's agent endpoints.

Serves ``GET /v1/quarantine?agent=&user=&session=`` with the same JSON shape as
``agentaudit.collector.admin.revocation.api`` (``agent``, ``quarantined``, ``state``, ``since``,
``updated_at``, ``reason``, ``actor``, ``revocation_id``, ``blocked``, ``allowed``) and,
when given a real :class:`agentaudit.broker.Broker`, ``POST /v1/credentials`` answering
like the real route (201 + token, 403 ``reason=quarantined`` for a quarantined agent).
Standard library only, so the framework environments can use it too. The real routes
are exercised end to end in ``tests/e2e/test_revocation.py``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["AdminDouble"]


class AdminDouble:
    """Mutable quarantine state behind a loopback server; ``with`` starts and stops it."""

    def __init__(self, *, token: str | None = None, broker: Any = None) -> None:
        self.token = token
        self.broker = broker
        self.lock = threading.Lock()
        self.quarantined: dict[str, str] = {}
        self.denied_users: set[str] = set()
        self.status = 200  # set to 503 (or anything else) to simulate an outage
        self.requests: list[str] = []
        self.minted: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def quarantine(self, agent: str, reason: str = "prompt injection") -> None:
        with self.lock:
            self.quarantined[agent] = reason

    def release(self, agent: str) -> None:
        with self.lock:
            self.quarantined.pop(agent, None)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.startswith(path))

    def __enter__(self) -> AdminDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def state(self, agent: str, user: str, session: str) -> dict[str, Any]:
        with self.lock:
            reason = self.quarantined.get(agent)
            user_denied = user in self.denied_users
        now = time.time()
        quarantined = reason is not None
        return {
            "agent": agent,
            "quarantined": quarantined,
            "state": "quarantined" if quarantined else "never_quarantined",
            "since": now if quarantined else None,
            "updated_at": now if quarantined else None,
            "reason": reason or "",
            "actor": "oncall" if quarantined else "",
            "revocation_id": "rev-1" if quarantined else "",
            "blocked": {"agent": False, "user": user_denied, "session": False},
            "allowed": not quarantined and not user_denied,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _authorised(self) -> bool:
                if double.token is None:
                    return True
                return self.headers.get("Authorization") == f"Bearer {double.token}"

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _gate(self) -> bool:
                with double.lock:
                    double.requests.append(self.path)
                    status = double.status
                if status != 200:
                    self._answer(status, {"error": "unavailable"})
                    return False
                if not self._authorised():
                    self._answer(401, {"error": "this endpoint needs the agent token"})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._gate():
                    return
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path != "/v1/quarantine" or "agent" not in query:
                    self._answer(404, {"error": "not found"})
                    return
                state = double.state(
                    query["agent"], query.get("user", ""), query.get("session", "")
                )
                self._answer(200, state)

            def do_POST(self) -> None:
                if not self._gate():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length))
                if self.path != "/v1/credentials" or double.broker is None:
                    self._answer(404, {"error": "not found"})
                    return
                with double.lock:
                    double.minted.append(data)
                    quarantined = data.get("agent") in double.quarantined
                if quarantined:
                    self._answer(403, {"error": "quarantined", "reason": "quarantined"})
                    return
                try:
                    credential = double.broker.mint(
                        user=data["user"],
                        agent=data["agent"],
                        tool=data["tool"],
                        resource=data["resource"],
                        scopes=data.get("scopes"),
                        session=data.get("session"),
                        ttl=data.get("ttl"),
                    )
                except Exception as exc:  # MintRefused -> 403 with its reason, like the API
                    reason = getattr(exc, "reason", None)
                    status = 403 if reason else 400
                    self._answer(status, {"error": str(exc), "reason": reason})
                    return
                claims = credential.claims
                self._answer(
                    201,
                    {
                        "token": credential.token,
                        "token_type": "Bearer",
                        "credential_id": claims.id,
                        "scopes": list(claims.scopes),
                        "issued_at": claims.issued_at,
                        "expires_at": claims.expires_at,
                        "tool": claims.tool,
                        "resource": list(claims.resources),
                    },
                )

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
