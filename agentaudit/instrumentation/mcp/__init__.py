"""MCP integration (the ``mcp`` SDK, 1.28 up to 2.x), both sides, over any transport.

Client: an ``execute_tool`` span around ``ClientSession.call_tool`` that injects trace
context and the provenance context into the request ``_meta`` and presents the call's
just-in-time credential on the Streamable HTTP transport (a server's refusal raises
:class:`ToolServerRefused`). Server: a SERVER span per ``tools/call`` (server middleware)
that records the caller's user / session / agent / tool-call id and is parented to the
client span (on mcp 1.x, which has no server middleware, around the registered
``tools/call`` handler: :mod:`._v1`). Both sides are kept and linked: the client's row
in ``agentaudit.tool_calls`` (one row per call), the server's record of it in
``agentaudit.tool_call_server_sides`` (:mod:`agentaudit.schema.calls`). See
docs/frameworks.md.
"""

from __future__ import annotations

from typing import Any

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.mcp._install import install, installed, middleware, uninstall
from agentaudit.instrumentation.mcp._meta import (
    META_AGENT,
    META_CONVERSATION,
    META_SESSION,
    META_TOOL_CALL_ID,
    META_TRACEPARENT,
    META_USER,
)
from agentaudit.instrumentation.mcp.package import _instruments

__all__ = [
    "META_AGENT",
    "META_CONVERSATION",
    "META_SESSION",
    "META_TOOL_CALL_ID",
    "META_TRACEPARENT",
    "META_USER",
    "McpInstrumentor",
    "ToolServerRefused",
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
    # These import the SDK (or the runtime): the package import stays minimal.
    if name == "AuditMiddleware":
        from agentaudit.instrumentation.mcp._server import AuditMiddleware

        return AuditMiddleware
    if name == "ToolServerRefused":
        from agentaudit.instrumentation.mcp._auth import ToolServerRefused

        return ToolServerRefused
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
