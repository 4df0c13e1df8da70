"""Adding the handlers to LlamaIndex's root dispatcher, and removing exactly them."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.llama_index.package import _supported

__all__ = ["install", "installed", "uninstall"]


class _Installed:
    lock = threading.Lock()
    handlers: ClassVar[list[tuple[Any, str, Any]]] = []


def installed() -> bool:
    return bool(_Installed.handlers)


def install(installed_version: str | None = None) -> bool:
    """Add the span and event handlers (idempotent). False when unsupported."""
    with _Installed.lock:
        if _Installed.handlers:
            return True
        if not check_supported(_supported, installed_version):
            return False
        from llama_index.core.instrumentation import get_dispatcher

        from agentaudit.instrumentation.llama_index._handlers import (
            AuditEventHandler,
            AuditSpanHandler,
        )

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
    """Remove the handlers from the dispatcher."""
    with _Installed.lock:
        for dispatcher, attribute, handler in _Installed.handlers:
            handlers = getattr(dispatcher, attribute)
            if handler in handlers:
                handlers.remove(handler)
        _Installed.handlers = []
