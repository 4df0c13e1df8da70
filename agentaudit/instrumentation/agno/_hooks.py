"""The Agno tool hook and model-call wrappers.

* ``audit_tool_hook`` - an Agno tool hook (``Agent(tool_hooks=[...])``, the public
  middleware around every tool call): the contract span around ``function_call``. The
  model's call id is the id of the matching tool call (same name and arguments, not yet
  taken) in the last assistant message of ``run_context.messages``. A refused call
  raises ``ToolCallBlocked`` here, before the tool runs; Agno hands its message to the
  model as the failed call's error, as for any tool exception. A tool's exception is
  recorded and passes through unchanged (Agno turns it into that error too). In an async
  run the hook's ``function_call`` returns a coroutine: the span ends when it completes.
* ``audit_tool_hook_async`` - the same hook as a coroutine function, for the async tools
  of async runs: Agno before 3.0.11 does not await what a sync hook returns there (the
  tool would never run), only an async hook. ``audited_arun_function_call`` (around
  ``Model.arun_function_call``, through which every tool call of an async run goes)
  gives such a tool's ``Function`` a hook list with this variant in place of
  ``audit_tool_hook``, on every release alike. Sync tools keep the sync hook (Agno runs
  them in a worker thread; a coroutine hook would move them onto the event loop).
* ``audited_invoke`` / ``audited_ainvoke`` / ``audited_invoke_stream`` /
  ``audited_ainvoke_stream`` - wrap ``Model._invoke_with_retry`` and its three siblings,
  through which every model call of every Agno model class (a custom one included)
  goes: their ``messages`` are recorded as the prompt (:func:`canonical_messages`).
  Before that, the run's rejected confirmations are recorded (:func:`_record_rejections`):
  a call the human rejected (``requirement.reject()``) runs no tool hook, so its
  ``blocked`` span, decision ``denied``, is written when the resumed run next asks the
  model, from the run's ``ToolExecution`` that Agno marked ``confirmed = False``. Agno
  rejects an unanswered confirmation the same way (it never runs), so that is recorded
  as denied too: the integration sees only what Agno did.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from inspect import isasyncgenfunction, isawaitable, iscoroutinefunction
from typing import Any

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation._approvals import Denials, record_denied
from agentaudit.instrumentation.runtime import record_prompt, tool_call
from agentaudit.schema import attributes as A

__all__ = [
    "FRAMEWORK",
    "Hook",
    "audit_tool_hook",
    "audit_tool_hook_async",
    "audited_ainvoke",
    "audited_ainvoke_stream",
    "audited_arun_function_call",
    "audited_invoke",
    "audited_invoke_stream",
    "canonical_messages",
]

FRAMEWORK = "agno"


class _Recent:
    """A bounded map (oldest first out) from a key to an object, held weakly where the
    object allows it; thread-safe."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._held: OrderedDict[Any, Any] = OrderedDict()
        self._limit = limit

    def get(self, key: Any) -> Any:
        with self._lock:
            held = self._held.get(key)
        return held() if isinstance(held, weakref.ref) else held

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            try:
                self._held[key] = weakref.ref(value)
            except TypeError:
                self._held[key] = value
            self._held.move_to_end(key)
            while len(self._held) > self._limit:
                self._held.popitem(last=False)


_MAX_TAKEN = 10_000

_taken = _Recent(_MAX_TAKEN)
"""The tool calls already given a span: (id of the assistant message, call id) -> that
message, so a reused ``id()`` is not taken for it."""

_runs = _Recent(_MAX_TAKEN)
"""Run id -> the run's output (``RunOutput``) as the last model call saw it. Agno's
``acontinue_run`` runs the confirmed calls with no messages on the run context: their
call ids are read from the run's ``ToolExecution`` list instead."""


def _take(message: Any, call_id: str) -> bool:
    """True the first time this call of this message is taken (and remember it)."""
    key = (id(message), call_id)
    if _taken.get(key) is message:
        return False
    _taken.put(key, message)
    return True


def _remember_run(run: Any) -> None:
    run_id = getattr(run, "run_id", None)
    if isinstance(run_id, str) and run_id:
        _runs.put(run_id, run)


def _message(message: Any) -> Any:
    role = getattr(message, "role", None)
    if role is None:
        return message
    found: dict[str, Any] = {"role": role, "content": getattr(message, "content", None)}
    for key in ("tool_calls", "tool_call_id", "name"):
        value = getattr(message, key, None)
        if value:
            found[key] = value
    return found


