"""The audit capability: Pydantic AI's own hooks around model requests and tool calls.

``wrap_model_request`` records each request's messages as the prompt (hash, matched
sources, a ``chat`` span lasting the request); ``wrap_tool_execute`` wraps each tool call
in the contract span, linked to the prompt of the model response that asked for it. The
run's ids fill what the app's ``agentaudit.context`` leaves unset: the agent's name, the
conversation id (else the run id) as ``gen_ai.conversation.id``. Human decisions on
deferred tool calls (``DeferredToolResults(approvals=...)``, or a capability's
``handle_deferred_tool_calls``) are read from what Pydantic AI does with them, so every
path that resolves an approval is covered: a call that runs with
``ctx.tool_call_approved`` is ``approved``, or ``edited`` when the arguments that run differ
from the ``ToolCallPart`` the model sent (``ToolApproved(override_args=...)``); a denied
call (``False`` / ``ToolDenied``) never runs and its ``ToolReturnPart(outcome='denied')``
reaches the next model request, where it is recorded with
:func:`~agentaudit.instrumentation._approvals.record_denied` (once per conversation and
call id). Results and exceptions pass through unchanged, with one exception: a call
refused because its access was revoked (:class:`AccessRevoked`: the agent is
quarantined, or its credential was revoked) reaches Pydantic AI as ``ToolFailed``, the
framework's terminal tool failure, which the model reads ("access revoked; do not
retry") as a ``ToolReturnPart(outcome='failed')`` and which, unlike ``ModelRetry``, asks
for no retry; the run goes on. Releases before 2.16 have no ``ToolFailed`` (no tool
failure the agent loop hands to the model): there the refusal is the call's result, and
the next model request (:meth:`AuditCapability.wrap_model_request`, whose request the
hook may change) marks that ``ToolReturnPart`` ``outcome='failed'``, so the model reads
the same part as on later releases.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from opentelemetry import trace
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import ModelMessagesTypeAdapter

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation._approvals import Denials, decision_attributes, record_denied
from agentaudit.instrumentation.runtime import (
    AccessRevoked,
    PromptRecord,
    ToolCall,
    model_call,
    tool_call,
)
from agentaudit.schema import attributes as A

__all__ = ["FRAMEWORK", "AuditCapability", "canonical_messages"]

FRAMEWORK = "pydantic_ai"


def _mark_duplicate(native: Any, call_id: Any, audited: Any) -> None:
    """Point Pydantic AI's own tool span of this call (the enclosing span) at ours with
    ``agentaudit.audited_by``, for the collector to skip: one row per call when Pydantic
    AI's own instrumentation is on too."""
    if not isinstance(audited, ToolCall) or not native.is_recording():
        return
    attributes = getattr(native, "attributes", None) or {}
    if (
        attributes.get(A.GEN_AI_OPERATION_NAME) == A.OPERATION_EXECUTE_TOOL
        and attributes.get(A.GEN_AI_TOOL_CALL_ID) == call_id
    ):
        native.set_attribute(A.AUDITED_BY, format(audited.span.get_span_context().span_id, "016x"))


def _for_the_model(refused: AccessRevoked) -> BaseException | None:
    """A revocation refusal as Pydantic AI's terminal tool failure (the model sees it), or
    None before 2.16, which has no ``ToolFailed``."""
    from pydantic_ai import exceptions

    tool_failed = getattr(exceptions, "ToolFailed", None)
    if tool_failed is None:
        return None
    failure: BaseException = tool_failed(str(refused))
    failure.__cause__ = refused
    return failure


class _Failed:
    """(conversation id, tool-call id) of the refusals returned as results (releases
    without ``ToolFailed``) whose ``ToolReturnPart`` the next model request marks
    ``failed``. Bounded (LRU)."""

    limit = 4096
    lock = threading.Lock()
    calls: ClassVar[OrderedDict[tuple[str, str], None]] = OrderedDict()

    @classmethod
    def add(cls, conversation: str, call_id: str) -> None:
        with cls.lock:
            cls.calls[(conversation, call_id)] = None
            cls.calls.move_to_end((conversation, call_id))
            while len(cls.calls) > cls.limit:
                cls.calls.popitem(last=False)

    @classmethod
    def take(cls, conversation: str, call_id: str) -> bool:
        """True (once) when this call's refusal was returned as its result."""
        with cls.lock:
            if (conversation, call_id) not in cls.calls:
                return False
            del cls.calls[(conversation, call_id)]
            return True


