"""Registering the hooks and wrapping the tool methods, and undoing exactly that."""

from __future__ import annotations

import logging
import threading

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.crewai import _hooks
from agentaudit.instrumentation.crewai.package import _supported

__all__ = ["install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")


class _Installed:
    lock = threading.Lock()
    done = False
    patches = Patches()


def installed() -> bool:
    return _Installed.done


def install(installed_version: str | None = None) -> bool:
    """Register the hooks and wrap the tool methods (idempotent). False when unsupported."""
    with _Installed.lock:
        if _Installed.done:
            return True
        if not check_supported(_supported, installed_version):
            return False
        from crewai.hooks.llm_hooks import register_before_llm_call_hook
        from crewai.hooks.tool_hooks import register_before_tool_call_hook
        from crewai.tools.base_tool import BaseTool, Tool
        from crewai.tools.structured_tool import CrewStructuredTool

        methods = {"invoke": _hooks.audited_invoke, "ainvoke": _hooks.audited_ainvoke}
        if not all(callable(CrewStructuredTool.__dict__.get(m)) for m in methods) or not all(
            callable(cls.__dict__.get("run")) for cls in (BaseTool, Tool)
        ):
            log.warning(
                "agentaudit: CrewStructuredTool.invoke/ainvoke or BaseTool.run not found in "
                "this crewai; its integration stays off"
            )
            return False
        for method, factory in methods.items():
            _Installed.patches.wrap(CrewStructuredTool, method, factory)
        for cls in (BaseTool, Tool):
            _Installed.patches.wrap(cls, "run", _hooks.audited_run)
        register_before_llm_call_hook(_hooks.before_llm_call)
        register_before_tool_call_hook(_hooks.before_tool_call)
        _Installed.done = True
        return True


def uninstall() -> None:
    """Unregister the hooks and put the tool methods back."""
    with _Installed.lock:
        if not _Installed.done:
            return
        from crewai.hooks.llm_hooks import unregister_before_llm_call_hook
        from crewai.hooks.tool_hooks import unregister_before_tool_call_hook

        unregister_before_llm_call_hook(_hooks.before_llm_call)
        unregister_before_tool_call_hook(_hooks.before_tool_call)
        _Installed.patches.restore()
        _Installed.done = False
