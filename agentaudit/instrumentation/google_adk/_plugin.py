"""``AuditPlugin``: ADK's plugin callbacks turned into contract spans.

* ``before_model_callback``: the ``LlmRequest`` about to go to the model ->
  :func:`canonical_request` -> ``record_prompt`` (hash, matched sources, ``chat`` span),
  kept per invocation so the tool calls of that response link to it;
* ``before_tool_callback``: starts the tool span (the runtime's ``before_tool_call``
  hooks run here: quarantine, just-in-time credential). A refused call does not run:
  the callback answers it with ``{"error": "<type>: <message>"}``, ADK's own way for a
  callback to answer a call, so the model reads the refusal as the tool's response;
* ``after_tool_callback`` / ``on_tool_error_callback``: ends it with the tool's result
  or its exception (which then follows ADK's error handling unchanged).

The plugin returns None everywhere else: it never changes a request, a result or an
error. Every callback swallows its own failures (fail-open).
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from google.adk.plugins.base_plugin import BasePlugin

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation._approvals import decision_attributes, record_denied
from agentaudit.instrumentation._errors import ToolCallBlocked
from agentaudit.instrumentation._prompt import PromptRecord, _error_type
from agentaudit.instrumentation.runtime import record_prompt, tool_call
from agentaudit.schema import attributes as A

__all__ = ["FRAMEWORK", "PLUGIN_NAME", "AuditPlugin", "canonical_request"]

FRAMEWORK = "google_adk"
PLUGIN_NAME = "agentaudit"
_MAX_ENTRIES = 10_000


def _dump(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", exclude_none=True) if callable(dump) else value


def canonical_request(llm_request: Any) -> dict[str, Any]:
    """The model input as recorded: ``{"system_instruction": ..., "contents": [...]}``,
    each ``types.Content`` as ``model_dump(mode="json", exclude_none=True)``; the system
    instruction as given (a string, or a dumped ``Content``), absent when there is none."""
    canonical: dict[str, Any] = {}
    config = getattr(llm_request, "config", None)
    system = getattr(config, "system_instruction", None)
    if system is not None:
        canonical["system_instruction"] = (
            [_dump(item) for item in system] if isinstance(system, list) else _dump(system)
        )
    canonical["contents"] = [_dump(c) for c in list(getattr(llm_request, "contents", []) or [])]
    return canonical


def _scope(agent: str | None, conversation: str | None, approval: str | None) -> dict[str, Any]:
    """Context attributes from ADK's names, for the keys the app's context leaves unset."""
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
    if conversation and A.GEN_AI_CONVERSATION_ID not in present:
        extra[A.GEN_AI_CONVERSATION_ID] = conversation
    if approval is not None:
        for key, value in decision_attributes(approval).items():
            if key not in present or key == A.APPROVAL_DECISION:
                extra[key] = value
    return extra


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class AuditPlugin(BasePlugin):  # type: ignore[misc]
    """The audit plugin ADK runs around every model call and tool call of a runner."""

    def __init__(self) -> None:
        super().__init__(name=PLUGIN_NAME)
        self._prompts: OrderedDict[tuple[str, str], PromptRecord] = OrderedDict()
        """(invocation id, agent name) -> that agent's latest model request."""
        self._calls: OrderedDict[tuple[str, str], tuple[Any, Any]] = OrderedDict()
        """(invocation id, function call id) -> the started tool call and its frame."""

    async def before_model_callback(self, *, callback_context: Any, llm_request: Any) -> None:
        if not _state.enabled():
            return None
        try:
            model = getattr(llm_request, "model", None)
            agent = _text(getattr(callback_context, "agent_name", None))
            with _context.context(**_scope(agent, None, None)):
                record = record_prompt(
                    canonical_request(llm_request),
                    model=model if isinstance(model, str) else None,
                    framework=FRAMEWORK,
                )
            if record is not None:
                _context.set_current_prompt(record)
                key = (str(callback_context.invocation_id), agent or "")
                self._remember(self._prompts, key, record)
        except Exception:
            _state.report_error("recording a Google ADK model request failed")
        return None

    async def before_tool_callback(
        self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any
    ) -> dict[str, Any] | None:
        if not _state.enabled():
            return None
        try:
            name = str(getattr(tool, "name", "") or type(tool).__name__)
            call_id = _text(getattr(tool_context, "function_call_id", None))
            invocation = str(getattr(tool_context, "invocation_id", ""))
            agent = _text(getattr(tool_context, "agent_name", None))
            prompt = self._prompts.get((invocation, agent or "")) or _context.current_prompt()
            session = getattr(tool_context, "session", None)
            conversation = _text(getattr(session, "id", None))
            confirmation = getattr(tool_context, "tool_confirmation", None)
            decision = None
            if confirmation is not None:
                decision = (
                    A.DECISION_APPROVED
                    if getattr(confirmation, "confirmed", False)
                    else A.DECISION_DENIED
                )
            elif await _needs_confirmation(tool, tool_args, tool_context):
                return None  # ADK asks a human first: the call does not run now
            scope = _scope(agent, conversation, None if decision == A.DECISION_DENIED else decision)
        except Exception:
            _state.report_error("preparing a Google ADK tool span failed")
            return None
        frame = _context.context(**scope)
        frame.__enter__()  # left in after_tool_callback: the same task, after the span ends
        try:
            if decision == A.DECISION_DENIED:
                record_denied(
                    name, framework=FRAMEWORK, call_id=call_id, arguments=tool_args, prompt=prompt
                )
                frame.__exit__(None, None, None)
                return None  # ADK's gate answers a rejected call itself
            call = tool_call(
                name, framework=FRAMEWORK, call_id=call_id, arguments=tool_args, prompt=prompt
            )
        except ToolCallBlocked as blocked:
            frame.__exit__(None, None, None)
            return {"error": f"{_error_type(blocked)}: {blocked}"}
        except BaseException:
            frame.__exit__(None, None, None)
            raise
        self._remember(self._calls, (invocation, call_id or str(id(tool_context))), (call, frame))
        return None

    async def after_tool_callback(
        self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any, result: Any
    ) -> None:
        started = self._take(tool_context)
        if started is not None:
            call, frame = started
            try:
                call.ok(result)
            finally:
                frame.__exit__(None, None, None)

    async def on_tool_error_callback(
        self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any, error: BaseException
    ) -> None:
        started = self._take(tool_context)
        if started is not None:
            call, frame = started
            try:
                call.error(error)
            finally:
                frame.__exit__(None, None, None)

    def _take(self, tool_context: Any) -> tuple[Any, Any] | None:
        try:
            call_id = _text(getattr(tool_context, "function_call_id", None))
            key = (
                str(getattr(tool_context, "invocation_id", "")),
                call_id or str(id(tool_context)),
            )
            return self._calls.pop(key, None)
        except Exception:
            _state.report_error("finding a Google ADK tool span failed")
            return None

    @staticmethod
    def _remember(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > _MAX_ENTRIES:
            table.popitem(last=False)


async def _needs_confirmation(tool: Any, tool_args: dict[str, Any], tool_context: Any) -> bool:
    """True when ADK's confirmation gate will pause this call for a human (it asks the
    tool the same public question, ``BaseTool.check_require_confirmation``; on the
    releases without it, what the tool was built with: :func:`_required_without_check`)."""
    check = getattr(tool, "check_require_confirmation", None)
    try:
        if callable(check):
            return (await check(tool_args, tool_context)) is True
        return await _required_without_check(tool, tool_args, tool_context)
    except Exception:  # ADK's own gate will meet the same error; the call is audited
        _state.report_error("asking a Google ADK tool whether it needs confirmation failed")
        return False


async def _required_without_check(tool: Any, tool_args: dict[str, Any], tool_context: Any) -> bool:
    """ADK without ``check_require_confirmation`` (1.35-1.37, 2.0-2.4): the gate sits
    inside ``FunctionTool.run_async`` / ``McpTool.run_async``, which ask the
    ``require_confirmation`` the tool was built with (kept as ``_require_confirmation``,
    private): a bool, or a callable given the call's arguments (``McpTool``: those its
    signature names, and ``tool_context`` when it takes one; ``FunctionTool``: all the
    function's, which a well-formed callable accepts). Asked here before the call starts,
    so a call that will pause has no span and mints nothing, as on later releases."""
    required = getattr(tool, "_require_confirmation", None)
    if not callable(required):
        return bool(required)
    parameters = inspect.signature(required).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        kwargs = {**tool_args, "tool_context": tool_context}
    else:
        kwargs = {k: v for k, v in tool_args.items() if k in parameters}
        if "tool_context" in parameters:
            kwargs["tool_context"] = tool_context
    answer = required(**kwargs)
    if inspect.isawaitable(answer):
        answer = await answer
    return bool(answer)
