"""Handlers on LlamaIndex's instrumentation dispatcher: tool calls and model inputs.

LlamaIndex opens a dispatcher span around every ``BaseTool`` call (``call``, ``acall``,
``__call__``: tools mix in ``DispatcherSpanMixin``) and every agent-workflow step, and
fires ``LLMChatStartEvent`` with the messages of each chat call. The integration adds:

* an event handler: ``LLMChatStartEvent`` -> ``record_prompt`` (hash, matched sources,
  ``chat`` span); the record is also kept as the session's latest prompt, since the
  workflow runs the model and the tools in different step tasks;
* a span handler: an agent workflow's ``call_tool`` step supplies the model's tool-call id
  and the agent's name to the tool call inside it; the span of a tool that is not a
  ``FunctionTool`` becomes its contract span (nested tool spans count once);
* ``call`` / ``acall`` of LlamaIndex's tool classes (``FunctionTool``, ``QueryEngineTool``,
  ``RetrieverTool``) are wrapped (:func:`audited_call`): the dispatcher swallows every
  exception of its handlers, so a handler cannot refuse a call; the wrapper runs the
  ``before_tool_call`` hooks where a refusal (quarantine) stops the tool. Other tool
  classes (an application's own ``BaseTool``) are recorded by the handler, but a refusal
  cannot stop them: it is logged as an error, while their span says ``blocked``.

A tool's exception is recorded with ``error.type`` and re-raised by LlamaIndex
unchanged; an agent workflow turns it into a ``ToolOutput`` with ``is_error`` for the
model, exactly as without the integration.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from llama_index.core.tools.types import BaseTool

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation._prompt import current_session
from agentaudit.instrumentation.runtime import (
    PromptRecord,
    ToolCallBlocked,
    record_prompt,
    tool_call,
)
from agentaudit.schema import attributes as A

__all__ = [
    "FRAMEWORK",
    "AuditEventHandler",
    "AuditSpanHandler",
    "audited_acall",
    "audited_call",
    "canonical_messages",
]

log = logging.getLogger("agentaudit.instrumentation")

FRAMEWORK = "llama_index"
_TOOL_METHODS = frozenset({"call", "acall", "__call__"})
_STEP_CALL_TOOL = "call_tool"
_AGENT_STEPS = frozenset({"run_agent_step", "parse_agent_output"})
"""Workflow steps whose event names the agent whose turn it is (``current_agent_name``)."""
_MAX_RUNS = 1024


def canonical_messages(messages: Any) -> list[Any]:
    """The model input as recorded: each ChatMessage in its JSON form."""
    return [
        m.model_dump(mode="json") if hasattr(m, "model_dump") else m for m in list(messages or [])
    ]


class _LatestPrompt:
    """session -> the latest model input recorded in it (bounded LRU)."""

    limit = 1024
    lock = threading.Lock()
    prompts: ClassVar[OrderedDict[str, PromptRecord]] = OrderedDict()

    @classmethod
    def set(cls, session: str, record: PromptRecord) -> None:
        with cls.lock:
            cls.prompts[session] = record
            cls.prompts.move_to_end(session)
            while len(cls.prompts) > cls.limit:
                cls.prompts.popitem(last=False)

    @classmethod
    def get(cls, session: str) -> PromptRecord | None:
        with cls.lock:
            return cls.prompts.get(session)


class AuditEventHandler(BaseEventHandler):  # type: ignore[misc,unused-ignore]
    """Records the messages of every chat call as the prompt."""

    @classmethod
    def class_name(cls) -> str:
        return "AgentAuditEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        if not isinstance(event, LLMChatStartEvent) or not _state.enabled():
            return
        try:
            model = (event.model_dict or {}).get("model") or (event.model_dict or {}).get(
                "class_name"
            )
            record = record_prompt(
                canonical_messages(event.messages),
                model=model if isinstance(model, str) else None,
                framework=FRAMEWORK,
            )
            if record is not None:
                _LatestPrompt.set(current_session(), record)
        except Exception:
            _state.report_error("recording a LlamaIndex model input failed")


class _Gated:
    """The tool classes whose ``call``/``acall`` are wrapped (set by ``_install``)."""

    classes: ClassVar[tuple[type, ...]] = ()


_step: contextvars.ContextVar[_Open | None] = contextvars.ContextVar(
    "agentaudit_llama_index_step", default=None
)
"""The workflow ``call_tool`` step running in this context (its tool id and agent)."""
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "agentaudit_llama_index_in_tool", default=False
)


@dataclass
class _Open:
    """What the span handler keeps for one open dispatcher span it cares about."""

    kind: str
    instance: Any = None
    call: Any = None
    frame: Any = None
    tool_id: str | None = None
    agent: str | None = None
    token: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _method(id_: str) -> str:
    """``FunctionTool.acall-<uuid>`` -> ``acall``."""
    return id_.split("-", 1)[0].rsplit(".", 1)[-1]


def _arguments(tool: Any, bound_args: inspect.BoundArguments) -> dict[str, Any]:
    """The call's arguments by name (``**kwargs`` flattened; ``*args`` under ``args``)."""
    found: dict[str, Any] = {}
    extra: tuple[Any, ...] = ()
    parameters = bound_args.signature.parameters
    for name, value in bound_args.arguments.items():
        kind = parameters[name].kind if name in parameters else None
        if kind is inspect.Parameter.VAR_KEYWORD:
            found.update(value or {})
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            extra = tuple(value or ())
        elif name != "self":
            found[name] = value
    ctx_param = getattr(tool, "ctx_param_name", None)
    if getattr(tool, "requires_context", False) and ctx_param:
        found.pop(ctx_param, None)  # the workflow Context object, not an argument
    return {"args": list(extra), **found} if extra else found


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


