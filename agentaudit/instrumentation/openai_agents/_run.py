"""Per-run state and the run hooks the integration adds to every run.

The SDK's public ``RunHooks`` see every model call (``on_llm_start``: the instructions and
the input items exactly as the ``Model`` receives them, after the run's
``call_model_input_filter``, whatever the ``Model`` class) and every tool about to run
(``on_tool_start``: the tool object itself). The SDK runs each hook in a task of its own,
so a hook cannot hand a context variable to the tool; the run's :class:`Run` (one per
``Runner`` call, current in the run's tasks through :func:`current_run`) carries the
latest model input to the tool wrapper instead.

:func:`audit_hooks` combines the application's own hooks (if any) with the audit's: every
``on_*`` coroutine of ``RunHooksBase`` (including ones a later SDK adds) first awaits the
application's hook, then records. Recording never raises.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from agentaudit.instrumentation import _state
from agentaudit.instrumentation._prompt import current_session
from agentaudit.instrumentation.runtime import PromptRecord, record_prompt

__all__ = [
    "FRAMEWORK",
    "Run",
    "audit_hooks",
    "current_run",
    "forget_prompts",
    "prompt_for_call",
    "prompt_of",
    "reset_current_run",
    "set_current_run",
]

FRAMEWORK = "openai_agents"


@dataclass
class Run:
    """What one run's hooks learned, for its tool calls."""

    prompt: PromptRecord | None = None
    agent: Any = None


_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "agentaudit_openai_agents_run", default=None
)


def current_run() -> Run | None:
    return _current.get()


def set_current_run(run: Run | None) -> contextvars.Token[Run | None]:
    return _current.set(run)


def reset_current_run(token: contextvars.Token[Run | None]) -> None:
    _current.reset(token)


class _Asked:
    """(session, call id) -> the prompt whose response asked for that call (bounded).

    A call approved in a later run (``RunState``) runs before that run's first model
    call: this is how it still carries the prompt that produced it."""

    lock = threading.Lock()
    prompts: ClassVar[OrderedDict[tuple[str, str], PromptRecord]] = OrderedDict()
    limit = 10_000


def _remember(call_id: str, prompt: PromptRecord) -> None:
    key = (current_session(), call_id)
    with _Asked.lock:
        _Asked.prompts[key] = prompt
        _Asked.prompts.move_to_end(key)
        while len(_Asked.prompts) > _Asked.limit:
            _Asked.prompts.popitem(last=False)


def prompt_for_call(call_id: str | None) -> PromptRecord | None:
    """The prompt whose model response asked for ``call_id`` in this session, if seen."""
    if not call_id:
        return None
    with _Asked.lock:
        return _Asked.prompts.get((current_session(), call_id))


def forget_prompts() -> None:
    with _Asked.lock:
        _Asked.prompts.clear()


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


def _on_llm_start(
    run: Run, context: Any, agent: Any, system_prompt: Any = None, input_items: Any = None
) -> None:
    run.agent = agent
    record = record_prompt(
        prompt_of(system_prompt, input_items), model=_model_name(agent), framework=FRAMEWORK
    )
    if record is not None:
        run.prompt = record


def _on_llm_end(run: Run, context: Any, agent: Any, response: Any = None, *args: Any) -> None:
    prompt = run.prompt
    if prompt is None:
        return
    for item in list(getattr(response, "output", None) or ()):
        call_id = item.get("call_id") if isinstance(item, dict) else getattr(item, "call_id", None)
        if isinstance(call_id, str) and call_id:
            _remember(call_id, prompt)


def _on_agent_start(run: Run, context: Any, agent: Any, *args: Any) -> None:
    from agentaudit.instrumentation.openai_agents._tools import wrap_agent_tools

    run.agent = agent
    wrap_agent_tools(agent)


def _on_tool_start(run: Run, context: Any, agent: Any, tool: Any, *args: Any) -> None:
    from agentaudit.instrumentation.openai_agents._tools import wrap_tool

    run.agent = agent
    wrap_tool(tool)  # MCP tools are new objects each turn: wrapped before they are invoked


_OWN: dict[str, Callable[..., None]] = {
    "on_llm_start": _on_llm_start,
    "on_llm_end": _on_llm_end,
    "on_agent_start": _on_agent_start,
    "on_tool_start": _on_tool_start,
}


def _delegate(name: str) -> Callable[..., Any]:
    own = _OWN.get(name)

    async def hook(self: Any, *args: Any, **kwargs: Any) -> None:
        inner = self._agentaudit_inner
        if inner is not None:
            await getattr(inner, name)(*args, **kwargs)
        if own is not None and _state.enabled():
            try:
                own(self._agentaudit_run, *args, **kwargs)
            except Exception:
                _state.report_error(f"recording the OpenAI Agents hook {name} failed")

    hook.__name__ = name
    return hook


class _HooksClass:
    cls: type | None = None


def _hooks_class() -> type:
    if _HooksClass.cls is None:
        from agents.lifecycle import RunHooksBase

        names = [
            name
            for name, value in vars(RunHooksBase).items()
            if name.startswith("on_") and inspect.iscoroutinefunction(value)
        ]
        namespace: dict[str, Any] = {name: _delegate(name) for name in names}
        namespace["__doc__"] = "The application's run hooks (if any), then the audit's."
        _HooksClass.cls = type("AuditRunHooks", (RunHooksBase,), namespace)
    return _HooksClass.cls


def audit_hooks(inner: Any, run: Run) -> Any:
    """Run hooks calling ``inner`` (the application's, or None) and then recording."""
    hooks = _hooks_class()()
    hooks._agentaudit_inner = inner
    hooks._agentaudit_run = run
    return hooks
