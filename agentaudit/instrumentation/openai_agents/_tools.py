"""The contract span of a function tool, through the tool's public ``on_invoke_tool``.

``FunctionTool.on_invoke_tool`` (a public field of the SDK's tool dataclass, the documented
way to build a tool by hand) is what the SDK awaits to run every function tool, MCP tools
of the SDK included. :func:`wrap_tool` replaces it on one tool object with a wrapper that
opens the contract span, runs the ``before_tool_call`` hooks (the quarantine guard can
refuse the call before it runs; a just-in-time credential is current while it runs),
awaits the original and records its result. :func:`unwrap_all` puts every original back.

Invariants: a tool is wrapped at most once (the wrapper is marked); while auditing is off
the wrapper only awaits the original; the tool's result, its exceptions and the SDK's
failure message reach the model unchanged.

The one private seam: the SDK's ``function_tool`` decorator turns a tool's exception into
a message inside the original ``on_invoke_tool`` (its ``failure_error_function``), so
the exception never reaches the wrapper, and no public API exposes it. The integration
therefore observes ``agents.tool.maybe_invoke_function_tool_failure_error_function`` (the
module function that decorator calls with the exception; :func:`observe_failure`), only
to hand the exception to the current call: its class becomes ``error.type``, and a
revoked credential is remembered, so the model's retry is refused without a new
credential. Observation only (arguments and result pass unchanged), and optional: where
it is missing, the failure is still seen on the SDK's own current ``function`` span
(``Span.error``, public tracing API) and recorded as ``error.type=tool_error`` (the MCP
convention for a failure the model is told about); with the SDK's tracing disabled too,
the failure message is recorded as the result. An exception that propagates
(``failure_error_function=None``, a hand-built ``FunctionTool``) keeps its class.
"""

from __future__ import annotations

import contextvars
import json
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from opentelemetry.trace import StatusCode

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation._approvals import decision_attributes
from agentaudit.instrumentation.openai_agents._run import FRAMEWORK, current_run, prompt_for_call
from agentaudit.instrumentation.runtime import ToolCall, tool_call
from agentaudit.schema import attributes as A

__all__ = [
    "TOOL_ERROR",
    "arguments_of",
    "conversation",
    "observe_failure",
    "scope",
    "unwrap_all",
    "wrap_agent_tools",
    "wrap_tool",
]

_MARK = "__agentaudit_original__"


class _Wrapped:
    lock = threading.Lock()
    tools: ClassVar[list[weakref.ref[Any]]] = []
    """The wrapped tools (weak: dataclass tools are unhashable, so no WeakSet)."""


_errors: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "agentaudit_openai_agents_tool_errors", default=None
)
"""Per running tool call, the exceptions the SDK turned into messages for the model."""


def observe_failure(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap the SDK's failure formatter call: hand the exception to the running call."""

    async def maybe_invoke_function_tool_failure_error_function(*args: Any, **kwargs: Any) -> Any:
        error = kwargs.get("error")
        errors = _errors.get()
        if errors is not None and isinstance(error, BaseException):
            errors.append(error)
        return await original(*args, **kwargs)

    maybe_invoke_function_tool_failure_error_function.__wrapped__ = original  # type: ignore[attr-defined]
    return maybe_invoke_function_tool_failure_error_function


TOOL_ERROR = "tool_error"
"""``error.type`` of a tool failure the SDK turned into a message (its class is not exposed)."""


def _mark_failed(call: Any) -> None:
    if isinstance(call, ToolCall):
        call.span.set_attribute(A.ERROR_TYPE, TOOL_ERROR)
        call.span.set_status(StatusCode.ERROR)


def arguments_of(raw: Any) -> Mapping[str, Any]:
    """The model's JSON arguments string as a mapping (non-objects under ``input``)."""
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"input": raw}
    return parsed if isinstance(parsed, dict) else {"input": parsed}


def conversation() -> str | None:
    """The SDK trace's ``group_id``, else its trace id (public tracing API)."""
    from agents.tracing import get_current_trace

    trace = get_current_trace()
    if trace is None:
        return None
    group = getattr(trace, "group_id", None)
    if isinstance(group, str) and group:
        return group
    trace_id = getattr(trace, "trace_id", None)
    return trace_id if isinstance(trace_id, str) and trace_id != "no-op" else None


def _approved(context: Any, tool: Any, call_id: str | None) -> bool:
    """True when the call runs after a human approved it (the run's interruption flow)."""
    if not call_id or not getattr(tool, "needs_approval", False):
        return False
    check = getattr(context, "is_tool_approved", None)
    if check is None:
        return False
    try:
        return check(str(getattr(tool, "name", "")), call_id) is True
    except Exception:
        return False


