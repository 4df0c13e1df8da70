"""Client side: the contract span around ``ClientSession.call_tool``, context into ``_meta``.

The wrapper opens an ``execute_tool {name}`` span (kind INTERNAL, ``agentaudit.framework
= mcp``, tool type ``extension``), writes the trace context and the provenance context into
the request's ``_meta`` (see :mod:`._meta`; the caller's own ``meta`` entries are kept and
win), and records the ``CallToolResult`` (its JSON form: hash, size, and registered as an
untrusted source, so the text content is found when it reaches a later model input). A
result with ``isError`` gives ``error.type=tool_error``; an exception gives its class and
passes through unchanged.

When the current span already is the contract span of a tool of the same name (an agent
framework's tool wrapping this MCP call, e.g. a LangChain tool built from the MCP tool),
no second span is made: the call only carries that span's context in ``_meta``.

Either way the span recording the call (ours, or the framework's) is marked
``agentaudit.call.side = client`` and given a ``gen_ai.tool.call.id`` when it has none
(its own span id, which its result's source ref already uses); the id travels in
``_meta`` so the server's span records the same one (one row per call: see
:mod:`agentaudit.schema.calls`). The call's just-in-time credential, when it has one,
goes on its HTTP request and a server's refusal comes back as
:class:`~agentaudit.instrumentation.mcp.ToolServerRefused` (see :mod:`._auth`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from agentaudit.instrumentation import _state
from agentaudit.instrumentation._jit import current_credential
from agentaudit.instrumentation.mcp._meta import META_TRACEPARENT, inject
from agentaudit.instrumentation.runtime import ToolCall, baggage_attributes, tool_call
from agentaudit.schema import attributes as A

__all__ = ["FRAMEWORK", "TOOL_ERROR", "result_payload", "wrap_call_tool"]

FRAMEWORK = "mcp"
TOOL_ERROR = "tool_error"
"""``error.type`` of a call whose result has ``isError`` (as the MCP SDK's own spans)."""

CallTool = Callable[..., Awaitable[Any]]


def result_payload(result: Any) -> Any:
    """The JSON form of a ``CallToolResult`` (what is hashed and matched later)."""
    dump = getattr(result, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_none=True)
    return result


def _is_error(result: Any) -> bool:
    if isinstance(result, Mapping):
        return result.get("isError") is True
    return getattr(result, "is_error", None) is True or getattr(result, "isError", None) is True


def _identity(span: Any) -> Mapping[str, Any]:
    attributes = getattr(span, "attributes", None)
    if isinstance(attributes, Mapping) and attributes:
        return attributes
    return baggage_attributes()


def _enclosing_tool(name: str) -> Any:
    """The current span when it records a call of this tool on this side (not a server
    span: a proxy's tool calling its upstream namesake makes a client span of its own)."""
    span = trace.get_current_span()
    attributes = getattr(span, "attributes", None)
    if (
        isinstance(attributes, Mapping)
        and span.is_recording()
        and getattr(span, "kind", SpanKind.INTERNAL) is not SpanKind.SERVER
        and attributes.get(A.GEN_AI_OPERATION_NAME) == A.OPERATION_EXECUTE_TOOL
        and attributes.get(A.GEN_AI_TOOL_NAME) == name
    ):
        return span
    return None


def _mark_client(span: Any) -> None:
    """Side ``client``, and a tool-call id when the span has none (its span id)."""
    try:
        attributes = getattr(span, "attributes", None) or {}
        marks: dict[str, Any] = {A.CALL_SIDE: A.CALL_SIDE_CLIENT}
        if not attributes.get(A.GEN_AI_TOOL_CALL_ID):
            marks[A.GEN_AI_TOOL_CALL_ID] = format(span.get_span_context().span_id, "016x")
        span.set_attributes(marks)
    except Exception:
        _state.report_error("marking the MCP client span failed")


def _token(name: str) -> str | None:
    """The just-in-time credential of the call in progress, when it is for this tool."""
    credential = current_credential()
    if credential is None or credential.claims.tool != name:
        return None
    return credential.token


def _with_meta(meta: Any, span: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    try:
        inject(merged, _identity(span))
    except Exception:
        _state.report_error("injecting the MCP _meta context failed")
    if isinstance(meta, Mapping):
        merged.update(meta)
    return merged


def wrap_call_tool(original: CallTool) -> CallTool:
    """The audited ``ClientSession.call_tool``; same signature and behaviour."""
    from agentaudit.instrumentation.mcp import _auth  # imports the SDK: after the version gate

    async def send(
        span: Any, self: Any, name: str, arguments: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """The SDK call, presenting the credential; the server's refusal, made legible."""
        meta = kwargs["meta"] = _with_meta(kwargs.get("meta"), span)
        with _auth.presenting(meta.get(META_TRACEPARENT), name, _token(name)) as sent:
            try:
                return await original(self, name, arguments, *args, **kwargs)
            except Exception as exc:
                try:
                    refused = _auth.refusal(sent, name, exc)
                except Exception:
                    _state.report_error(f"reading the refusal of MCP tool {name!r} failed")
                    refused = None
                if refused is None:
                    raise
                _record_refusal(span, refused)
                raise refused from (refused.revocation or exc)

    @functools.wraps(original)
    async def call_tool(
        self: Any, name: str, arguments: dict[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        if not _state.enabled():
            return await original(self, name, arguments, *args, **kwargs)
        enclosing = _enclosing_tool(name)
        if enclosing is not None:
            _mark_client(enclosing)
            return await send(enclosing, self, name, arguments, *args, **kwargs)
        call = tool_call(
            name, framework=FRAMEWORK, arguments=arguments or {}, tool_type="extension"
        )
        if not isinstance(call, ToolCall):
            return await original(self, name, arguments, *args, **kwargs)
        _mark_client(call.span)
        try:
            result = await send(call.span, self, name, arguments, *args, **kwargs)
        except BaseException as exc:
            call.error(exc)
            raise
        if _is_error(result):
            call.span.set_attribute(A.ERROR_TYPE, TOOL_ERROR)
            call.span.set_status(trace.StatusCode.ERROR)
        try:
            payload = result_payload(result)
        except Exception:
            _state.report_error(f"reading the result of MCP tool {name!r} failed")
            payload = None
        call.ok(payload)
        return result

    call_tool.__agentaudit_original__ = original  # type: ignore[attr-defined]
    return call_tool


def _record_refusal(span: Any, refused: Any) -> None:
    try:
        span.set_attributes(refused.span_attributes())
    except Exception:
        _state.report_error("recording the MCP server's refusal failed")