def _mark_failed(ctx: Any, messages: Any) -> None:
    """Mark the refusals answered in the newest request as failed tool results."""
    messages = list(messages or ())
    if not messages or getattr(messages[-1], "kind", "") != "request":
        return
    conversation = _conversation(ctx)
    for part in getattr(messages[-1], "parts", ()) or ():
        call_id = getattr(part, "tool_call_id", None)
        if getattr(part, "part_kind", "") != "tool-return" or not isinstance(call_id, str):
            continue
        if _Failed.take(conversation, call_id):
            part.outcome = "failed"


def canonical_messages(messages: Any) -> Any:
    """The model input as recorded: the messages in Pydantic AI's own JSON form."""
    return ModelMessagesTypeAdapter.dump_python(list(messages), mode="json")


class _Produced:
    """(conversation id, tool-call id) -> the prompt whose response asked for the call.

    A deferred call approved later runs in another agent run, before that run's first
    model request: this is how it still links to the input that produced it. Bounded (LRU).
    """

    limit = 4096
    lock = threading.Lock()
    prompts: ClassVar[OrderedDict[tuple[str, str], PromptRecord]] = OrderedDict()

    @classmethod
    def add(cls, conversation: str, call_ids: list[str], record: PromptRecord) -> None:
        with cls.lock:
            for call_id in call_ids:
                cls.prompts[(conversation, call_id)] = record
                cls.prompts.move_to_end((conversation, call_id))
            while len(cls.prompts) > cls.limit:
                cls.prompts.popitem(last=False)

    @classmethod
    def get(cls, conversation: str, call_id: str) -> PromptRecord | None:
        with cls.lock:
            return cls.prompts.get((conversation, call_id))


def _conversation(ctx: Any) -> str:
    found = getattr(ctx, "conversation_id", None) or getattr(ctx, "run_id", None)
    return found if isinstance(found, str) else ""


def _call_ids(response: Any) -> list[str]:
    ids: list[str] = []
    for part in getattr(response, "parts", ()) or ():
        call_id = getattr(part, "tool_call_id", None)
        if getattr(part, "part_kind", "") == "tool-call" and isinstance(call_id, str) and call_id:
            ids.append(call_id)
    return ids


def _model_name(model: Any) -> str | None:
    name = getattr(model, "model_name", None)
    return name if isinstance(name, str) and name else None


def _scope(ctx: Any, decision: str | None = None) -> dict[str, Any]:
    """The run's own ids (and a human ``decision``), for the keys the app's context leaves
    unset."""
    frame = _context.current_frame()
    present: Mapping[str, Any] = frame.attributes if frame is not None else {}
    baggage = _context.baggage_attributes()
    extra: dict[str, Any] = {}
    agent = getattr(getattr(ctx, "agent", None), "name", None)
    if isinstance(agent, str) and agent:
        if A.GEN_AI_AGENT_ID not in present and A.GEN_AI_AGENT_ID not in baggage:
            extra[A.GEN_AI_AGENT_ID] = agent
        if A.GEN_AI_AGENT_NAME not in present:
            extra[A.GEN_AI_AGENT_NAME] = agent
    if A.GEN_AI_CONVERSATION_ID not in present:
        conversation = _conversation(ctx)
        if conversation:
            extra[A.GEN_AI_CONVERSATION_ID] = conversation
    if decision is not None:
        for key, value in decision_attributes(decision).items():
            if key not in present:
                extra[key] = value
    return extra


def _model_call(messages: Any, call_id: str) -> Any:
    """The ``ToolCallPart`` the model sent with ``call_id`` (newest first), or None."""
    for message in reversed(list(messages or ())):
        if getattr(message, "kind", "") != "response":
            continue
        for part in getattr(message, "parts", ()) or ():
            if (
                getattr(part, "part_kind", "") == "tool-call"
                and getattr(part, "tool_call_id", None) == call_id
            ):
                return part
    return None


def _arguments(part: Any) -> dict[str, Any] | None:
    """A tool call part's arguments as a dict (None when unreadable)."""
    as_dict = getattr(part, "args_as_dict", None)
    if not callable(as_dict):
        return None
    found = as_dict()
    return found if isinstance(found, dict) else None


