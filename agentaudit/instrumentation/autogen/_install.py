"""Putting the wrappers of ``_wrappers`` in place, and taking exactly them out again."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.autogen import _wrappers
from agentaudit.instrumentation.autogen.package import _supported

__all__ = ["SEAMS", "install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")

SEAMS: tuple[tuple[str, str, str, Callable[[Any], Any]], ...] = (
    ("autogen_core.tools", "BaseTool", "run_json", _wrappers.audited_run_json),
    (
        "autogen_agentchat.agents",
        "AssistantAgent",
        "_get_compatible_context",
        _wrappers.audited_context,
    ),
)
"""(module, class, method, wrapper factory) of every replaced method."""


class _Installed:
    lock = threading.Lock()
    patches = Patches()


def installed() -> bool:
    return bool(_Installed.patches)


def install(installed_version: str | None = None) -> bool:
    """Wrap the methods (idempotent). False when autogen-agentchat is unsupported or moved them."""
    with _Installed.lock:
        if _Installed.patches:
            return True
        if not check_supported(_supported, installed_version):
            return False
        targets: list[tuple[Any, str, Callable[[Any], Any]]] = []
        for module_name, class_name, method, factory in SEAMS:
            owner = getattr(importlib.import_module(module_name), class_name, None)
            if owner is None or method not in owner.__dict__:
                log.warning(
                    "agentaudit: %s.%s.%s not found in this AutoGen; its integration stays off",
                    module_name,
                    class_name,
                    method,
                )
                return False
            targets.append((owner, method, factory))
        for owner, method, factory in targets:
            _Installed.patches.wrap(owner, method, factory)
        return True


def uninstall() -> None:
    """Put every original method back."""
    with _Installed.lock:
        _Installed.patches.restore()
