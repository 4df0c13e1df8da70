"""Registering the audit callback handler with LangChain, and taking it out again.

LangChain's configure hook (``langchain_core.tracers.context.register_configure_hook``)
adds the handler held by a ``ContextVar`` to every callback manager it configures. The
variable's *default* is the handler, so every thread and task sees it without any
``set()``; ``uninstrument`` removes the hook entry again, which is all it added.
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from typing import Any

from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.langchain.package import _supported

__all__ = ["handler", "install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")


class _Installed:
    lock = threading.Lock()
    var: ContextVar[Any] | None = None
    handler: Any = None


def installed() -> bool:
    return _Installed.var is not None


def handler() -> Any:
    """The registered :class:`AuditCallbackHandler`, or None when not instrumented."""
    return _Installed.handler


def install() -> bool:
    """Register the handler (idempotent). False when langchain-core is unsupported."""
    with _Installed.lock:
        if _Installed.var is not None:
            return True
        if not check_supported(_supported):
            return False
        from langchain_core.tracers.context import register_configure_hook

        from agentaudit.instrumentation.langchain._callbacks import AuditCallbackHandler

        audit = AuditCallbackHandler()
        var: ContextVar[Any] = ContextVar("agentaudit_langchain_handler", default=audit)
        register_configure_hook(var, True)
        _Installed.var = var
        _Installed.handler = audit
        return True


def uninstall() -> None:
    """Remove exactly the hook entry :func:`install` added."""
    with _Installed.lock:
        var = _Installed.var
        if var is None:
            return
        from langchain_core.tracers import context as tracer_context

        hooks: list[Any] = tracer_context._configure_hooks
        hooks[:] = [entry for entry in hooks if entry[0] is not var]
        _Installed.var = None
        _Installed.handler = None
