"""``AuditHooks``: Strands' hook events turned into contract spans.

* ``BeforeModelCallEvent``: the agent's system prompt and messages about to go to the
  model -> :func:`canonical_messages` -> ``record_prompt`` (hash, matched sources,
  ``chat`` span);
* ``BeforeToolCallEvent``: starts the tool span (the runtime's ``before_tool_call`` hooks
  run here: quarantine, just-in-time credential). A refused call does not run: the hook
  sets ``cancel_tool`` to ``"<type>: <message>"``, Strands' own way to cancel a call, so
  the model reads the refusal as the tool's error result. A call another hook already
  cancelled does not run and gets no span;
* ``AfterToolCallEvent``: ends it with the tool's result, or with its exception
  (``event.exception``; Strands turns it into an error result for the model, unchanged),
  or as ``blocked`` with ``error.type`` ``...ToolCancelled`` when a hook registered after
  this one cancelled the call (the tool did not run).
  A hook asking Strands to retry the tool (``event.retry``) gets one span per attempt.

The hooks change nothing else, and swallow their own failures (fail-open).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation._errors import ToolCallBlocked
from agentaudit.instrumentation._prompt import PromptRecord, _error_type
from agentaudit.instrumentation.runtime import record_prompt, tool_call
from agentaudit.schema import attributes as A

__all__ = ["FRAMEWORK", "AuditHooks", "ToolCancelled", "canonical_messages"]

FRAMEWORK = "strands"
_MAX_ENTRIES = 10_000


def canonical_messages(system_prompt: Any, messages: Any) -> list[Any]:
    """The model input as recorded: the system prompt as a system message (when there
    is one), then each message's ``role`` and ``content`` (what Strands sends a model)."""
    found: list[Any] = []
    if system_prompt:
        found.append({"role": "system", "content": system_prompt})
    for message in list(messages or []):
        if isinstance(message, Mapping):
            found.append({"role": message.get("role"), "content": message.get("content")})
        else:
            found.append(message)
    return found


class ToolCancelled(Exception):
    """Recorded (never raised) for a call a later hook cancelled after its span began."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _scope(agent: str | None) -> dict[str, Any]:
    """The agent's name, for the keys the app's context leaves unset."""
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


class AuditHooks:
    """A Strands ``HookProvider``; one instance serves every agent."""

    def __init__(self) -> None:
        self.active = True
        """False after ``uninstrument()``: Strands cannot remove a hook, so it goes inert."""
        self._prompts: OrderedDict[int, PromptRecord] = OrderedDict()
        """id(agent) -> the agent's latest model input."""
        self._calls: OrderedDict[tuple[int, str], tuple[Any, Any]] = OrderedDict()
        """(id(agent), toolUseId) -> the started tool call and its context frame."""

    def register_hooks(self, registry: Any, **kwargs: Any) -> None:
        from strands.hooks import AfterToolCallEvent, BeforeModelCallEvent, BeforeToolCallEvent

        registry.add_callback(BeforeModelCallEvent, self.before_model_call)
        registry.add_callback(BeforeToolCallEvent, self.before_tool_call)
        registry.add_callback(AfterToolCallEvent, self.after_tool_call)

    def _on(self) -> bool:
        return self.active and _state.enabled()

    def before_model_call(self, event: Any) -> None:
        if not self._on():
            return
        try:
            agent = event.agent
            model = getattr(getattr(agent, "model", None), "config", None)
            model_id = model.get("model_id") if isinstance(model, Mapping) else None
            with _context.context(**_scope(_text(getattr(agent, "name", None)))):
                record = record_prompt(
                    canonical_messages(getattr(agent, "system_prompt", None), agent.messages),
                    model=model_id if isinstance(model_id, str) else None,
                    framework=FRAMEWORK,
                )
            if record is not None:
                _context.set_current_prompt(record)
                self._remember(self._prompts, id(agent), record)
        except Exception:
            _state.report_error("recording a Strands model input failed")

    def before_tool_call(self, event: Any) -> None:
        if not self._on() or event.cancel_tool:
            return
        try:
            agent = event.agent
            tool_use = event.tool_use
            name = str(tool_use.get("name") or "tool")
            call_id = _text(tool_use.get("toolUseId"))
            prompt = self._prompts.get(id(agent)) or _context.current_prompt()
            frame = _context.context(**_scope(_text(getattr(agent, "name", None))))
        except Exception:
            _state.report_error("preparing a Strands tool span failed")
            return
        frame.__enter__()  # left in after_tool_call: the same task, after the span ends
        try:
            call = tool_call(
                name,
                framework=FRAMEWORK,
                call_id=call_id,
                arguments=tool_use.get("input"),
                prompt=prompt,
            )
        except ToolCallBlocked as blocked:
            frame.__exit__(None, None, None)
            event.cancel_tool = f"{_error_type(blocked)}: {blocked}"
            return
        except BaseException:
            frame.__exit__(None, None, None)
            raise
        self._remember(self._calls, (id(agent), call_id or ""), (call, frame))

    def after_tool_call(self, event: Any) -> None:
        try:
            key = (id(event.agent), _text(event.tool_use.get("toolUseId")) or "")
            started = self._calls.pop(key, None)
        except Exception:
            _state.report_error("finding a Strands tool span failed")
            return
        if started is None:
            return
        call, frame = started
        try:
            exception = getattr(event, "exception", None)
            cancelled = getattr(event, "cancel_message", None)
            span = getattr(call, "span", None)
            if cancelled:  # a hook after ours cancelled it: the tool did not run
                if span is not None:
                    span.set_attribute(A.DECISION, A.DECISION_BLOCKED)
                call.error(ToolCancelled(str(cancelled)))
            elif isinstance(exception, BaseException):
                call.error(exception)
            else:
                call.ok(event.result)
        finally:
            frame.__exit__(None, None, None)

    @staticmethod
    def _remember(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > _MAX_ENTRIES:
            table.popitem(last=False)
