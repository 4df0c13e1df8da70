"""Adding the tool hook to every Agno agent and wrapping the model calls; undoing both.

Agno has no process-wide tool-hook list: ``tool_hooks`` belong to an ``Agent``. So
``Agent.__init__`` is wrapped to append :func:`audit_tool_hook` to the agent's public
``tool_hooks`` (last, so it sits innermost, right around the tool: an application's
hook that answers a call itself leaves no span). Agno has no model hook either: the
model input is read by wrapping ``Model._invoke_with_retry``,
``_ainvoke_with_retry``, ``_invoke_stream_with_retry`` and
``_ainvoke_stream_with_retry``, which every model call of every ``Model`` subclass goes
through (private seams; checked at install, the integration stays off when one moved).
``Model.arun_function_call`` (every tool call of an async run) is wrapped to give async
tools the async variant of the hook, which Agno before 3.0.11 needs (see ``_hooks``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.agno import _hooks
from agentaudit.instrumentation.agno.package import _supported

__all__ = ["MODEL_METHODS", "install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")

MODEL_METHODS: dict[str, Callable[[Any], Any]] = {
    "_invoke_with_retry": _hooks.audited_invoke,
    "_ainvoke_with_retry": _hooks.audited_ainvoke,
    "_invoke_stream_with_retry": _hooks.audited_invoke_stream,
    "_ainvoke_stream_with_retry": _hooks.audited_ainvoke_stream,
    "arun_function_call": _hooks.audited_arun_function_call,
}
"""``agno.models.base.Model`` method -> its wrapper factory (the model input; and the
async hook variant for async tools, ``_hooks.audit_tool_hook_async``)."""


class _Installed:
    lock = threading.Lock()
    done = False
    patches = Patches()
    agents: ClassVar[list[weakref.ref[Any]]] = []
    """The agents given the hook (Agno agents are unhashable: no WeakSet)."""


def installed() -> bool:
    return _Installed.done


def _audited_init(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not _Installed.done:
            return
        try:
            hooks = list(self.tool_hooks or [])
            if _hooks.audit_tool_hook not in hooks:
                self.tool_hooks = [*hooks, _hooks.audit_tool_hook]
                _Installed.agents.append(weakref.ref(self))
                _Installed.agents[:] = [r for r in _Installed.agents if r() is not None]
        except Exception:
            log.warning("agentaudit: adding the audit hook to an Agno agent failed", exc_info=True)

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    return __init__


def install(installed_version: str | None = None) -> bool:
    """Wrap ``Agent.__init__`` and the model methods (idempotent). False when unsupported."""
    with _Installed.lock:
        if _Installed.done:
            return True
        if not check_supported(_supported, installed_version):
            return False
        from agno.agent import Agent
        from agno.models.base import Model

        missing = [m for m in MODEL_METHODS if not callable(Model.__dict__.get(m))]
        if missing or not callable(Agent.__dict__.get("__init__")):
            log.warning(
                "agentaudit: agno Model.%s or Agent.__init__ not found; its integration stays off",
                ", ".join(missing) or "*",
            )
            return False
        for method, factory in MODEL_METHODS.items():
            _Installed.patches.wrap(Model, method, factory)
        _Installed.patches.wrap(Agent, "__init__", _audited_init)
        _hooks.Hook.active = True
        _Installed.done = True
        return True


def uninstall() -> None:
    """Restore the methods and remove the hook from every agent it was added to."""
    with _Installed.lock:
        if not _Installed.done:
            return
        _Installed.patches.restore()
        _hooks.Hook.active = False
        for ref in _Installed.agents:
            agent = ref()
            if agent is not None:
                hooks = [h for h in (agent.tool_hooks or []) if h is not _hooks.audit_tool_hook]
                agent.tool_hooks = hooks or None
        _Installed.agents.clear()
        _Installed.done = False
