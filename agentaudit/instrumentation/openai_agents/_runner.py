"""The default agent runner, wrapped: every ``Runner`` call gets the audit's run hooks.

``Runner.run`` / ``run_sync`` / ``run_streamed`` hand every run to the SDK's default
agent runner, which the SDK lets an application replace (``agents.run.
set_default_agent_runner``; exported, though the SDK marks it experimental). The
integration installs :class:`AuditRunner`, which delegates to the runner it replaced
after adding, per call: the audit's :func:`~._run.audit_hooks` around the application's
own ``hooks=``; the current :class:`~._run.Run`, which the run's tasks inherit; and the
wrapping of the starting agent's tools. A run resumed from a ``RunState`` whose pending
approvals a human rejected records each rejected call as denied (it never runs).

An application that installs its own default runner after ``instrument()`` replaces
this one (its runs are then not audited); ``uninstrument()`` puts back the runner it
replaced only if this one is still installed.
"""

from __future__ import annotations

from typing import Any

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation._approvals import record_denied
from agentaudit.instrumentation.openai_agents._run import (
    FRAMEWORK,
    Run,
    audit_hooks,
    prompt_for_call,
    reset_current_run,
    set_current_run,
)
from agentaudit.instrumentation.openai_agents._tools import arguments_of, scope, wrap_agent_tools

__all__ = ["AuditRunner"]

_Pending = tuple[str, str, Any, Any]
"""(tool name, call id, raw arguments, agent) of a call waiting for a human decision."""


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _pending(input: Any) -> list[_Pending]:
    """The approvals a resumed ``RunState`` was waiting for (public ``get_interruptions``)."""
    get = getattr(input, "get_interruptions", None)
    if not callable(get):
        return []
    found: list[_Pending] = []
    for item in list(get() or ()):
        raw = getattr(item, "raw_item", None)
        name = getattr(item, "tool_name", None) or _field(raw, "name")
        call_id = _field(raw, "call_id")
        if isinstance(name, str) and isinstance(call_id, str) and call_id:
            found.append((name, call_id, _field(raw, "arguments"), getattr(item, "agent", None)))
    return found


def _record_denials(pending: list[_Pending], result: Any) -> None:
    """Record the pending calls the human rejected (``is_tool_approved`` is False)."""
    context = getattr(result, "context_wrapper", None)
    check = getattr(context, "is_tool_approved", None)
    if not pending or not callable(check):
        return
    for name, call_id, arguments, agent in pending:
        try:
            if check(name, call_id) is not False:
                continue
            with _context.context(**scope(agent)):
                record_denied(
                    name,
                    framework=FRAMEWORK,
                    call_id=call_id,
                    arguments=arguments_of(arguments),
                    prompt=prompt_for_call(call_id),
                )
        except Exception:
            _state.report_error("recording a rejected OpenAI Agents tool call failed")


def _prepare(starting_agent: Any, input: Any, kwargs: dict[str, Any]) -> tuple[Run, list[_Pending]]:
    run = Run(agent=starting_agent)
    kwargs["hooks"] = audit_hooks(kwargs.get("hooks"), run)
    wrap_agent_tools(starting_agent)
    return run, _pending(input)


class AuditRunner:
    """Delegates to the runner it replaced, auditing each run (see the module doc)."""

    def __init__(self, inner: Any) -> None:
        self._agentaudit_inner = inner

    @property
    def inner(self) -> Any:
        return self._agentaudit_inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._agentaudit_inner, name)

    async def run(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        if not _state.enabled():
            return await self._agentaudit_inner.run(starting_agent, input, **kwargs)
        run, pending = _prepare(starting_agent, input, kwargs)
        token = set_current_run(run)
        try:
            result = await self._agentaudit_inner.run(starting_agent, input, **kwargs)
        finally:
            reset_current_run(token)
        _record_denials(pending, result)
        return result

    def run_sync(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        if not _state.enabled():
            return self._agentaudit_inner.run_sync(starting_agent, input, **kwargs)
        run, pending = _prepare(starting_agent, input, kwargs)
        token = set_current_run(run)
        try:
            result = self._agentaudit_inner.run_sync(starting_agent, input, **kwargs)
        finally:
            reset_current_run(token)
        _record_denials(pending, result)
        return result

    def run_streamed(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        if not _state.enabled():
            return self._agentaudit_inner.run_streamed(starting_agent, input, **kwargs)
        run, _ = _prepare(starting_agent, input, kwargs)
        token = set_current_run(run)  # the SDK's streaming task copies it at creation
        try:
            return self._agentaudit_inner.run_streamed(starting_agent, input, **kwargs)
        finally:
            reset_current_run(token)
