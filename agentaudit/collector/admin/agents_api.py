"""Admin routes of the agent registry (responder only).

* ``POST /v1/agents`` ``{name, owner, description?, rotate?, kind?, requested_by?}``:
  register an agent (``kind``: ``agent``, the default, or ``tool_server``), or rotate its
  token; 201 with the agent and its ``token``, the only time the token is shown.
* ``GET /v1/agents``: the registered agents (never a token or its digest).
* ``DELETE /v1/agents/{name}`` ``{reason, requested_by}``: revoke the agent's token.

An agent token on any of these answers 403 and the attempt is recorded (an agent trying
to register or revoke agents is worth knowing about).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.identity.principals import KINDS
from agentaudit.collector.identity.registry import (
    AgentExists,
    AgentRegistry,
    RegistryError,
    UnknownAgent,
)
from agentaudit.collector.serving.auth import json_error, read_json_object
from agentaudit.store import StoreError

__all__ = ["agent_routes"]

MAX_BODY_BYTES: Final = 16 * 1024
NO_STORE: Final = {"Cache-Control": "no-store"}


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def agent_routes(registry: AgentRegistry, gate: Gate) -> list[Route]:
    """The routes above, over ``registry``."""

    async def add(request: Request) -> Response:
        who = await gate.responder(request, "register", "agent")
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        rotate = data.get("rotate", False)
        if not isinstance(rotate, bool):
            return json_error(400, '"rotate" must be true or false')
        kind = data.get("kind")
        if kind is not None and kind not in KINDS:
            return json_error(400, f'"kind" must be one of {", ".join(KINDS)}')
        try:
            record, token = await run_in_threadpool(
                registry.add,
                _text(data, "name"),
                owner=_text(data, "owner"),
                description=_text(data, "description"),
                actor=_text(data, "requested_by") or who.label,
                rotate=rotate,
                kind=kind,
            )
        except AgentExists as exc:
            return json_error(409, str(exc), reason="exists")
        except RegistryError as exc:
            return json_error(400, str(exc))
        except StoreError as exc:
            return json_error(503, f"the registration could not be recorded: {exc}")
        return JSONResponse(
            {"agent": record.to_json(), "token": token}, status_code=201, headers=NO_STORE
        )

    async def listing(request: Request) -> Response:
        who = await gate.responder(request, "list", "agent")
        if isinstance(who, Response):
            return who
        return JSONResponse({"agents": [r.to_json() for r in registry.agents()]})

    async def revoke(request: Request) -> Response:
        name = request.path_params["name"]
        who = await gate.responder(request, "revoke", "agent", name)
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES, optional=True)
        if isinstance(data, Response):
            return data
        try:
            record = await run_in_threadpool(
                registry.revoke,
                name,
                actor=_text(data, "requested_by") or who.label,
                reason=_text(data, "reason"),
            )
        except UnknownAgent as exc:
            return json_error(404, str(exc))
        except RegistryError as exc:
            return json_error(400, str(exc))
        except StoreError as exc:
            return json_error(503, f"the revocation could not be recorded: {exc}")
        return JSONResponse({"agent": record.to_json()})

    return [
        Route("/v1/agents", add, methods=["POST"]),
        Route("/v1/agents", listing, methods=["GET"]),
        Route("/v1/agents/{name:path}", revoke, methods=["DELETE"]),
    ]