class AuditSpanHandler(BaseSpanHandler[_Open]):  # type: ignore[misc,unused-ignore]
    """Opens the contract span around each tool call the dispatcher reports."""

    @classmethod
    def class_name(cls) -> str:
        return "AgentAuditSpanHandler"

    @property
    def _agents(self) -> dict[str, str]:
        """Workflow run span id -> the name of the agent whose turn it is (bounded)."""
        found: dict[str, str] | None = self.__dict__.get("_agentaudit_agents")
        if found is None:
            found = {}
            object.__setattr__(self, "_agentaudit_agents", found)
        return found

    def _note_agent(self, bound_args: inspect.BoundArguments, run_span: str | None) -> None:
        event = bound_args.arguments.get("ev")
        agent = getattr(event, "current_agent_name", None)
        if isinstance(agent, str) and agent and run_span:
            agents = self._agents
            if len(agents) >= _MAX_RUNS:
                agents.clear()
            agents[run_span] = agent

    def new_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        parent_span_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> _Open | None:
        if not _state.enabled():
            return None
        try:
            method = _method(id_)
            if method in _AGENT_STEPS and not isinstance(instance, BaseTool):
                self._note_agent(bound_args, parent_span_id)
                return None
            if method == _STEP_CALL_TOOL and not isinstance(instance, BaseTool):
                event = bound_args.arguments.get("ev")
                tool_id = getattr(event, "tool_id", None)
                agent = self._agents.get(parent_span_id or "")
                opened = _Open(
                    "step",
                    tool_id=tool_id if isinstance(tool_id, str) else None,
                    agent=agent if isinstance(agent, str) else None,
                )
                opened.token = _step.set(opened)
                return opened
            if method not in _TOOL_METHODS or not isinstance(instance, BaseTool):
                return None
            if isinstance(instance, _Gated.classes) or _inside.get():
                return None  # audited by audited_call / audited_acall, which can refuse it
            parent = self.open_spans.get(parent_span_id) if parent_span_id else None
            if parent is not None and parent.kind == "tool" and parent.instance is instance:
                return None  # __call__ -> call of the same tool: one tool call
            step = parent if parent is not None and parent.kind == "step" else None
            return self._begin(instance, bound_args, step)
        except ToolCallBlocked:
            log.error(
                "agentaudit: a before_tool_call hook refused %s, but LlamaIndex runs tools of "
                "type %s regardless (only its own tool classes' calls can be refused)",
                id_,
                type(instance).__name__,
            )
            return None
        except Exception:
            _state.report_error("starting a LlamaIndex tool span failed")
            return None

    def _begin(self, tool: Any, bound_args: inspect.BoundArguments, step: _Open | None) -> _Open:
        name = str(tool.metadata.get_name())
        # the session's latest chat input first: the workflow ran it in another step task
        prompt = _LatestPrompt.get(current_session()) or _context.current_prompt()
        frame = _context.context(**_scope(step.agent if step is not None else None))
        frame.__enter__()
        try:
            call = tool_call(
                name,
                framework=FRAMEWORK,
                call_id=step.tool_id if step is not None else None,
                arguments=_arguments(tool, bound_args),
                prompt=prompt,
            )
        except BaseException:
            frame.__exit__(None, None, None)
            raise
        return _Open("tool", instance=tool, call=call, frame=frame)

    def prepare_to_exit_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        result: Any | None = None,
        **kwargs: Any,
    ) -> _Open | None:
        def end(call: Any) -> None:
            exception = getattr(result, "exception", None)
            if getattr(result, "is_error", False) and isinstance(exception, BaseException):
                call.error(exception)
            else:
                call.ok(getattr(result, "raw_output", result))

        return self._finish(id_, end)

    def prepare_to_drop_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> _Open | None:
        return self._finish(
            id_,
            lambda call: call.error(err if err is not None else RuntimeError("tool span dropped")),
        )

    def _finish(self, id_: str, end_tool_call: Callable[[Any], None]) -> _Open | None:
        """End span ``id_``: a step resets its context, a tool call is ended and closed."""
        opened: _Open | None = self.open_spans.get(id_)
        if opened is None:
            return None
        if opened.kind == "step":
            _reset(opened)
        elif opened.kind == "tool":
            end_tool_call(opened.call)
            self._close(opened)
        return opened

    @staticmethod
    def _close(opened: _Open) -> None:
        try:
            opened.frame.__exit__(None, None, None)
        except Exception:
            _state.report_error("leaving a LlamaIndex tool span's context failed")