def scope(agent: Any, *, approved: bool = False) -> dict[str, Any]:
    """Context attributes from the SDK's ids, for the keys the app's context leaves unset."""
    frame = _context.current_frame()
    present: Mapping[str, Any] = frame.attributes if frame is not None else {}
    baggage = _context.baggage_attributes()
    extra: dict[str, Any] = {}
    name = getattr(agent, "name", None)
    if isinstance(name, str) and name:
        if A.GEN_AI_AGENT_ID not in present and A.GEN_AI_AGENT_ID not in baggage:
            extra[A.GEN_AI_AGENT_ID] = name
        if A.GEN_AI_AGENT_NAME not in present:
            extra[A.GEN_AI_AGENT_NAME] = name
    if A.GEN_AI_CONVERSATION_ID not in present:
        found = conversation()
        if found:
            extra[A.GEN_AI_CONVERSATION_ID] = found
    if approved:
        for key, value in decision_attributes(A.DECISION_APPROVED).items():
            if key not in present:
                extra[key] = value
    return extra


def _tool_type(tool: Any) -> str:
    """``extension`` for the tools of an MCP server, ``function`` otherwise."""
    try:
        from agents.tool import ToolOriginType, get_function_tool_origin

        origin = get_function_tool_origin(tool)
    except Exception:
        return "function"
    return "extension" if origin is not None and origin.type == ToolOriginType.MCP else "function"


def _sdk_span_error() -> Any:
    """The error set on the SDK's current span (its ``function`` span while a tool runs)."""
    try:
        from agents.tracing import get_current_span

        span = get_current_span()
        return getattr(span, "error", None) if span is not None else None
    except Exception:
        return None


def _audited(
    tool: Any, original: Callable[[Any, str], Awaitable[Any]]
) -> Callable[[Any, str], Awaitable[Any]]:
    async def on_invoke_tool(ctx: Any, input: str) -> Any:
        if not _state.enabled():
            return await original(ctx, input)
        try:
            name = str(getattr(tool, "name", "") or getattr(ctx, "tool_name", "") or "tool")
            call_id = getattr(ctx, "tool_call_id", None)
            call_id = call_id if isinstance(call_id, str) and call_id else None
            run = current_run()
            agent = getattr(ctx, "agent", None) or (run.agent if run is not None else None)
            prompt = prompt_for_call(call_id) or (run.prompt if run is not None else None)
            extra = scope(agent, approved=_approved(ctx, tool, call_id))
            tool_type = _tool_type(tool)
            error_before = _sdk_span_error()
        except Exception:
            _state.report_error("preparing an OpenAI Agents tool span failed")
            return await original(ctx, input)
        with _context.context(**extra):
            call = tool_call(
                name,
                framework=FRAMEWORK,
                call_id=call_id,
                arguments=arguments_of(input),
                tool_type=tool_type,
                prompt=prompt,
            )
            errors: list[BaseException] = []
            token = _errors.set(errors)
            try:
                output = await original(ctx, input)
            except BaseException as exc:
                call.error(exc)
                raise
            finally:
                _errors.reset(token)
            if errors:  # the tool raised; the SDK told the model in a message
                call.error(errors[-1])
                return output
            error_after = _sdk_span_error()
            if error_after is not None and error_after is not error_before:
                _mark_failed(call)  # the same, seen on the SDK's own span
            call.ok(output)
            return output

    setattr(on_invoke_tool, _MARK, original)
    return on_invoke_tool


def wrap_tool(tool: Any) -> None:
    """Wrap ``tool.on_invoke_tool`` once (any object with a callable ``on_invoke_tool``)."""
    try:
        original = getattr(tool, "on_invoke_tool", None)
        if not callable(original) or hasattr(original, _MARK):
            return
        with _Wrapped.lock:
            if hasattr(tool.on_invoke_tool, _MARK):
                return
            tool.on_invoke_tool = _audited(tool, original)
            _Wrapped.tools = [ref for ref in _Wrapped.tools if ref() is not None]
            _Wrapped.tools.append(weakref.ref(tool))
    except Exception:
        _state.report_error("wrapping an OpenAI Agents tool failed")


def wrap_agent_tools(agent: Any) -> None:
    """Wrap the function tools an agent declares, and those of the agents it hands off to."""
    seen: set[int] = set()
    pending = [agent]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        for tool in list(getattr(current, "tools", None) or ()):
            wrap_tool(tool)
        for target in list(getattr(current, "handoffs", None) or ()):
            if hasattr(target, "tools"):  # an Agent (a Handoff object names its agent only)
                pending.append(target)


def unwrap_all() -> None:
    """Put back the original ``on_invoke_tool`` of every tool still alive."""
    with _Wrapped.lock:
        for ref in _Wrapped.tools:
            tool = ref()
            wrapper = getattr(tool, "on_invoke_tool", None)
            original = getattr(wrapper, _MARK, None)
            if tool is not None and original is not None:
                tool.on_invoke_tool = original
        _Wrapped.tools = []
