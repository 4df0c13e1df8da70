"""Installing the audit runner, and taking exactly it (and the tool wrappers) out again.

Everything used is importable from the SDK's public modules: ``agents.run``
(``get_default_agent_runner`` / ``set_default_agent_runner``), ``agents.lifecycle``
(``RunHooksBase``) and ``agents.tracing`` (``get_current_trace`` / ``get_current_span``).
If one is missing (a future SDK), one warning and the integration stays off, never half on.

One private name is observed, optionally: ``agents.tool.
maybe_invoke_function_tool_failure_error_function`` (see ``_tools``: the exception of a
tool whose failure the SDK turns into a message). Missing, it is skipped (debug log).
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.openai_agents import _run, _tools
from agentaudit.instrumentation.openai_agents._runner import AuditRunner
from agentaudit.instrumentation.openai_agents.package import _supported

__all__ = ["REQUIRED", "install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")

REQUIRED: tuple[tuple[str, str], ...] = (
    ("agents.run", "get_default_agent_runner"),
    ("agents.run", "set_default_agent_runner"),
    ("agents.lifecycle", "RunHooksBase"),
    ("agents.tracing", "get_current_trace"),
    ("agents.tracing", "get_current_span"),
)
"""(module, name) of every SDK name the integration uses."""


OBSERVED = ("agents.tool", "maybe_invoke_function_tool_failure_error_function")
"""(module, name) of the private function observed when present."""


class _Installed:
    lock = threading.Lock()
    runner: AuditRunner | None = None
    patches = Patches()


def installed() -> bool:
    return _Installed.runner is not None


def install(installed_version: str | None = None) -> bool:
    """Install the audit runner (idempotent). False when the SDK is unsupported."""
    with _Installed.lock:
        if _Installed.runner is not None:
            return True
        if not check_supported(_supported, installed_version):
            return False
        found: dict[str, Any] = {}
        for module_name, name in REQUIRED:
            try:
                value = getattr(importlib.import_module(module_name), name)
            except (ImportError, AttributeError):
                log.warning(
                    "agentaudit: %s.%s not found in this openai-agents; its integration stays off",
                    module_name,
                    name,
                )
                return False
            found[name] = value
        runner = AuditRunner(found["get_default_agent_runner"]())
        found["set_default_agent_runner"](runner)
        module = importlib.import_module(OBSERVED[0])
        if callable(getattr(module, OBSERVED[1], None)):
            _Installed.patches.wrap(module, OBSERVED[1], _tools.observe_failure)
        else:
            log.debug("agentaudit: %s.%s not found; tool exception classes not seen", *OBSERVED)
        _Installed.runner = runner
        return True


def uninstall() -> None:
    """Put the replaced runner back (if ours is still installed) and unwrap the tools."""
    with _Installed.lock:
        runner = _Installed.runner
        if runner is None:
            return
        _Installed.runner = None
        try:
            from agents.run import get_default_agent_runner, set_default_agent_runner

            if get_default_agent_runner() is runner:
                set_default_agent_runner(runner.inner)
        finally:
            _Installed.patches.restore()
            _tools.unwrap_all()
            _run.forget_prompts()
