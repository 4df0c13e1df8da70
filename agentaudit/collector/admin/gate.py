"""Who may call an admin endpoint: the principal of a request, and the two gates.

Every admin endpoint states its principal (DESIGN §5; docs/revocation.md lists them):

* responder endpoints (revocations, releases, queries, agents, approvals, findings,
  metrics) take the responder token only. An agent's or a tool server's token presented
  there is refused with 403 and the attempt is recorded (aggregated per principal and
  minute, see
  :meth:`~agentaudit.collector.admin.revocation.service.RevocationService.record_refused`);
* agent endpoints (quarantine reads, credentials, the deny-list) take an agent token
  (per-agent or shared), a tool server's token, or the responder token;
* ``/healthz`` and ``/v1/jwks`` are open.

In open mode (``--insecure-no-auth``) every request passes as the :data:`OPEN` principal.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from agentaudit.collector.identity.principals import (
    OPEN,
    RESPONDER,
    Authenticator,
    Principal,
)
from agentaudit.collector.serving.auth import json_error

__all__ = ["NEEDS_ADMIN", "NEEDS_AGENT", "Gate", "RecordRefused"]

log = logging.getLogger(__name__)

NEEDS_ADMIN: Final = "this endpoint needs the responder token (AGENTAUDIT_ADMIN_TOKEN)"
NEEDS_AGENT: Final = (
    "this endpoint needs an agent token (AGENTAUDIT_TOKEN, or the agent's own token) or the "
    "responder token"
)

RecordRefused = Callable[[Principal, str, str, str, str], Awaitable["str | None"]]
"""``record(principal, action, target, target_id, detail) -> record id``."""


class Gate:
    """Authenticates admin requests with an :class:`Authenticator`."""

    def __init__(self, authenticator: Authenticator, record_refused: RecordRefused | None = None):
        self.authenticator = authenticator
        self._record_refused = record_refused

    def principal(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        return self.authenticator.responder(header) or self.authenticator.agent(header)

    @staticmethod
    def is_responder(principal: Principal | None) -> bool:
        return principal is not None and principal.role in (RESPONDER, OPEN)

    async def refuse_agent(
        self, request: Request, principal: Principal, action: str, target: str, target_id: str
    ) -> Response:
        """403 for an agent on a responder endpoint; the attempt is recorded."""
        detail = f"{principal.label} token presented to {request.method} {request.url.path}"
        client = request.client.host if request.client else "unknown"
        log.warning("refused: %s from %s", detail, client)
        recorded = None
        if self._record_refused is not None:
            recorded = await self._record_refused(principal, action, target, target_id, detail)
        return json_error(
            403,
            "agents may not do this; this attempt has been recorded",
            reason="agent_token",
            recorded=recorded,
        )

    async def responder(
        self, request: Request, action: str, target: str = "", target_id: str = ""
    ) -> Principal | Response:
        """The responder principal, or the response refusing the request."""
        principal = self.principal(request)
        if self.is_responder(principal):
            assert principal is not None
            return principal
        if principal is not None and principal.agent_side:
            return await self.refuse_agent(request, principal, action, target, target_id)
        return json_error(401, NEEDS_ADMIN)

    def agent(self, request: Request) -> Principal | Response:
        """The principal of an agent endpoint (an agent or a responder), or a 401."""
        principal = self.principal(request)
        if principal is None:
            return json_error(401, NEEDS_AGENT)
        return principal
