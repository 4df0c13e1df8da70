"""A real HTTP webhook receiver on a free loopback port (for the webhook backend tests)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.collector.admin.revocation.webhook import (
    SIGNATURE_HEADER,
    WebhookSignatureError,
    verify_webhook_signature,
)
from agentaudit.collector.serving.server import HttpServer


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    signature_error: str = ""

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Verifies each delivery's signature, then answers the next scripted status."""

    secret: str
    statuses: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            try:
                verify_webhook_signature(self.secret, request.headers.get(SIGNATURE_HEADER), body)
                ok, error = True, ""
            except WebhookSignatureError as exc:
                ok, error = False, str(exc)
            with self.lock:
                self.deliveries.append(Delivery(dict(request.headers), body, ok, error))
                status = self.statuses.pop(0) if self.statuses else 200
            if not ok:
                return JSONResponse({"error": error}, status_code=401)
            return JSONResponse({"received": True, "status": status}, status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


class RunningReceiver:
    def __init__(self, secret: str, statuses: list[int] | None = None) -> None:
        self.receiver = WebhookReceiver(secret, list(statuses or []))
        self._server = HttpServer(
            self.receiver.app(), host="127.0.0.1", port=0, what="webhook receiver", flag="-"
        )
        self.url = f"http://127.0.0.1:{self._server.port}/hook"

    def __enter__(self) -> RunningReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
