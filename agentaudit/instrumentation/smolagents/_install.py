"""Putting the wrappers of ``_wrappers`` in place, and taking exactly them out again."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.smolagents import _wrappers
from agentaudit.instrumentation.smolagents.package import _supported

__all__ = ["FUNCTIONS", "SEAMS", "install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")

SEAMS: tuple[tuple[str, str, str, Callable[[Any], Any]], ...] = (
    ("smolagents.tools", "Tool", "__call__", _wrappers.audited_call),
    ("smolagents.agents", "MultiStepAgent", "write_memory_to_messages", _wrappers.audited_memory),
    ("smolagents.agents", "ToolCallingAgent", "process_tool_calls", _wrappers.audited_process),
)
"""(module, class, method, wrapper factory) of every replaced method."""

FUNCTIONS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("smolagents.local_python_executor", "timeout", _wrappers.context_carrying_timeout),
)
"""(module, function, wrapper factory) of every replaced module function."""


class _Installed:
    lock = threading.Lock()
    patches = Patches()


def installed() -> bool:
    return bool(_Installed.patches)


def install(installed_version: str | None = None) -> bool:
    """Wrap the methods (idempotent). False when smolagents is unsupported or moved them."""
    with _Installed.lock:
        if _Installed.patches:
            return True
        if not check_supported(_supported, installed_version):
            return False
        targets: list[tuple[Any, str, Callable[[Any], Any]]] = []
        for module_name, class_name, method, factory in SEAMS:
            owner = getattr(importlib.import_module(module_name), class_name, None)
            if owner is None or not callable(owner.__dict__.get(method)):
                log.warning(
                    "agentaudit: %s.%s.%s not found in this smolagents; its integration stays off",
                    module_name,
                    class_name,
                    method,
                )
                return False
            targets.append((owner, method, factory))
        for module_name, function, factory in FUNCTIONS:
            module = importlib.import_module(module_name)
            if not callable(module.__dict__.get(function)):
                log.warning(
                    "agentaudit: %s.%s not found in this smolagents; its integration stays off",
                    module_name,
                    function,
                )
                return False
            targets.append((module, function, factory))
        for owner, method, factory in targets:
            _Installed.patches.wrap(owner, method, factory)
        return True


def uninstall() -> None:
    """Put every original method back."""
    with _Installed.lock:
        _Installed.patches.restore()