def canonical_messages(messages: Any) -> list[Any]:
    """The model input as recorded: each ``Message`` as ``{"role", "content"}`` plus
    ``tool_calls``, ``tool_call_id`` and ``name`` when set."""
    return [_message(m) for m in list(messages or [])]


def _record_rejections(run: Any) -> None:
    """The ``blocked`` spans (decision ``denied``) of the run's rejected confirmations,
    once per (session or run, call id): Agno keeps them in ``run.tools`` for the rest
    of the run. They run no ``before_tool_call`` hook: nothing is minted."""
    conversation = getattr(run, "session_id", None) or getattr(run, "run_id", None) or ""
    for execution in getattr(run, "tools", None) or ():
        call_id = getattr(execution, "tool_call_id", None)
        if getattr(execution, "confirmed", None) is not False or not isinstance(call_id, str):
            continue
        if not call_id or not Denials.first(str(conversation), call_id):
            continue
        with _context.context(**_scope_of(getattr(run, "agent_name", None), conversation)):
            record_denied(
                str(getattr(execution, "tool_name", "") or "tool"),
                framework=FRAMEWORK,
                call_id=call_id,
                arguments=getattr(execution, "tool_args", None),
            )


def _record(model: Any, kwargs: Mapping[str, Any]) -> None:
    if not _state.enabled():
        return
    try:
        _remember_run(kwargs.get("run_response"))
        _record_rejections(kwargs.get("run_response"))
    except Exception:
        _state.report_error("recording rejected Agno tool calls failed")
    try:
        model_id = getattr(model, "id", None)
        record_prompt(
            canonical_messages(kwargs.get("messages")),
            model=model_id if isinstance(model_id, str) else None,
            framework=FRAMEWORK,
        )
    except Exception:
        _state.report_error("recording an Agno model input failed")


def audited_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    def _invoke_with_retry(self: Any, **kwargs: Any) -> Any:
        _record(self, kwargs)
        return original(self, **kwargs)

    _invoke_with_retry.__wrapped__ = original  # type: ignore[attr-defined]
    return _invoke_with_retry


def audited_ainvoke(original: Callable[..., Any]) -> Callable[..., Any]:
    async def _ainvoke_with_retry(self: Any, **kwargs: Any) -> Any:
        _record(self, kwargs)
        return await original(self, **kwargs)

    _ainvoke_with_retry.__wrapped__ = original  # type: ignore[attr-defined]
    return _ainvoke_with_retry


