"""The smolagents methods the integration wraps, and why these.

smolagents has no tool or model hook (its step callbacks run after a step, when the tools
have already run), so three methods are wrapped, each restored by ``uninstrument()``:

* ``Tool.__call__``: every tool call of every agent (``ToolCallingAgent`` through
  ``execute_tool_call``, ``CodeAgent`` from generated code, direct calls) -> the contract
  span around it; the tool's result and exceptions pass through unchanged;
* ``MultiStepAgent.write_memory_to_messages``: builds the exact messages of each action
  step's model call -> recorded as the prompt (planning summaries are not);
* ``ToolCallingAgent.process_tool_calls``: the model's tool calls of a step, so each tool
  call gets the model's call id (matched by name and arguments) and the agent's name;
* ``local_python_executor.timeout``: ``CodeAgent`` runs generated code in a fresh worker
  thread without the caller's context; the wrapped decorator runs it in a copy of the
  context, so tool calls from code keep the user, session and prompt (and the OTel
  parent span). Nothing else about the execution changes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation.runtime import record_prompt, tool_call
from agentaudit.schema import attributes as A

__all__ = [
    "FRAMEWORK",
    "audited_call",
    "audited_memory",
    "audited_process",
    "canonical_messages",
    "context_carrying_timeout",
]

FRAMEWORK = "smolagents"


class _Step:
    """The tool calls a model response asked for, and the agent running them."""

    __slots__ = ("agent", "pending")

    def __init__(self, agent: str | None, pending: list[tuple[str, Any, str]]) -> None:
        self.agent = agent
        self.pending = pending

    def take(self, name: str, arguments: Any) -> str | None:
        for index, (pending_name, pending_args, call_id) in enumerate(self.pending):
            if pending_name == name and pending_args == arguments:
                del self.pending[index]
                return call_id
        return None


_step: contextvars.ContextVar[_Step | None] = contextvars.ContextVar(
    "agentaudit_smolagents_step", default=None
)
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "agentaudit_smolagents_in_tool", default=False
)


def canonical_messages(messages: Any) -> list[Any]:
    """The model input as recorded: each ChatMessage as its dict."""
    return [m.dict() if hasattr(m, "dict") else m for m in list(messages or [])]


def audited_memory(original: Callable[..., Any]) -> Callable[..., Any]:
    def write_memory_to_messages(self: Any, summary_mode: bool = False) -> Any:
        messages = original(self, summary_mode=summary_mode)
        if not summary_mode and _state.enabled():
            try:
                model = getattr(getattr(self, "model", None), "model_id", None)
                record_prompt(
                    canonical_messages(messages),
                    model=model if isinstance(model, str) else None,
                    framework=FRAMEWORK,
                )
            except Exception:
                _state.report_error("recording a smolagents model input failed")
        return messages

    write_memory_to_messages.__wrapped__ = original  # type: ignore[attr-defined]
    return write_memory_to_messages


def audited_process(original: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    def process_tool_calls(self: Any, chat_message: Any, memory_step: Any) -> Iterator[Any]:
        pending = [
            (call.function.name, call.function.arguments, call.id)
            for call in (getattr(chat_message, "tool_calls", None) or [])
        ]
        name = getattr(self, "name", None)
        token = _step.set(_Step(name if isinstance(name, str) else None, pending))
        try:
            yield from original(self, chat_message, memory_step)
        finally:
            # closed from another context: nothing of ours is left there
            with contextlib.suppress(ValueError):
                _step.reset(token)

    process_tool_calls.__wrapped__ = original  # type: ignore[attr-defined]
    return process_tool_calls


def _arguments(tool: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    if len(args) == 1 and not kwargs and isinstance(args[0], Mapping):
        return dict(args[0])
    if args:
        inputs = list(getattr(tool, "inputs", {}) or {})
        if len(inputs) >= len(args):
            return {**dict(zip(inputs, args, strict=False)), **kwargs}
        return {"args": list(args), **kwargs}
    return dict(kwargs)


def _scope(agent: str | None) -> dict[str, Any]:
    frame = _context.current_frame()
    present: Mapping[str, Any] = frame.attributes if frame is not None else {}
    extra: dict[str, Any] = {}
    if agent:
        if A.GEN_AI_AGENT_ID not in present and A.GEN_AI_AGENT_ID not in (
            _context.baggage_attributes()
        ):
            extra[A.GEN_AI_AGENT_ID] = agent
        if A.GEN_AI_AGENT_NAME not in present:
            extra[A.GEN_AI_AGENT_NAME] = agent
    return extra


def audited_call(original: Callable[..., Any]) -> Callable[..., Any]:
    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _state.enabled() or _inside.get():
            return original(self, *args, **kwargs)
        try:
            name = str(getattr(self, "name", "") or type(self).__name__)
            call_kwargs = {k: v for k, v in kwargs.items() if k != "sanitize_inputs_outputs"}
            arguments = _arguments(self, args, call_kwargs)
            step = _step.get()
            call_id = step.take(name, arguments) if step is not None else None
            scope = _scope(step.agent if step is not None else None)
            prompt = _context.current_prompt()
        except Exception:
            _state.report_error("preparing a smolagents tool span failed")
            return original(self, *args, **kwargs)
        with _context.context(**scope):
            call = tool_call(
                name, framework=FRAMEWORK, call_id=call_id, arguments=arguments, prompt=prompt
            )
            token = _inside.set(True)  # a tool calling tools inside is one audited call
            try:
                result = original(self, *args, **kwargs)
            except BaseException as exc:
                call.error(exc)
                raise
            finally:
                _inside.reset(token)
            call.ok(result)
            return result

    __call__.__wrapped__ = original  # type: ignore[attr-defined]
    return __call__


def context_carrying_timeout(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``timeout(seconds)``: the decorated function runs in the decorating context."""

    def timeout(timeout_seconds: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        decorate = original(timeout_seconds)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            context = contextvars.copy_context()  # evaluate_python_code decorates, then calls

            def in_context(*args: Any, **kwargs: Any) -> Any:
                return context.run(func, *args, **kwargs)

            return decorate(functools.wraps(func)(in_context))  # type: ignore[no-any-return]

        return decorator

    timeout.__wrapped__ = original  # type: ignore[attr-defined]
    return timeout
