"""CrewAI's global hooks and the one tool method wrapped.

* ``before_llm_call`` hook (CrewAI's hook API): the messages of every agent LLM call ->
  ``record_prompt`` (hash, matched sources, ``chat`` span); hashed at hook time, since
  CrewAI keeps appending to the same list;
* ``before_tool_call`` hook: notes the agent (its role) about to run a tool, for the
  tool span; it never blocks;
* ``CrewStructuredTool.invoke`` / ``ainvoke``: ReAct-text tool calls run a ``BaseTool``
  through its structured form, and only there is the tool's own exception visible
  (CrewAI's ``ToolUsage`` catches it, retries, and tells the LLM in a message): the
  contract span wraps each execution; results and exceptions pass through unchanged;
* ``BaseTool.run`` / ``Tool.run``: native tool calls (an LLM whose
  ``supports_function_calling()`` is true, a custom ``BaseLLM`` included) run the tool
  through ``run``, never through the structured form: the same span wraps it. The two
  paths are disjoint (the structured form calls ``_run``); a ``run`` inside an audited
  call of the same tool is not recorded twice.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation.runtime import record_prompt, tool_call
from agentaudit.schema import attributes as A

__all__ = [
    "FRAMEWORK",
    "audited_ainvoke",
    "audited_invoke",
    "audited_run",
    "before_llm_call",
    "before_tool_call",
    "canonical_messages",
]

FRAMEWORK = "crewai"

_agent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "agentaudit_crewai_agent", default=None
)


def canonical_messages(messages: Any) -> list[Any]:
    """The model input as recorded: the message dicts (a string becomes a user message)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [dict(m) if isinstance(m, Mapping) else m for m in list(messages or [])]


def before_llm_call(context: Any) -> None:
    if not _state.enabled():
        return None
    try:
        llm = getattr(context, "llm", None)
        model = getattr(llm, "model", llm)
        record_prompt(
            canonical_messages(getattr(context, "messages", None)),
            model=model if isinstance(model, str) else None,
            framework=FRAMEWORK,
        )
    except Exception:
        _state.report_error("recording a CrewAI model input failed")
    return None


def before_tool_call(context: Any) -> None:
    role = getattr(getattr(context, "agent", None), "role", None)
    _agent.set(role if isinstance(role, str) and role else None)


def _arguments(value: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            value = {"input": value}
    found = dict(value) if isinstance(value, Mapping) else {"input": value}
    found.update(kwargs)
    return found


def _scope() -> dict[str, Any]:
    agent = _agent.get()
    if not agent:
        return {}
    frame = _context.current_frame()
    present: Mapping[str, Any] = frame.attributes if frame is not None else {}
    extra: dict[str, Any] = {}
    if A.GEN_AI_AGENT_ID not in present and A.GEN_AI_AGENT_ID not in (
        _context.baggage_attributes()
    ):
        extra[A.GEN_AI_AGENT_ID] = agent
    if A.GEN_AI_AGENT_NAME not in present:
        extra[A.GEN_AI_AGENT_NAME] = agent
    return extra


def _begin(tool: Any, value: Any, kwargs: Mapping[str, Any]) -> tuple[Any, Any] | None:
    try:
        name = str(getattr(tool, "name", "") or "tool")
        arguments = _arguments(value, kwargs)
        prompt = _context.current_prompt()
        frame = _context.context(**_scope())
    except Exception:
        _state.report_error("preparing a CrewAI tool span failed")
        return None
    frame.__enter__()
    try:
        call = tool_call(name, framework=FRAMEWORK, arguments=arguments, prompt=prompt)
    except BaseException:
        frame.__exit__(None, None, None)
        raise
    return call, frame


_running: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "agentaudit_crewai_running", default=None
)
"""The tool whose ``run`` span is current (a nested ``run`` of it is the same call)."""


def audited_run(original: Callable[..., Any]) -> Callable[..., Any]:
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(self, "name", None)
        if not _state.enabled() or _running.get() == name:
            return original(self, *args, **kwargs)
        value: Any = args[0] if len(args) == 1 and not kwargs else {}
        started = _begin(self, value, {} if args else kwargs)
        if started is None:
            return original(self, *args, **kwargs)
        call, frame = started
        token = _running.set(name)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            call.error(exc)
            raise
        else:
            call.ok(result)
            return result
        finally:
            _running.reset(token)
            frame.__exit__(None, None, None)

    run.__wrapped__ = original  # type: ignore[attr-defined]
    return run


def audited_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    def invoke(self: Any, input: Any, config: Any = None, **kwargs: Any) -> Any:
        started = _begin(self, input, kwargs) if _state.enabled() else None
        if started is None:
            return original(self, input, config, **kwargs)
        call, frame = started
        try:
            result = original(self, input, config, **kwargs)
        except BaseException as exc:
            call.error(exc)
            raise
        else:
            call.ok(result)
            return result
        finally:
            frame.__exit__(None, None, None)

    invoke.__wrapped__ = original  # type: ignore[attr-defined]
    return invoke


def audited_ainvoke(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def ainvoke(self: Any, input: Any, config: Any = None, **kwargs: Any) -> Any:
        started = _begin(self, input, kwargs) if _state.enabled() else None
        if started is None:
            return await original(self, input, config, **kwargs)
        call, frame = started
        try:
            result = await original(self, input, config, **kwargs)
        except BaseException as exc:
            call.error(exc)
            raise
        else:
            call.ok(result)
            return result
        finally:
            frame.__exit__(None, None, None)

    ainvoke.__wrapped__ = original  # type: ignore[attr-defined]
    return ainvoke
