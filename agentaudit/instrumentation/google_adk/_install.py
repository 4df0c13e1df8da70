"""Putting :class:`AuditPlugin` into every ADK runner, and taking it out again.

ADK has no process-wide plugin list: plugins belong to an ``App`` / ``Runner``, whose
constructor builds its ``PluginManager`` from them. So ``Runner.__init__`` is wrapped
(the one private seam; every runner class, ``InMemoryRunner`` included, goes through
it) to put the one shared :class:`AuditPlugin` first in the runner's public
``plugin_manager.plugins`` list. First, so it sees every tool call before another
plugin can answer it, and every tool error before another plugin can turn it into a
result. Runners built before ``instrument()`` are not audited (``import agentaudit.auto``
instruments ADK when it is imported, before any runner exists).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.google_adk.package import _supported

__all__ = ["install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")


class _Installed:
    lock = threading.Lock()
    plugin: Any = None
    patches = Patches()
    managers: ClassVar[weakref.WeakSet[Any]] = weakref.WeakSet()


def installed() -> bool:
    return _Installed.plugin is not None


def _add(manager: Any) -> None:
    plugin = _Installed.plugin
    plugins = getattr(manager, "plugins", None)
    if plugin is None or not isinstance(plugins, list) or plugin in plugins:
        return
    plugins.insert(0, plugin)
    _Installed.managers.add(manager)


def _audited_init(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            _add(getattr(self, "plugin_manager", None))
        except Exception:
            log.warning(
                "agentaudit: adding the audit plugin to an ADK runner failed", exc_info=True
            )

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    return __init__


def install(installed_version: str | None = None) -> bool:
    """Wrap ``Runner.__init__`` (idempotent). False when google-adk is unsupported."""
    with _Installed.lock:
        if _Installed.plugin is not None:
            return True
        if not check_supported(_supported, installed_version):
            return False
        from google.adk.runners import Runner

        from agentaudit.instrumentation.google_adk._plugin import AuditPlugin

        if not callable(Runner.__dict__.get("__init__")):
            log.warning(
                "agentaudit: google.adk Runner.__init__ not found; its integration stays off"
            )
            return False
        _Installed.plugin = AuditPlugin()
        _Installed.patches.wrap(Runner, "__init__", _audited_init)
        return True


def uninstall() -> None:
    """Restore ``Runner.__init__`` and remove the plugin from every runner it was added to."""
    with _Installed.lock:
        plugin = _Installed.plugin
        if plugin is None:
            return
        _Installed.patches.restore()
        for manager in list(_Installed.managers):
            plugins = getattr(manager, "plugins", None)
            if isinstance(plugins, list) and plugin in plugins:
                plugins.remove(plugin)
        _Installed.managers = weakref.WeakSet()
        _Installed.plugin = None
