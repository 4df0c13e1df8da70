"""Putting the wrappers of ``_wrappers`` in place, and taking exactly them out again.

Each seam is replaced in the module whose global the SDK looks up at call time; the
original is kept and restored by :func:`uninstall`. A seam that a future SDK moved makes
the whole integration stay off with one warning (never half-instrumented).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.openai_agents import _wrappers
from agentaudit.instrumentation.openai_agents.package import _supported

__all__ = ["SEAMS", "install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")

SEAMS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("agents.run_internal.run_loop", "maybe_filter_model_input", _wrappers.audited_model_input),
    (
        "agents.run_internal.tool_execution",
        "_invoke_function_tool_with_metadata",
        _wrappers.audited_invoke,
    ),
    (
        "agents.run_internal.tool_execution",
        "maybe_invoke_function_tool_failure_error_function",
        _wrappers.audited_failure,
    ),
    ("agents.tool", "maybe_invoke_function_tool_failure_error_function", _wrappers.audited_failure),
)
"""(module, global name, wrapper factory) of every replaced function."""


class _Installed:
    lock = threading.Lock()
    patches = Patches()


def installed() -> bool:
    return bool(_Installed.patches)


def install(installed_version: str | None = None) -> bool:
    """Wrap the seams (idempotent). False when the SDK is unsupported or has moved them."""
    with _Installed.lock:
        if _Installed.patches:
            return True
        if not check_supported(_supported, installed_version):
            return False
        targets: list[tuple[Any, str, Callable[[Any], Any]]] = []
        for module_name, attribute, factory in SEAMS:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
            if module is None or not callable(getattr(module, attribute, None)):
                log.warning(
                    "agentaudit: %s.%s not found in this openai-agents; its integration stays off",
                    module_name,
                    attribute,
                )
                return False
            targets.append((module, attribute, factory))
        for module, attribute, factory in targets:
            _Installed.patches.wrap(module, attribute, factory)
        return True


def uninstall() -> None:
    """Put every original function back."""
    with _Installed.lock:
        _Installed.patches.restore()
