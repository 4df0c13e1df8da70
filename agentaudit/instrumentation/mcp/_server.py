"""Server side: a SERVER contract span around each ``tools/call``, as server middleware.

mcp 2.x servers run every inbound message through ``Server.middleware`` (the SDK's
extension point; ``MCPServer`` shares its low-level server's list); on mcp 1.x, which has
no middleware, the registered ``tools/call`` handler is run through the same
:class:`AuditMiddleware` (:mod:`._v1`). :class:`AuditMiddleware`
handles ``tools/call`` only: it extracts the caller's trace context and provenance from
the request ``_meta`` (:mod:`._meta`), opens an ``execute_tool {name}`` span of kind
SERVER parented to the client's tool span, with the caller's user / session / agent (and
approval, when the caller had one), the caller's tool-call id
(``io.agentaudit/tool_call_id``) as ``gen_ai.tool.call.id``, ``agentaudit.call.side =
server``, and ``gen_ai.conversation.id`` = the transport's MCP session id
(``mcp-session-id``; on stdio, where there is none, the caller's conversation if it sent
one). The span is current while the tool runs. Results with ``isError`` (``MCPServer``
turns tool exceptions into those) give ``error.type=tool_error``; an ``MCPError`` or
other exception raised through the chain gives its class and passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

import agentaudit
from agentaudit.instrumentation import _state
from agentaudit.instrumentation.mcp._client import FRAMEWORK, TOOL_ERROR
from agentaudit.instrumentation.mcp._meta import extract
from agentaudit.instrumentation.runtime import ToolCall, tool_call
from agentaudit.schema import attributes as A

__all__ = ["SESSION_HEADER", "AuditMiddleware", "session_id_of"]

SESSION_HEADER = "mcp-session-id"


def session_id_of(ctx: Any) -> str | None:
    """The transport session id of a request context, when the transport has one."""
    headers = getattr(getattr(ctx, "request", None), "headers", None)
    if headers is not None:
        try:
            value = headers.get(SESSION_HEADER)
        except Exception:
            value = None
        if isinstance(value, str) and value:
            return value
    connection = getattr(getattr(ctx, "session", None), "_connection", None)
    value = getattr(connection, "session_id", None)
    return value if isinstance(value, str) and value else None


def _is_error(result: Any) -> bool:
    if isinstance(result, Mapping):
        return result.get("isError") is True
    # ``is_error`` on mcp 2.x, ``isError`` on 1.x
    return getattr(result, "is_error", None) is True or getattr(result, "isError", None) is True


class AuditMiddleware:
    """``ServerMiddleware``: the audited execution of ``tools/call`` requests."""

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if getattr(ctx, "method", None) != "tools/call" or not _state.enabled():
            return await call_next(ctx)
        try:
            params = ctx.params if isinstance(ctx.params, Mapping) else {}
            name = params.get("name")
            arguments = params.get("arguments")
            meta = ctx.meta if ctx.meta is not None else params.get("_meta")
            parent, identity = extract(meta)
            call_id = identity.pop(A.GEN_AI_TOOL_CALL_ID, None)
            sent = identity.pop(A.GEN_AI_CONVERSATION_ID, None)
            conversation = session_id_of(ctx) or sent
        except Exception:
            _state.report_error("reading an MCP tools/call request failed")
            return await call_next(ctx)
        if not isinstance(name, str) or not name:
            return await call_next(ctx)
        token = otel_context.attach(parent) if parent is not None else None
        try:
            with _scope(identity, conversation):
                return await self._run(ctx, call_next, name, arguments, call_id)
        finally:
            if token is not None:
                otel_context.detach(token)

    @staticmethod
    async def _run(
        ctx: Any,
        call_next: Callable[[Any], Awaitable[Any]],
        name: str,
        arguments: Any,
        call_id: str | None,
    ) -> Any:
        transport_span = trace.get_current_span()  # the SDK's own tools/call span, if any
        call = tool_call(
            name,
            framework=FRAMEWORK,
            call_id=call_id,
            arguments=arguments if isinstance(arguments, Mapping) else {},
            kind=SpanKind.SERVER,
        )
        if not isinstance(call, ToolCall):
            return await call_next(ctx)
        call.span.set_attribute(A.CALL_SIDE, A.CALL_SIDE_SERVER)
        _mark_duplicate(transport_span, call)
        try:
            result = await call_next(ctx)
        except BaseException as exc:
            call.error(exc)
            raise
        if _is_error(result):
            call.span.set_attribute(A.ERROR_TYPE, TOOL_ERROR)
            call.span.set_status(trace.StatusCode.ERROR)
        call.ok(result)
        return result


def _mark_duplicate(transport_span: Any, call: ToolCall) -> None:
    """Point the SDK's own SERVER span of this call at the audited span
    (``agentaudit.audited_by``: the collector then makes no second row of it)."""
    if not transport_span.is_recording():
        return
    attributes = getattr(transport_span, "attributes", None) or {}
    if attributes.get(A.GEN_AI_OPERATION_NAME) != A.OPERATION_EXECUTE_TOOL:
        return
    transport_span.set_attribute(A.AUDITED_BY, format(call.span.get_span_context().span_id, "016x"))


class _NoScope:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _Scopes:
    """Enters several scopes in order and leaves them in reverse."""

    def __init__(self, *scopes: Any) -> None:
        self._scopes = scopes

    def __enter__(self) -> None:
        for scope in self._scopes:
            scope.__enter__()

    def __exit__(self, *exc: object) -> None:
        for scope in reversed(self._scopes):
            scope.__exit__(*exc)


def _scope(identity: Mapping[str, str], conversation: str | None) -> Any:
    """An ``agentaudit.context`` (and ``approval``) with what the caller sent."""
    keys: dict[str, Any] = {}
    user = identity.get(A.ENDUSER_ID)
    session = identity.get(A.SESSION_ID)
    agent = identity.get(A.GEN_AI_AGENT_ID)
    if user:
        keys["user"] = user
    if session:
        keys["session"] = session
    if agent:
        keys["agent"] = agent
    if conversation:
        keys["conversation"] = conversation
    scope: Any = agentaudit.context(**keys) if keys else _NoScope()
    status = identity.get(A.APPROVAL_STATUS)
    approver = identity.get(A.APPROVAL_APPROVER)
    if status and approver:
        return _Scopes(scope, agentaudit.approval(approver, status=status))
    return scope