def _approval(ctx: Any, call: Any) -> str | None:
    """The human decision a call runs under: None (no approval step), ``approved``, or
    ``edited`` when the approver overrode the arguments the model sent."""
    if not getattr(ctx, "tool_call_approved", False):
        return None
    call_id = getattr(call, "tool_call_id", None)
    sent = _model_call(getattr(ctx, "messages", None), call_id) if call_id else None
    if sent is not None and sent is not call:
        asked, running = _arguments(sent), _arguments(call)
        if asked is not None and running is not None and asked != running:
            return A.DECISION_EDITED
    return A.DECISION_APPROVED


def _record_denials(ctx: Any, messages: Any) -> None:
    """Record the denied calls answered in the newest request (they never ran)."""
    messages = list(messages or ())
    if not messages or getattr(messages[-1], "kind", "") != "request":
        return
    conversation = _conversation(ctx)
    for part in getattr(messages[-1], "parts", ()) or ():
        if getattr(part, "part_kind", "") != "tool-return":
            continue
        call_id = getattr(part, "tool_call_id", None)
        if getattr(part, "outcome", None) != "denied" or not isinstance(call_id, str):
            continue
        if not call_id or not Denials.first(conversation, call_id):
            continue
        sent = _model_call(messages, call_id)
        with _context.context(**_scope(ctx)):
            record_denied(
                str(getattr(part, "tool_name", "") or "tool"),
                framework=FRAMEWORK,
                call_id=call_id,
                arguments=_arguments(sent) if sent is not None else None,
                prompt=_Produced.get(conversation, call_id),
            )


@dataclass
class AuditCapability(AbstractCapability[Any]):  # type: ignore[misc,unused-ignore]
    """Added to every agent run while the integration is instrumented."""

    id: str | None = "agentaudit"
    _prompt: PromptRecord | None = field(default=None, repr=False)
    """The input of this run's latest model request (per run: see :meth:`for_run`)."""

    async def for_run(self, ctx: Any) -> AuditCapability:
        return replace(self)

    async def wrap_model_request(self, ctx: Any, *, request_context: Any, handler: Any) -> Any:
        if not _state.enabled():
            return await handler(request_context)
        try:
            _record_denials(ctx, request_context.messages)
        except Exception:
            _state.report_error("recording denied Pydantic AI tool calls failed")
        if _Failed.calls:
            try:
                _mark_failed(ctx, request_context.messages)
            except Exception:
                _state.report_error("marking refused Pydantic AI tool calls failed")
        try:
            messages = canonical_messages(request_context.messages)
            model = _model_name(getattr(request_context, "model", None))
        except Exception:
            _state.report_error("reading a Pydantic AI model request failed")
            return await handler(request_context)
        with (
            _context.context(**_scope(ctx)),
            model_call(messages, model=model, framework=FRAMEWORK) as record,
        ):
            if record is not None:
                self._prompt = record
            response = await handler(request_context)
        if record is not None:
            try:
                _Produced.add(_conversation(ctx), _call_ids(response), record)
            except Exception:
                _state.report_error("linking Pydantic AI tool calls to their prompt failed")
        return response

    async def wrap_tool_execute(
        self, ctx: Any, *, call: Any, tool_def: Any, args: Any, handler: Any
    ) -> Any:
        if not _state.enabled():
            return await handler(args)
        try:
            name = str(getattr(call, "tool_name", "") or getattr(tool_def, "name", "tool"))
            call_id = getattr(call, "tool_call_id", None)
            arguments = args if isinstance(args, Mapping) else {"input": args}
            scope = _scope(ctx, _approval(ctx, call))
            prompt = None
            if isinstance(call_id, str) and call_id:
                prompt = _Produced.get(_conversation(ctx), call_id)
            prompt = prompt or self._prompt or _context.current_prompt()
            native = trace.get_current_span()
        except Exception:
            _state.report_error("preparing a Pydantic AI tool span failed")
            return await handler(args)
        with _context.context(**scope):
            try:
                audited = tool_call(
                    name,
                    framework=FRAMEWORK,
                    call_id=call_id if isinstance(call_id, str) and call_id else None,
                    arguments=arguments,
                    prompt=prompt,
                )
            except AccessRevoked as refused:
                failure = _for_the_model(refused)
                if failure is not None:
                    raise failure from refused
                if not isinstance(call_id, str) or not call_id:
                    raise
                _Failed.add(_conversation(ctx), call_id)
                return str(refused)
            try:
                _mark_duplicate(native, call_id, audited)
            except Exception:
                _state.report_error("marking Pydantic AI's own tool span failed")
            try:
                result = await handler(args)
            except BaseException as exc:
                audited.error(exc)
                raise
            audited.ok(result)
            return result
