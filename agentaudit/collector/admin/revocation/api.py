"""HTTP routes of the revocation path, for the lead to mount into the admin app.

Principals (DESIGN §5, :mod:`~agentaudit.collector.admin.gate`): the responder token
``AGENTAUDIT_ADMIN_TOKEN``, the shared agent token ``AGENTAUDIT_TOKEN`` and per-agent
tokens. Responder endpoints never accept an agent token: presenting it there answers 403
and records a ``refused`` row in ``agentaudit.revocations`` (aggregated per principal and
minute). An agent with its own token reads only its own quarantine state and is minted
credentials only for itself; a tool server's token reads any agent's state (to enforce
it) and is minted none; agent ids are compared as principals (case-folded, ASCII
only), so a look-alike id is refused rather than waved past a quarantine.

Routes (who may call them):

* ``POST /v1/revocations`` (responder): ``{target, id, reason, requested_by, trigger?}``
  where ``trigger`` is ``{trace_id, span_id}`` of the triggering call; answers the outcome.
* ``GET /v1/revocations/{id}`` (responder): the newest version of the row.
* ``POST /v1/revocations/{id}/retry`` (responder): run the failed backends again.
* ``DELETE /v1/quarantine/{agent}`` (responder): release, ``{reason, requested_by}`` as
  JSON body or query parameters.
* ``GET /v1/quarantine?agent=&user=&session=`` (agent, responder): what the runtime polls.
* ``POST /v1/credentials`` (agent, responder): mint
  ``{user, agent, tool, resource, scopes?, session?, ttl?}``.
* ``GET /v1/denylist`` (agent, responder): the snapshot tool-side verifiers refresh.
* ``GET /v1/jwks`` (anyone): the broker's public keys.

"""

from __future__ import annotations

import logging
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.broker import Broker, BrokerError, MintRefused
from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.admin.revocation.model import TARGETS
from agentaudit.collector.admin.revocation.quarantine import NotQuarantined
from agentaudit.collector.admin.revocation.service import RevocationService
from agentaudit.collector.identity.principals import TOOL_SERVER
from agentaudit.collector.serving.auth import json_error, read_json_object
from agentaudit.schema.identifiers import same_principal
from agentaudit.store import StoreError