def _reset(opened: _Open) -> None:
    if opened.token is not None:
        # left in another context: nothing of ours stays there
        with contextlib.suppress(ValueError):
            _step.reset(opened.token)


def _gate_begin(tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """Open the contract span of a FunctionTool call; raises ToolCallBlocked to refuse it."""
    step = _step.get()
    try:
        name = str(tool.metadata.get_name())
        arguments = dict(kwargs)
        ctx_param = getattr(tool, "ctx_param_name", None)
        if getattr(tool, "requires_context", False) and ctx_param:
            arguments.pop(ctx_param, None)
        if args:
            arguments = {"args": list(args), **arguments}
        prompt = _LatestPrompt.get(current_session()) or _context.current_prompt()
        frame = _context.context(**_scope(step.agent if step is not None else None))
    except Exception:
        _state.report_error("preparing a LlamaIndex tool span failed")
        return None, None
    frame.__enter__()
    try:
        call = tool_call(
            name,
            framework=FRAMEWORK,
            call_id=step.tool_id if step is not None else None,
            arguments=arguments,
            prompt=prompt,
        )
    except BaseException:
        frame.__exit__(None, None, None)
        raise
    return call, frame


def _gate_end(call: Any, frame: Any, result: Any, error: BaseException | None) -> None:
    try:
        if error is not None:
            call.error(error)
        else:
            exception = getattr(result, "exception", None)
            if getattr(result, "is_error", False) and isinstance(exception, BaseException):
                call.error(exception)
            else:
                call.ok(getattr(result, "raw_output", result))
    finally:
        frame.__exit__(None, None, None)


def audited_call(original: Any) -> Any:
    """Wrap ``FunctionTool.call``: the contract span, refusable by the hooks."""

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _state.enabled() or _inside.get():
            return original(self, *args, **kwargs)
        opened, frame = _gate_begin(self, args, kwargs)
        if opened is None:
            return original(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            _gate_end(opened, frame, None, exc)
            raise
        finally:
            _inside.reset(token)
        _gate_end(opened, frame, result, None)
        return result

    call.__wrapped__ = original  # type: ignore[attr-defined]
    return call


def audited_acall(original: Any) -> Any:
    """Wrap ``FunctionTool.acall``: the contract span, refusable by the hooks."""

    async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _state.enabled() or _inside.get():
            return await original(self, *args, **kwargs)
        opened, frame = _gate_begin(self, args, kwargs)
        if opened is None:
            return await original(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            _gate_end(opened, frame, None, exc)
            raise
        finally:
            _inside.reset(token)
        _gate_end(opened, frame, result, None)
        return result

    acall.__wrapped__ = original  # type: ignore[attr-defined]
    return acall
