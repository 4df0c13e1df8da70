"""The two seams that differ in the mcp 1.x SDK (1.28 up to 2.0), both version-dependent.

Server: mcp 1.x has no server middleware. Its low-level ``Server`` keeps one handler per
request type in the public ``request_handlers`` mapping, and ``Server.call_tool()`` (the
public decorator ``FastMCP`` registers its tools through) stores the ``tools/call``
handler there. :func:`wrap_registration` wraps that decorator so the handler it stores
is run through the same :class:`~._server.AuditMiddleware` as on 2.x, with the request
presented as the 2.x middleware sees it (method, params with ``_meta``, the HTTP request
and the session, read from the SDK's public ``request_ctx`` context variable). Handlers
put into ``request_handlers`` by hand, and servers built before ``install``, are not
audited (as on 2.x).

Client: on a non-2xx answer to a POST, mcp 1.x raises ``httpx.HTTPStatusError`` inside
the transport's task group, which tears the whole session down (the pending call never
returns); mcp 2.x answers the pending request with a JSON-RPC error ("Server returned an
error response") instead. There is no public seam for this, so
:func:`wrap_handle_post_request` wraps the transport's private
``StreamableHTTPTransport._handle_post_request`` and does what 2.x does, for one case
only: a ``tools/call`` sent through the audited ``call_tool`` whose 401/403 answer the
credential hooks recorded (:mod:`._auth`). Every other error propagates unchanged, so
the SDK behaves as before for calls the integration did not send.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentaudit.instrumentation import _state

__all__ = [
    "audit_registered",
    "restore_registered",
    "wrap_handle_post_request",
    "wrap_registration",
]

_ORIGINAL = "__agentaudit_original__"
_REFUSED = "Server returned an error response"
"""What mcp 2.x says of a non-2xx answer to a request (the refusal then reads it)."""


@dataclass(frozen=True)
class _CallContext:
    """A 1.x ``tools/call`` request as the 2.x server middleware sees its context."""

    params: Mapping[str, Any]
    request: Any
    session: Any
    method: str = "tools/call"
    meta: Any = None  # the 2.x middleware then reads params["_meta"]


def _context(req: Any) -> _CallContext:
    from mcp.server.lowlevel.server import request_ctx  # type: ignore[attr-defined,unused-ignore]

    params = req.params.model_dump(by_alias=True, mode="json", exclude_none=True)
    current = request_ctx.get(None)
    return _CallContext(
        params=params,
        request=getattr(current, "request", None),
        session=getattr(current, "session", None),
    )


def _audited(handler: Callable[[Any], Awaitable[Any]], audit: Any) -> Any:
    """The ``tools/call`` handler run through ``audit`` (an ``AuditMiddleware``)."""

    @functools.wraps(handler)
    async def audited(req: Any) -> Any:
        try:
            ctx = _context(req)
        except Exception:
            _state.report_error("reading an MCP tools/call request failed")
            return await handler(req)
        answered: list[Any] = []

        async def call_next(_: Any) -> Any:
            response = await handler(req)
            answered.append(response)
            return getattr(response, "root", response)  # the CallToolResult in its ServerResult

        result = await audit(ctx, call_next)
        return answered[0] if answered else result

    setattr(audited, _ORIGINAL, handler)
    return audited


def audit_registered(server: Any, audit: Any) -> bool:
    """Run ``server``'s registered ``tools/call`` handler through ``audit`` (idempotent).
    False when the server has none."""
    from mcp.types import CallToolRequest

    handlers = getattr(server, "request_handlers", None)
    handler = handlers.get(CallToolRequest) if isinstance(handlers, dict) else None
    if handler is None:
        return False
    if not hasattr(handler, _ORIGINAL):
        handlers[CallToolRequest] = _audited(handler, audit)  # type: ignore[index]
    return True


def restore_registered(server: Any) -> None:
    """Put back ``server``'s own ``tools/call`` handler."""
    from mcp.types import CallToolRequest

    handlers = getattr(server, "request_handlers", None)
    handler = handlers.get(CallToolRequest) if isinstance(handlers, dict) else None
    original = getattr(handler, _ORIGINAL, None)
    if original is not None:
        handlers[CallToolRequest] = original  # type: ignore[index]


def wrap_registration(original: Callable[..., Any], audit: Any, servers: Any) -> Callable[..., Any]:
    """``Server.call_tool``: the handler it registers is audited; servers go in ``servers``."""

    @functools.wraps(original)
    def call_tool(self: Any, *args: Any, **kwargs: Any) -> Any:
        register = original(self, *args, **kwargs)

        @functools.wraps(register)
        def decorator(func: Any) -> Any:
            registered = register(func)
            try:
                if audit_registered(self, audit):
                    servers.add(self)
            except Exception:
                _state.report_error("auditing an MCP tools/call handler failed")
            return registered

        return decorator

    return call_tool


def wrap_handle_post_request(
    original: Callable[..., Awaitable[Any]],
) -> Callable[..., Awaitable[Any]]:
    """``StreamableHTTPTransport._handle_post_request``: an audited call's 401/403 answer
    comes back to the call as a JSON-RPC error (as on 2.x), not as a dead session."""
    import httpx

    from agentaudit.instrumentation.mcp import _auth

    @functools.wraps(original)
    async def handle_post_request(self: Any, ctx: Any) -> Any:
        try:
            return await original(self, ctx)
        except httpx.HTTPStatusError as exc:
            reply = _refusal_reply(exc, ctx) if _auth.refused(exc.request) else None
            if reply is None:
                raise
            await ctx.read_stream_writer.send(reply)
            return None

    return handle_post_request


def _refusal_reply(exc: Any, ctx: Any) -> Any:
    """The JSON-RPC error answering the refused request, or None."""
    from mcp.shared.message import SessionMessage
    from mcp.types import INTERNAL_ERROR, ErrorData, JSONRPCError, JSONRPCMessage, JSONRPCRequest

    try:
        message = ctx.session_message.message
    except Exception:
        _state.report_error("answering an MCP tools/call refusal failed")
        return None
    request = getattr(message, "root", message)
    if not isinstance(request, JSONRPCRequest):
        return None
    error = JSONRPCError(
        jsonrpc="2.0", id=request.id, error=ErrorData(code=INTERNAL_ERROR, message=_REFUSED)
    )
    return SessionMessage(JSONRPCMessage(error))  # type: ignore[operator,unused-ignore]
