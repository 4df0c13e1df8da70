"""Admin route of verifiable approvals (responder only).

``POST /v1/approvals`` ``{agent, tool, arguments_hash | arguments, resources?, user?,
session?, approver, expires_in?, reason?}``: approve exactly that action. The answer
(201) holds the signed ``grant`` the runtime attaches to the call
(``agentaudit.approval(grant=...)``), its ``id`` and ``expires_at``. The grant is
recorded in ``agentaudit.approvals`` before it is handed out.

``arguments_hash`` is the hash the agent computed for the call
(``agentaudit.arguments_hash(tool, arguments)``, which applies the agent's own redaction
and hash key); ``arguments`` (the JSON arguments) is hashed here with the default
settings, which matches only an agent that uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.identity.approvals import (
    DEFAULT_LIFETIME,
    ApprovalSigner,
    ApprovedAction,
    Grant,
    GrantError,
)
from agentaudit.collector.serving.auth import json_error, read_json_object
from agentaudit.store import Store, StoreError

__all__ = ["approval_routes", "record_grant"]

MAX_BODY_BYTES: Final = 256 * 1024
NO_STORE: Final = {"Cache-Control": "no-store"}


def record_grant(store: Store, grant: Grant, *, granted_by: str, reason: str) -> None:
    """Persist a grant (before it is handed out)."""
    action = grant.action
    store.command(
        "INSERT INTO agentaudit.approvals (grant_id, issued_at, expires_at, approver, "
        "granted_by, agent_id, tool_name, arguments_hash, resource_ids, user_id, session_id, "
        "reason) VALUES ({id:String}, {issued:UInt32}, {expires:UInt32}, {approver:String}, "
        "{by:String}, {agent:String}, {tool:String}, {hash:String}, {resources:Array(String)}, "
        "{user:String}, {session:String}, {reason:String})",
        parameters={
            "id": grant.id,
            "issued": grant.issued_at,
            "expires": grant.expires_at,
            "approver": grant.approver,
            "by": granted_by,
            "agent": action.agent,
            "tool": action.tool,
            "hash": action.arguments_hash,
            "resources": list(action.resources),
            "user": action.user,
            "session": action.session,
            "reason": reason,
        },
    )


def _arguments_hash(tool: str, arguments: Any) -> str:
    from agentaudit.instrumentation import arguments_hash

    return arguments_hash(tool, arguments)


def approval_routes(
    store: Store,
    signer: ApprovalSigner,
    gate: Gate,
    *,
    hash_arguments: Callable[[str, Any], str] = _arguments_hash,
) -> list[Route]:
    """The route above: grants signed by ``signer``, recorded in ``store``."""

    async def grant(request: Request) -> Response:
        who = await gate.responder(request, "approve", "tool_call")
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        body = dict(data)
        if "arguments" in body and "arguments_hash" not in body:
            if not isinstance(body.get("tool"), str):
                return json_error(400, '"tool" must be a non-empty string')
            body["arguments_hash"] = hash_arguments(body["tool"], body.pop("arguments"))
        lifetime = body.get("expires_in", DEFAULT_LIFETIME)
        reason = body.get("reason", "")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int):
            return json_error(400, '"expires_in" must be a whole number of seconds')
        if not isinstance(reason, str) or len(reason) > 1000:
            return json_error(400, '"reason" must be a string of at most 1000 characters')
        try:
            action = ApprovedAction.from_json(body)
            token, granted = signer.grant(
                action, approver=str(body.get("approver") or ""), lifetime=lifetime
            )
        except GrantError as exc:
            return json_error(400, str(exc))
        try:
            await run_in_threadpool(
                record_grant, store, granted, granted_by=who.label, reason=reason
            )
        except StoreError as exc:
            return json_error(503, f"the approval could not be recorded: {exc}")
        answer = {"grant": token, **granted.to_json()}
        return JSONResponse(answer, status_code=201, headers=NO_STORE)

    return [Route("/v1/approvals", grant, methods=["POST"])]
