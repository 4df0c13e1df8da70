"""Adding :class:`AuditHooks` to every Strands agent, and stopping it again.

Strands has no process-wide hook list: hooks belong to an ``Agent``, given to its
constructor or added with its public ``agent.hooks.add_hook``. So ``Agent.__init__`` is
wrapped (the one private seam) to add the shared :class:`AuditHooks` after the agent's
own hooks, so it sees a call another hook cancelled as cancelled. Strands offers no way to
remove a hook: ``uninstrument()`` restores ``Agent.__init__`` and makes the hooks of
existing agents inert. Agents built before ``instrument()`` are not audited (``import
agentaudit.auto`` instruments Strands when it is imported, before any agent exists).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.strands._hooks import AuditHooks
from agentaudit.instrumentation.strands.package import _supported

__all__ = ["install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")


class _Installed:
    lock = threading.Lock()
    hooks: AuditHooks | None = None
    patches = Patches()


def installed() -> bool:
    return _Installed.hooks is not None


def _audited_init(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        hooks = _Installed.hooks
        if hooks is None:
            return
        try:
            self.hooks.add_hook(hooks)
        except Exception:
            log.warning(
                "agentaudit: adding the audit hooks to a Strands agent failed", exc_info=True
            )

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    return __init__


def install(installed_version: str | None = None) -> bool:
    """Wrap ``Agent.__init__`` (idempotent). False when strands-agents is unsupported."""
    with _Installed.lock:
        if _Installed.hooks is not None:
            return True
        if not check_supported(_supported, installed_version):
            return False
        from strands.agent.agent import Agent

        if not callable(Agent.__dict__.get("__init__")):
            log.warning("agentaudit: strands Agent.__init__ not found; its integration stays off")
            return False
        _Installed.hooks = AuditHooks()
        _Installed.patches.wrap(Agent, "__init__", _audited_init)
        return True


def uninstall() -> None:
    """Restore ``Agent.__init__``; the hooks already added stop recording."""
    with _Installed.lock:
        if _Installed.hooks is None:
            return
        _Installed.patches.restore()
        _Installed.hooks.active = False
        _Installed.hooks = None
