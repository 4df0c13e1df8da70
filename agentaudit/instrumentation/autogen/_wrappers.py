"""The AutoGen methods the integration wraps, and why these.

AgentChat has no tool or model hook (AutoGen core's intervention handlers see runtime
messages between agents, not the tool calls inside an ``AssistantAgent``), so two
methods are wrapped, each restored by ``uninstrument()``:

* ``autogen_core.tools.BaseTool.run_json(args, cancellation_token, call_id)``: every
  tool run of every workbench (``FunctionTool`` and other ``BaseTool`` subclasses) ->
  the contract span around it, with the model's call id; the result and exceptions pass
  through unchanged (``StaticWorkbench`` turns an exception into an error result for the
  model, as without the integration). A refusal (quarantine) raises before the tool runs
  and reaches the model the same way. ``FunctionTool`` runs a sync function with
  ``loop.run_in_executor``, in a thread that does not get the caller's context, so for
  the duration of the call the tool's ``_func`` (private) is a partial that runs the
  function in a copy of the context the span and the per-call credential are current
  in (:func:`_in_context`): ``current_credential()`` works in a sync tool too;
* ``AssistantAgent._get_compatible_context(model_client, messages)``: returns the exact
  message list the agent then passes to ``model_client.create`` / ``create_stream``
  (for the tool-calling turn and for reflection) -> recorded as the prompt.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation.runtime import record_prompt, tool_call

__all__ = ["FRAMEWORK", "audited_context", "audited_run_json", "canonical_messages"]

FRAMEWORK = "autogen"


def canonical_messages(messages: Any) -> list[Any]:
    """The model input as recorded: each ``LLMMessage`` as ``model_dump(mode="json")``."""
    found: list[Any] = []
    for message in list(messages or []):
        dump = getattr(message, "model_dump", None)
        found.append(dump(mode="json") if callable(dump) else message)
    return found


def _model_name(model_client: Any) -> str | None:
    try:
        info = model_client.model_info
        family = info.get("family") if isinstance(info, Mapping) else None
    except Exception:
        family = None
    return family if isinstance(family, str) and family else None


def audited_context(original: Any) -> Any:
    """Wrap the staticmethod ``_get_compatible_context`` (the stored descriptor)."""
    function: Callable[..., Any] = getattr(original, "__func__", original)

    def _get_compatible_context(model_client: Any, messages: Any) -> Any:
        llm_messages = function(model_client=model_client, messages=messages)
        if _state.enabled():
            try:
                record_prompt(
                    canonical_messages(llm_messages),
                    model=_model_name(model_client),
                    framework=FRAMEWORK,
                )
            except Exception:
                _state.report_error("recording an AutoGen model input failed")
        return llm_messages

    _get_compatible_context.__wrapped__ = function  # type: ignore[attr-defined]
    return (
        staticmethod(_get_compatible_context)
        if isinstance(original, staticmethod)
        else (_get_compatible_context)
    )


def _as_model_text(tool: Any, result: Any) -> Any:
    """The result as the workbench hands it to the model (``return_value_as_string``)."""
    try:
        return tool.return_value_as_string(result)
    except Exception:
        return result


_OWN_FUNC = "_agentaudit_func"
"""Where a ``FunctionTool``'s own sync function is kept while calls bind theirs."""


def _in_context(tool: Any) -> Callable[[], None]:
    """For a ``FunctionTool`` with a sync function: make its ``_func`` run the function
    in a copy of the current context (taken now: the tool span is current). ``run``
    reads ``_func`` before its first await, so each call's executor job gets its own
    copy, concurrent calls of one tool included; the returned function puts the tool's
    own function back. Anything else: nothing changes."""
    func = getattr(tool, _OWN_FUNC, None) or getattr(tool, "_func", None)
    if func is None or not callable(func) or inspect.iscoroutinefunction(func):
        return _nothing
    try:
        setattr(tool, _OWN_FUNC, func)
        bound = functools.partial(contextvars.copy_context().run, func)
        tool._func = bound
    except Exception:
        _state.report_error("carrying the context into an AutoGen sync tool failed")
        return _nothing

    def restore() -> None:
        if getattr(tool, "_func", None) is bound:
            tool._func = func

    return restore


def _nothing() -> None:
    return None


def audited_run_json(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def run_json(
        self: Any, args: Mapping[str, Any], cancellation_token: Any, call_id: str | None = None
    ) -> Any:
        if not _state.enabled():
            return await original(self, args, cancellation_token, call_id=call_id)
        try:
            name = str(getattr(self, "name", "") or type(self).__name__)
            arguments = dict(args)
            prompt = _context.current_prompt()
        except Exception:
            _state.report_error("preparing an AutoGen tool span failed")
            return await original(self, args, cancellation_token, call_id=call_id)
        call = tool_call(
            name, framework=FRAMEWORK, call_id=call_id, arguments=arguments, prompt=prompt
        )
        restore = _in_context(self)
        try:
            result = await original(self, args, cancellation_token, call_id=call_id)
        except BaseException as exc:
            call.error(exc)
            raise
        finally:
            restore()
        call.ok(_as_model_text(self, result))
        return result

    run_json.__wrapped__ = original  # type: ignore[attr-defined]
    return run_json
