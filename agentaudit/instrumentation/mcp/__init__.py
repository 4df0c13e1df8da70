"""MCP integration (the ``mcp`` SDK 2.x), both sides, over any transport.

Client: an ``execute_tool`` span around ``ClientSession.call_tool`` that injects trace
context and the provenance context into the request ``_meta``. Server: a SERVER span per
``tools/call`` (server middleware) that records the caller's user / session / agent and
is parented to the client span. See docs/frameworks.md.
"""

from __future__ import annotations

from typing import Any

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.mcp._install import install, installed, middleware, uninstall
from agentaudit.instrumentation.mcp._meta import (
    META_AGENT,
    META_CONVERSATION,
    META_SESSION,
    META_TRACEPARENT,
    META_USER,
)
from agentaudit.instrumentation.mcp.package import _instruments

__all__ = [
    "META_AGENT",
    "META_CONVERSATION",
    "META_SESSION",
    "META_TRACEPARENT",
    "META_USER",
    "McpInstrumentor",
    "instrument",
    "instrumented",
    "middleware",
    "uninstrument",
]


class McpInstrumentor(AgentAuditInstrumentor):
    """Instruments the MCP SDK (client and server).

    Entry point ``agentaudit_mcp`` of ``opentelemetry-instrument``, which skips it unless
    the framework is installed in the range of ``_instruments``.
    """

    _integrations = ("mcp",)
    _instruments = _instruments


def instrument() -> None:
    """Patch the MCP SDK (idempotent; off for unsupported versions)."""
    install()


def uninstrument() -> None:
    """Undo :func:`instrument`."""
    uninstall()


def instrumented() -> bool:
    """True while the SDK is patched."""
    return installed()


def __getattr__(name: str) -> Any:
    # These import the MCP-free runtime only, but keep the package import minimal.
    if name == "AuditMiddleware":
        from agentaudit.instrumentation.mcp._server import AuditMiddleware

        return AuditMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