__all__ = ["MAX_BODY_BYTES", "revocation_routes"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 64 * 1024
NO_STORE: Final = {"Cache-Control": "no-store"}


def _text(data: dict[str, Any], key: str) -> str:
    """The string field ``key`` ("" when absent or not a string: the service refuses it)."""
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class _RevocationApi:
    def __init__(self, service: RevocationService, broker: Broker | None, gate: Gate) -> None:
        self.service = service
        self.broker = broker
        self.gate = gate

    # -- responder endpoints --------------------------------------------------------

    async def revoke(self, request: Request) -> Response:
        principal = self.gate.principal(request)
        if principal is not None and principal.agent_side:  # record what it tried
            attempted = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
            attempted = attempted if isinstance(attempted, dict) else {}
            return await self.gate.refuse_agent(
                request, principal, "revoke", _text(attempted, "target"), _text(attempted, "id")
            )
        who = await self.gate.responder(request, "revoke")
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        if data.get("target") not in TARGETS:
            return json_error(400, f'"target" must be one of {", ".join(TARGETS)}')
        trigger = data.get("trigger")
        if trigger is not None and not (
            isinstance(trigger, dict) and all(isinstance(v, str) for v in trigger.values())
        ):
            return json_error(400, '"trigger" must be {"trace_id": "...", "span_id": "..."}')
        try:
            outcome = await run_in_threadpool(
                self.service.revoke,
                target=_text(data, "target"),
                target_id=_text(data, "id"),
                reason=_text(data, "reason"),
                requested_by=_text(data, "requested_by"),
                trigger=trigger,
            )
        except ValueError as exc:
            return json_error(400, str(exc))
        except StoreError as exc:
            return json_error(503, f"the revocation could not be recorded: {exc}")
        return JSONResponse(outcome.to_json())

    async def get_revocation(self, request: Request) -> Response:
        revocation_id = request.path_params["revocation_id"]
        who = await self.gate.responder(request, "read", "revocation", revocation_id)
        if isinstance(who, Response):
            return who
        record = await run_in_threadpool(self.service.get, revocation_id)
        if record is None:
            return json_error(404, f"no revocation {revocation_id}")
        return JSONResponse(record.to_json())

    async def retry(self, request: Request) -> Response:
        revocation_id = request.path_params["revocation_id"]
        who = await self.gate.responder(request, "retry", "revocation", revocation_id)
        if isinstance(who, Response):
            return who
        try:
            outcome = await run_in_threadpool(self.service.retry, revocation_id)
        except LookupError as exc:
            return json_error(404, str(exc.args[0]))
        except ValueError as exc:
            return json_error(409, str(exc))
        except StoreError as exc:
            return json_error(503, f"the retry could not be recorded: {exc}")
        return JSONResponse(outcome.to_json())

    async def release(self, request: Request) -> Response:
        agent = request.path_params["agent"]
        who = await self.gate.responder(request, "release", "agent", agent)
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES, optional=True)
        if isinstance(data, Response):
            return data
        for name in ("reason", "requested_by"):
            data.setdefault(name, request.query_params.get(name))
        try:
            outcome = await run_in_threadpool(
                self.service.release,
                agent=agent,
                reason=_text(data, "reason"),
                requested_by=_text(data, "requested_by"),
            )
        except NotQuarantined as exc:
            return json_error(404, str(exc.args[0]))
        except ValueError as exc:
            return json_error(400, str(exc))
        except StoreError as exc:
            return json_error(503, f"the release could not be recorded: {exc}")
        return JSONResponse(outcome.to_json())

    # -- agent endpoints ------------------------------------------------------------

    async def quarantine_state(self, request: Request) -> Response:
        principal = self.gate.agent(request)
        if isinstance(principal, Response):
            return principal
        registry = self.service.quarantine
        agent = request.query_params.get("agent")
        if agent is None:
            if not self.gate.is_responder(principal):
                return json_error(400, "agents read their own state: GET /v1/quarantine?agent=<id>")
            return JSONResponse({"quarantined": [s.to_json() for s in registry.active()]})
        if principal.attributed and not same_principal(agent, principal.agent):
            return json_error(
                403,
                f"the token of agent {principal.agent} reads only its own quarantine state",
                reason="not_your_agent",
            )
        state = registry.state(agent)
        answer: dict[str, Any] = (
            state.to_json()
            if state is not None
            else {"agent": agent, "quarantined": False, "state": "never_quarantined"}
        )
        snapshot = self.broker.denylist.snapshot() if self.broker is not None else None
        blocked = {
            kind: bool(snapshot and snapshot.blocks(kind, value))
            for kind, value in (
                ("agent", agent),
                ("user", request.query_params.get("user")),
                ("session", request.query_params.get("session")),
            )
        }
        answer["blocked"] = blocked
        answer["allowed"] = not answer["quarantined"] and not any(blocked.values())
        return JSONResponse(answer, headers=NO_STORE)

    async def credentials(self, request: Request) -> Response:
        principal = self.gate.agent(request)
        if isinstance(principal, Response):
            return principal
        if self.broker is None:
            return json_error(404, "the credential broker is not enabled in this process")
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        agent = _text(data, "agent")
        if principal.role == TOOL_SERVER:  # it checks credentials; it never holds one
            return json_error(
                403,
                f"the token of tool server {principal.agent} gets no credentials",
                reason="tool_server",
            )
        if principal.attributed and not same_principal(agent, principal.agent):
            return json_error(
                403,
                f"the token of agent {principal.agent} gets credentials only for itself",
                reason="not_your_agent",
            )
        if agent and self.service.quarantine.is_quarantined(agent):
            return json_error(
                403, f"agent {agent} is quarantined; no credential issued", reason="quarantined"
            )
        resource, scopes, ttl = data.get("resource"), data.get("scopes"), data.get("ttl")
        if scopes is not None and not _strings(scopes):
            return json_error(400, '"scopes" must be a list of strings')
        if not isinstance(resource, str) and not _strings(resource):
            return json_error(400, '"resource" must be a string or a list of strings')
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
            return json_error(400, '"ttl" must be an integer number of seconds')
        session = data.get("session")
        if session is not None and not isinstance(session, str):
            return json_error(400, '"session" must be a string')
        try:
            credential = self.broker.mint(
                user=_text(data, "user"),
                agent=agent,
                tool=_text(data, "tool"),
                resource=resource,  # type: ignore[arg-type]  # checked above
                scopes=scopes,
                session=session,
                ttl=ttl,
            )
        except MintRefused as exc:
            return json_error(403, str(exc), reason=exc.reason)
        except BrokerError as exc:
            return json_error(400, str(exc))
        claims = credential.claims
        body = {
            "token": credential.token,
            "token_type": "Bearer",
            "credential_id": claims.id,
            "scopes": list(claims.scopes),
            "issued_at": claims.issued_at,
            "expires_at": claims.expires_at,
            "tool": claims.tool,
            "resource": list(claims.resources),
        }
        return JSONResponse(body, status_code=201, headers=NO_STORE)

    async def denylist(self, request: Request) -> Response:
        principal = self.gate.agent(request)
        if isinstance(principal, Response):
            return principal
        if self.broker is None:
            return json_error(404, "the credential broker is not enabled in this process")
        return JSONResponse(self.broker.denylist.snapshot().to_json(), headers=NO_STORE)

    async def jwks(self, request: Request) -> Response:
        if self.broker is None:
            return json_error(404, "the credential broker is not enabled in this process")
        return JSONResponse(self.broker.jwks())

    def routes(self) -> list[Route]:
        return [
            Route("/v1/revocations", self.revoke, methods=["POST"]),
            Route("/v1/revocations/{revocation_id}", self.get_revocation, methods=["GET"]),
            Route("/v1/revocations/{revocation_id}/retry", self.retry, methods=["POST"]),
            Route("/v1/quarantine", self.quarantine_state, methods=["GET"]),
            Route("/v1/quarantine/{agent:path}", self.release, methods=["DELETE"]),
            Route("/v1/credentials", self.credentials, methods=["POST"]),
            Route("/v1/denylist", self.denylist, methods=["GET"]),
            Route("/v1/jwks", self.jwks, methods=["GET"]),
        ]


def revocation_routes(
    *,
    service: RevocationService,
    broker: Broker | None,
    gate: Gate,
) -> list[Route]:
    """The routes above, over ``service`` (and ``broker`` for credentials; None: off)."""
    return _RevocationApi(service, broker, gate).routes()