def audited_invoke_stream(original: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    def _invoke_stream_with_retry(self: Any, **kwargs: Any) -> Iterator[Any]:
        _record(self, kwargs)
        yield from original(self, **kwargs)

    _invoke_stream_with_retry.__wrapped__ = original  # type: ignore[attr-defined]
    return _invoke_stream_with_retry


def audited_ainvoke_stream(
    original: Callable[..., AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    async def _ainvoke_stream_with_retry(self: Any, **kwargs: Any) -> AsyncIterator[Any]:
        _record(self, kwargs)
        async for item in original(self, **kwargs):
            yield item

    _ainvoke_stream_with_retry.__wrapped__ = original  # type: ignore[attr-defined]
    return _ainvoke_stream_with_retry


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _call_id(run_context: Any, name: str, arguments: Mapping[str, Any]) -> str | None:
    """The id of the model's pending tool call with this name and these arguments."""
    messages = getattr(run_context, "messages", None)
    if messages is None:  # acontinue_run: the run's ToolExecution list (see _runs)
        run = _runs.get(getattr(run_context, "run_id", None))
        for execution in getattr(run, "tools", None) or ():
            call_id = getattr(execution, "tool_call_id", None)
            if (
                isinstance(call_id, str)
                and getattr(execution, "tool_name", None) == name
                and _arguments(getattr(execution, "tool_args", None)) == dict(arguments)
                and _take(run, call_id)
            ):
                return call_id
        return None
    for message in reversed(list(messages)):
        if getattr(message, "role", None) != "assistant":
            continue
        for call in getattr(message, "tool_calls", None) or []:
            function = call.get("function") or {}
            call_id = call.get("id")
            if (
                isinstance(call_id, str)
                and function.get("name") == name
                and _arguments(function.get("arguments")) == dict(arguments)
                and _take(message, call_id)
            ):
                return call_id
        return None
    return None


def _scope(agent: Any, run_context: Any) -> dict[str, Any]:
    """The agent's name and Agno's session id, for the keys the app's context leaves unset."""
    return _scope_of(getattr(agent, "name", None), getattr(run_context, "session_id", None))


def _scope_of(name: Any, conversation: Any) -> dict[str, Any]:
    frame = _context.current_frame()
    present: Mapping[str, Any] = frame.attributes if frame is not None else {}
    extra: dict[str, Any] = {}
    if isinstance(conversation, str) and conversation and A.GEN_AI_CONVERSATION_ID not in present:
        extra[A.GEN_AI_CONVERSATION_ID] = conversation
    if not isinstance(name, str) or not name:
        return extra
    if A.GEN_AI_AGENT_ID not in present and A.GEN_AI_AGENT_ID not in (
        _context.baggage_attributes()
    ):
        extra[A.GEN_AI_AGENT_ID] = name
    if A.GEN_AI_AGENT_NAME not in present:
        extra[A.GEN_AI_AGENT_NAME] = name
    return extra


async def _finish(awaitable: Any, call: Any, frame: Any) -> Any:
    try:
        result = await awaitable
    except BaseException as exc:
        call.error(exc)
        raise
    else:
        call.ok(result)
        return result
    finally:
        frame.__exit__(None, None, None)


class Hook:
    active = False
    """True while installed: a hook left on an agent after ``uninstrument()`` is inert."""


def audit_tool_hook(
    function_name: str,
    function_call: Callable[..., Any],
    arguments: dict[str, Any],
    agent: Any = None,
    run_context: Any = None,
) -> Any:
    """Agno tool hook: the contract span around one tool call (see the module doc)."""
    if not _state.enabled() or not Hook.active:
        return function_call(**arguments)
    try:
        call_id = _call_id(run_context, function_name, arguments)
        prompt = _context.current_prompt()
        frame = _context.context(**_scope(agent, run_context))
    except Exception:
        _state.report_error("preparing an Agno tool span failed")
        return function_call(**arguments)
    frame.__enter__()  # left when the call ends (after an awaited result, in _finish)
    try:
        call = tool_call(
            function_name, framework=FRAMEWORK, call_id=call_id, arguments=arguments, prompt=prompt
        )
    except BaseException:
        frame.__exit__(None, None, None)
        raise
    try:
        result = function_call(**arguments)
    except BaseException as exc:
        call.error(exc)
        frame.__exit__(None, None, None)
        raise
    if isawaitable(result):
        return _finish(result, call, frame)
    try:
        call.ok(result)
    finally:
        frame.__exit__(None, None, None)
    return result


async def audit_tool_hook_async(
    function_name: str,
    function_call: Callable[..., Any],
    arguments: dict[str, Any],
    agent: Any = None,
    run_context: Any = None,
) -> Any:
    """The async variant of :func:`audit_tool_hook`, for async tools in async runs: Agno
    awaits an async hook on every release (before 3.0.11 it does not await a sync one)."""
    result = audit_tool_hook(function_name, function_call, arguments, agent, run_context)
    if isawaitable(result):
        return await result
    return result


def _use_async_hook(function_call: Any) -> None:
    """Give an async tool's ``Function`` the async hook in place of the sync one (a new
    list: the agent's own ``tool_hooks`` stay as they are)."""
    function: Any = getattr(function_call, "function", None)
    hooks = getattr(function, "tool_hooks", None)
    entrypoint = getattr(function, "entrypoint", None)
    if not hooks or audit_tool_hook not in hooks:
        return
    if not (iscoroutinefunction(entrypoint) or isasyncgenfunction(entrypoint)):
        return
    function.tool_hooks = [audit_tool_hook_async if h is audit_tool_hook else h for h in hooks]


def audited_arun_function_call(original: Callable[..., Any]) -> Callable[..., Any]:
    async def arun_function_call(self: Any, function_call: Any, *args: Any, **kwargs: Any) -> Any:
        if Hook.active:
            try:
                _use_async_hook(function_call)
            except Exception:
                _state.report_error("choosing the async Agno tool hook failed")
        return await original(self, function_call, *args, **kwargs)

    arun_function_call.__wrapped__ = original  # type: ignore[attr-defined]
    return arun_function_call
