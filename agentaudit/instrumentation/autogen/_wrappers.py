"""The AutoGen methods the integration wraps, and why these.

AgentChat has no tool or model hook (AutoGen core's intervention handlers see runtime
messages between agents, not the tool calls inside an ``AssistantAgent``), so two
methods are wrapped, each restored by ``uninstrument()``:

* ``autogen_core.tools.BaseTool.run_json(args, cancellation_token, call_id)``: every
  tool run of every workbench (``FunctionTool`` and other ``BaseTool`` subclasses) ->
  the contract span around it, with the model's call id; the result and exceptions pass
  through unchanged (``StaticWorkbench`` turns an exception into an error result for the
  model, as without the integration). A refusal (quarantine) raises before the tool runs
  and reaches the model the same way;
* ``AssistantAgent._get_compatible_context(model_client, messages)``: returns the exact
  message list the agent then passes to ``model_client.create`` / ``create_stream``
  (for the tool-calling turn and for reflection) -> recorded as the prompt.
"""

from __future__ import annotations

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
        try:
            result = await original(self, args, cancellation_token, call_id=call_id)
        except BaseException as exc:
            call.error(exc)
            raise
        call.ok(_as_model_text(self, result))
        return result

    run_json.__wrapped__ = original  # type: ignore[attr-defined]
    return run_json
