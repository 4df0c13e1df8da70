"""The callback handler that turns LangChain runs into contract spans.

Registered once per process through LangChain's configure hook (see ``_install``), it
is added to every callback manager, so every model and tool run reports to it:

* ``on_chat_model_start`` / ``on_llm_start``: the model input, in the canonical form of
  :mod:`._messages`, goes to ``record_prompt`` (a ``chat {model}`` span, the prompt hash
  and the sources found in it);
* ``on_llm_end``: each tool call of the response is linked to that prompt by its id, so
  the tool run, wherever LangGraph schedules it, carries the right prompt hash;
* ``on_tool_start`` / ``on_tool_end`` / ``on_tool_error``: one ``execute_tool`` span per
  tool run, through the shared runtime (which registers the result as a source);
* LangGraph: ``thread_id`` (from the run metadata) becomes ``gen_ai.conversation.id``; a
  graph run resumed with ``Command(resume=...)`` after an ``interrupt()`` marks the tool
  calls that run before the next model call as approved by a human (see
  :func:`approval_from_resume`).

Invariants: the handler runs inline (``run_inline``), so a tool span is started and ended
in the context the tool itself runs in; it never raises into the agent, except
:class:`ToolCallBlocked` from a ``before_tool_call`` hook (quarantine), which stops the
tool before it runs. Per-run bookkeeping is bounded.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from agentaudit.instrumentation import _state
from agentaudit.instrumentation._approvals import decision_attributes
from agentaudit.instrumentation.langchain._approval import approval_from_resume
from agentaudit.instrumentation.langchain._messages import canonical_messages, canonical_prompt
from agentaudit.instrumentation.langchain._runs import RunSpans
from agentaudit.instrumentation.runtime import (
    PromptRecord,
    ToolCall,
    ToolCallBlocked,
    record_prompt,
    tool_call,
)
from agentaudit.schema import attributes as A

__all__ = ["FRAMEWORK", "AuditCallbackHandler"]

FRAMEWORK = "langchain"
_MAX_ENTRIES = 10_000


class _Bounded(OrderedDict[Any, Any]):
    """An insertion-ordered dict that forgets its oldest entries beyond a bound."""

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > _MAX_ENTRIES:
            self.popitem(last=False)


class _Approval:
    """A human approval pending in a resumed graph run (until its next model call)."""

    __slots__ = ("approver", "decision")

    def __init__(self, decision: str, approver: str | None) -> None:
        self.decision = decision
        self.approver = approver


class _Running:
    """A started tool run: its span, the run-span token, and how it was matched."""

    __slots__ = ("call", "name", "prompt", "shape", "token")

    def __init__(
        self,
        call: ToolCall,
        token: object | None,
        name: str,
        shape: str,
        prompt: PromptRecord | None,
    ) -> None:
        self.call = call
        self.token = token
        self.name = name
        self.shape = shape
        self.prompt = prompt


_INTERRUPTS = frozenset({"GraphInterrupt", "NodeInterrupt"})


def _is_interrupt(error: BaseException) -> bool:
    """LangGraph pausing a run for a human (the tool runs again when resumed)."""
    return any(kind.__name__ in _INTERRUPTS for kind in type(error).__mro__)


def _resume_of(inputs: Any) -> tuple[bool, Any]:
    """(True, value) when ``inputs`` is a LangGraph ``Command`` carrying a resume value."""
    if type(inputs).__name__ != "Command":
        return False, None
    resume = getattr(inputs, "resume", None)
    return resume is not None, resume


def _model_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str | None:
    params = kwargs.get("invocation_params") or {}
    metadata = kwargs.get("metadata") or {}
    for value in (
        params.get("model"),
        params.get("model_name"),
        metadata.get("ls_model_name"),
        params.get("_type"),
        (serialized or {}).get("name"),
    ):
        if isinstance(value, str) and value:
            return value
    return None


def _arguments(input_str: str, inputs: Any) -> Mapping[str, Any]:
    if isinstance(inputs, Mapping):
        return inputs
    try:
        parsed = json.loads(input_str)
    except (TypeError, ValueError):
        return {"input": input_str}
    return parsed if isinstance(parsed, Mapping) else {"input": parsed}


def _arguments_key(arguments: Any) -> str:
    try:
        return json.dumps(arguments, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(arguments)


def _result_of(output: Any) -> Any:
    """What the model will see of a tool's output (a ToolMessage's content)."""
    if getattr(output, "type", None) == "tool" and hasattr(output, "content"):
        return output.content
    return output


class AuditCallbackHandler(BaseCallbackHandler):  # type: ignore[misc,unused-ignore]
    """Records LangChain/LangGraph model inputs and tool runs (see the module docstring)."""

    run_inline = True
    raise_error = True  # only ToolCallBlocked ever leaves a method; it must stop the tool

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._roots: _Bounded = _Bounded()
        self._calls: _Bounded = _Bounded()
        self._prompts_by_run: _Bounded = _Bounded()
        self._prompts_by_call: _Bounded = _Bounded()
        self._approvals: _Bounded = _Bounded()
        self._pending_by_shape: _Bounded = _Bounded()
        self._runs = RunSpans(FRAMEWORK)

    # --- run tree ------------------------------------------------------------------

    def _enter(self, run_id: UUID, parent_run_id: UUID | None) -> UUID:
        with self._lock:
            root = (
                run_id if parent_run_id is None else self._roots.get(parent_run_id, parent_run_id)
            )
            self._roots.put(run_id, root)
            return root

    def _leave(self, run_id: UUID) -> None:
        with self._lock:
            root = self._roots.pop(run_id, None)
            if root == run_id:
                self._approvals.pop(run_id, None)

    def _root(self, run_id: UUID) -> UUID:
        with self._lock:
            root: UUID = self._roots.get(run_id, run_id)
            return root

    # --- chains (graph runs) ---------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            root = self._enter(run_id, parent_run_id)
            if root == run_id:
                name = kwargs.get("name") or (serialized or {}).get("name") or "langchain run"
                self._runs.start(run_id, str(name), kwargs.get("metadata") or {})
            resumed, value = _resume_of(inputs)
            if resumed and root == run_id:
                decision, approver = approval_from_resume(value)
                with self._lock:
                    self._approvals.put(root, _Approval(decision, approver))
        except Exception:
            _state.report_error("langchain on_chain_start failed")

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._leave(run_id)
        self._end_run(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._leave(run_id)
        self._end_run(run_id, error)

    def _end_run(self, run_id: UUID, error: BaseException | None) -> None:
        try:
            self._runs.end(run_id, error)
        except Exception:
            _state.report_error("langchain: ending a run span failed")

    # --- models --------------------------------------------------------------------

    def _record(
        self, run_id: UUID, parent_run_id: UUID | None, inputs: Sequence[Any], model: str | None
    ) -> None:
        root = self._enter(run_id, parent_run_id)
        token = self._runs.enter(root)
        try:
            records = [record_prompt(item, model=model, framework=FRAMEWORK) for item in inputs]
        finally:
            self._runs.leave(token)
        with self._lock:
            self._prompts_by_run.put(run_id, records)
            self._approvals.pop(root, None)  # a new model turn: earlier approvals are spent

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            model = _model_name(serialized, kwargs)
            inputs = [canonical_messages(batch) for batch in messages]
            self._record(run_id, parent_run_id, inputs, model)
        except Exception:
            _state.report_error("langchain on_chat_model_start failed")

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            model = _model_name(serialized, kwargs)
            self._record(run_id, parent_run_id, [canonical_prompt(p) for p in prompts], model)
        except Exception:
            _state.report_error("langchain on_llm_start failed")

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            root = self._root(run_id)
            with self._lock:
                records = self._prompts_by_run.pop(run_id, None) or []
            for index, generations in enumerate(getattr(response, "generations", None) or []):
                record = records[index] if index < len(records) else None
                if record is None:
                    continue
                for generation in generations:
                    message = getattr(generation, "message", None)
                    for call in getattr(message, "tool_calls", None) or []:
                        if isinstance(call, Mapping):
                            self._expect(root, call, record)
        except Exception:
            _state.report_error("langchain on_llm_end failed")
        finally:
            self._leave(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._prompts_by_run.pop(run_id, None)
        self._leave(run_id)

    # --- tools ---------------------------------------------------------------------

    def _expect(self, root: UUID, call: Mapping[str, Any], record: PromptRecord) -> None:
        """Remember a tool call of a model response: by id, and by name + arguments."""
        call_id = call.get("id")
        call_id = call_id if isinstance(call_id, str) and call_id else None
        shape = (root, call.get("name"), _arguments_key(call.get("args")))
        with self._lock:
            if call_id:
                self._prompts_by_call.put((root, call_id), record)
                self._prompts_by_call.put((None, call_id), record)
            pending = self._pending_by_shape.get(shape) or []
            self._pending_by_shape.put(shape, [*pending, (call_id, record)])

    def _prompt_for(
        self, root: UUID, call_id: str | None, name: str, arguments: Mapping[str, Any]
    ) -> tuple[str | None, PromptRecord | None]:
        """(call id, prompt) of a starting tool run.

        By the run's tool-call id; langchain-core < 1 does not pass it to callbacks, so
        then by the pending call of the same graph run with the same name and arguments.
        """
        key = _arguments_key(arguments)
        shape: tuple[UUID | None, str, str] = (root, name, key)
        record: PromptRecord | None = None
        with self._lock:
            pending = list(self._pending_by_shape.pop(shape, None) or [])
            if not pending and call_id is None:
                shape = (None, name, key)  # a call paused by interrupt(), now resumed
                pending = list(self._pending_by_shape.pop(shape, None) or [])
            if call_id is None:
                if pending:
                    call_id, record = pending.pop(0)
            else:
                pending = [entry for entry in pending if entry[0] != call_id]
            if pending:
                self._pending_by_shape.put(shape, pending)
            if call_id is not None:
                by_id = self._prompts_by_call.pop((root, call_id), None)
                fallback = self._prompts_by_call.pop((None, call_id), None)
                found = by_id if by_id is not None else fallback
                if found is not None:
                    record = found
        return call_id, record

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            root = self._enter(run_id, parent_run_id)
            name = kwargs.get("name") or (serialized or {}).get("name") or "tool"
            given = kwargs.get("tool_call_id")
            arguments = _arguments(input_str, inputs)
            call_id, prompt = self._prompt_for(
                root, given if isinstance(given, str) and given else None, str(name), arguments
            )
            token = self._runs.enter(root)
            try:
                call = tool_call(
                    str(name),
                    framework=FRAMEWORK,
                    call_id=call_id,
                    arguments=arguments,
                    prompt=prompt,
                )
            except BaseException:
                self._runs.leave(token)
                raise
            if not isinstance(call, ToolCall):
                self._runs.leave(token)
                return
            self._annotate(call, root, metadata or {})
            running = _Running(call, token, str(name), _arguments_key(arguments), prompt)
            with self._lock:
                self._calls.put(run_id, running)
        except ToolCallBlocked:
            self._leave(run_id)
            raise
        except Exception:
            _state.report_error("langchain on_tool_start failed")

    def _annotate(self, call: ToolCall, root: UUID, metadata: Mapping[str, Any]) -> None:
        span = call.span
        present = getattr(span, "attributes", None) or {}
        thread = metadata.get("thread_id")
        if thread is not None and thread != "" and A.GEN_AI_CONVERSATION_ID not in present:
            span.set_attribute(A.GEN_AI_CONVERSATION_ID, str(thread))
        with self._lock:
            pending: _Approval | None = self._approvals.get(root)
        if pending is not None:
            span.set_attributes(decision_attributes(pending.decision, pending.approver))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            running: _Running | None = self._calls.pop(run_id, None)
        self._leave(run_id)
        if running is not None:
            try:
                running.call.ok(_result_of(output))
            finally:
                self._runs.leave(running.token)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            running: _Running | None = self._calls.pop(run_id, None)
        self._leave(run_id)
        if running is None:
            return
        try:
            running.call.error(error)
            if _is_interrupt(error):
                self._expect_resume(running)
        finally:
            self._runs.leave(running.token)

    def _expect_resume(self, running: _Running) -> None:
        """A paused call runs again on resume, in a new graph run: keep its id and prompt."""
        call_id = running.call.call_id
        with self._lock:
            if call_id and running.prompt is not None:
                self._prompts_by_call.put((None, call_id), running.prompt)
            shape = (None, running.name, running.shape)
            pending = self._pending_by_shape.get(shape) or []
            self._pending_by_shape.put(shape, [*pending, (call_id, running.prompt)])
