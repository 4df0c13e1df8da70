"""Adding the handlers to LlamaIndex's root dispatcher and wrapping ``FunctionTool``'s
``call``/``acall``, and undoing exactly that."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from agentaudit.instrumentation._patches import Patches
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.llama_index.package import _supported

__all__ = ["GATED_TOOLS", "install", "installed", "uninstall"]

GATED_TOOLS = ("FunctionTool", "QueryEngineTool", "RetrieverTool")
"""LlamaIndex's tool classes whose calls are wrapped, so a refusal stops them."""


class _Installed:
    lock = threading.Lock()
    handlers: ClassVar[list[tuple[Any, str, Any]]] = []
    patches = Patches()


def installed() -> bool:
    return bool(_Installed.handlers)


def install(installed_version: str | None = None) -> bool:
    """Add the span and event handlers (idempotent). False when unsupported."""
    with _Installed.lock:
        if _Installed.handlers:
            return True
        if not check_supported(_supported, installed_version):
            return False
        from llama_index.core import tools
        from llama_index.core.instrumentation import get_dispatcher

        from agentaudit.instrumentation.llama_index._handlers import (
            AuditEventHandler,
            AuditSpanHandler,
            _Gated,
            audited_acall,
            audited_call,
        )

        gated = [getattr(tools, name, None) for name in GATED_TOOLS]
        for owner in gated:
            if owner is None:
                continue
            for method, factory in (("call", audited_call), ("acall", audited_acall)):
                if callable(owner.__dict__.get(method)):
                    _Installed.patches.wrap(owner, method, factory)
        _Gated.classes = tuple(owner for owner in gated if owner is not None)

        dispatcher = get_dispatcher()
        span_handler = AuditSpanHandler()
        event_handler = AuditEventHandler()
        dispatcher.add_span_handler(span_handler)
        dispatcher.add_event_handler(event_handler)
        _Installed.handlers = [
            (dispatcher, "span_handlers", span_handler),
            (dispatcher, "event_handlers", event_handler),
        ]
        return True


def uninstall() -> None:
    """Remove the handlers from the dispatcher and restore the tool classes."""
    with _Installed.lock:
        if not _Installed.handlers and not _Installed.patches:
            return
        from agentaudit.instrumentation.llama_index._handlers import _Gated

        _Gated.classes = ()
        _Installed.patches.restore()
        for dispatcher, attribute, handler in _Installed.handlers:
            handlers = getattr(dispatcher, attribute)
            if handler in handlers:
                handlers.remove(handler)
        _Installed.handlers = []
