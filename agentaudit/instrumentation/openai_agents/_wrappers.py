"""The two seams of the OpenAI Agents SDK that the integration wraps, and why these.

The SDK's public extension points do not reach far enough: a ``TracingProcessor`` sees a
function span start before the call id and arguments exist and cannot stop a call, and
``RunHooks`` (``on_llm_start`` / ``on_tool_start``) are per-run objects the application
passes to ``Runner.run``. So the integration wraps the two module functions every run
goes through, both in ``agents.run_internal``:

* ``run_loop.maybe_filter_model_input`` returns exactly the model input of each call
  (instructions + input items, after the run's ``call_model_input_filter``): it is
  recorded with ``record_prompt`` (hash, matched sources, ``chat`` span) whatever the
  ``Model`` implementation;
* ``tool_execution._invoke_function_tool_with_metadata`` invokes every function tool
  (MCP tools of the SDK included) with its ``ToolContext`` (call id, raw arguments, the
  agent running it, the approval decisions): the contract span wraps it, so the
  quarantine hook can block the call before it runs.

``tool.maybe_invoke_function_tool_failure_error_function`` is observed too: a function
tool's exception is turned into a message for the model there, and that is the only
place the exception's type is visible. Results, exceptions and messages pass through
unchanged. Handoffs are not function tools: they are never recorded as tool calls; the
tool calls after a handoff carry the new agent's name.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation.runtime import record_prompt, tool_call
from agentaudit.schema import attributes as A

__all__ = ["FRAMEWORK", "audited_failure", "audited_invoke", "audited_model_input", "prompt_of"]

FRAMEWORK = "openai_agents"

_tool_errors: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "agentaudit_openai_agents_tool_errors", default=None
)
"""Per tool call, a list the failure wrapper appends to (a list, so that the tool's own task,
which the SDK starts when the tool has a timeout, reports into the caller's call)."""


def prompt_of(instructions: str | None, items: Any) -> list[Any]:
    """The canonical model input: the instructions as a system message, then the items."""
    messages: list[Any] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
    elif items is not None:
        messages.extend(items)
    return messages


def _model_name(agent: Any) -> str | None:
    model = getattr(agent, "model", None)
    if isinstance(model, str):
        return model
    if model is None:
        return None
    return str(getattr(model, "model", None) or type(model).__name__)


def audited_model_input(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap ``maybe_filter_model_input``: record the filtered input as the prompt."""

    async def maybe_filter_model_input(*args: Any, **kwargs: Any) -> Any:
        filtered = await original(*args, **kwargs)
        if _state.enabled():
            try:
                messages = prompt_of(
                    getattr(filtered, "instructions", None), getattr(filtered, "input", None)
                )
                record_prompt(messages, model=_model_name(kwargs.get("agent")), framework=FRAMEWORK)
            except Exception:
                _state.report_error("recording an OpenAI Agents model input failed")
        return filtered

    maybe_filter_model_input.__wrapped__ = original  # type: ignore[attr-defined]
    return maybe_filter_model_input


def audited_failure(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap the failure formatter call: remember the type of the tool's exception."""

    async def maybe_invoke_function_tool_failure_error_function(*args: Any, **kwargs: Any) -> Any:
        error = kwargs.get("error")
        errors = _tool_errors.get()
        if errors is not None and isinstance(error, BaseException):
            errors.append(error)
        return await original(*args, **kwargs)

    maybe_invoke_function_tool_failure_error_function.__wrapped__ = original  # type: ignore[attr-defined]
    return maybe_invoke_function_tool_failure_error_function


def _arguments(raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"input": raw}
    return parsed if isinstance(parsed, dict) else {"input": parsed}


def _conversation() -> str | None:
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
    """True when the call ran after an approval of the run's interruption flow."""
    if not call_id or not getattr(tool, "needs_approval", False):
        return False
    check = getattr(context, "is_tool_approved", None)
    if check is None:
        return False
    try:
        return check(getattr(tool, "name", ""), call_id) is True
    except Exception:
        return False


def _scope(context: Any, tool: Any, call_id: str | None) -> dict[str, Any]:
    """Context attributes from the SDK's own ids, for keys the app's context leaves unset."""
    frame = _context.current_frame()
    present: Mapping[str, Any] = frame.attributes if frame is not None else {}
    baggage = _context.baggage_attributes()
    extra: dict[str, Any] = {}
    agent = getattr(getattr(context, "agent", None), "name", None)
    if isinstance(agent, str) and agent:
        if A.GEN_AI_AGENT_ID not in present and A.GEN_AI_AGENT_ID not in baggage:
            extra[A.GEN_AI_AGENT_ID] = agent
        if A.GEN_AI_AGENT_NAME not in present:
            extra[A.GEN_AI_AGENT_NAME] = agent
    if A.GEN_AI_CONVERSATION_ID not in present:
        conversation = _conversation()
        if conversation:
            extra[A.GEN_AI_CONVERSATION_ID] = conversation
    if A.APPROVAL_STATUS not in present and _approved(context, tool, call_id):
        extra[A.APPROVAL_STATUS] = A.APPROVAL_HUMAN
    return extra


def _tool_type(tool: Any) -> str:
    """``extension`` for the tools of an MCP server, ``function`` otherwise."""
    from agents.tool import ToolOriginType, get_function_tool_origin

    origin = get_function_tool_origin(tool)
    return "extension" if origin is not None and origin.type == ToolOriginType.MCP else "function"


def audited_invoke(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap ``_invoke_function_tool_with_metadata``: one contract span per tool call."""

    async def _invoke_function_tool_with_metadata(*args: Any, **kwargs: Any) -> Any:
        if not _state.enabled():
            return await original(*args, **kwargs)
        tool = kwargs.get("function_tool")
        context = kwargs.get("context")
        try:
            name = str(getattr(tool, "name", "") or getattr(context, "tool_name", "tool"))
            call_id = getattr(context, "tool_call_id", None)
            call_id = call_id if isinstance(call_id, str) and call_id else None
            arguments = _arguments(kwargs.get("arguments"))
            prompt = _context.current_prompt()
            extra = _scope(context, tool, call_id)
            tool_type = _tool_type(tool)
        except Exception:
            _state.report_error("preparing an OpenAI Agents tool span failed")
            return await original(*args, **kwargs)
        with _context.context(**extra):
            call = tool_call(
                name,
                framework=FRAMEWORK,
                call_id=call_id,
                arguments=arguments,
                tool_type=tool_type,
                prompt=prompt,
            )
            errors: list[BaseException] = []
            token = _tool_errors.set(errors)
            try:
                outcome = await original(*args, **kwargs)
            except BaseException as exc:
                call.error(exc)
                raise
            finally:
                _tool_errors.reset(token)
            if errors:
                call.error(errors[-1])  # the tool raised; the SDK told the model in a message
            elif getattr(outcome, "is_sdk_generated_error", False):
                call.error(TimeoutError() if getattr(tool, "timeout_seconds", None) else _Failed())
            else:
                call.ok(getattr(outcome, "output", outcome))
            return outcome

    _invoke_function_tool_with_metadata.__wrapped__ = original  # type: ignore[attr-defined]
    return _invoke_function_tool_with_metadata


class _Failed(Exception):
    """An SDK-generated error output whose cause the SDK did not expose."""
