"""The demo's calendar tool server: a real MCP server over stdio, audited on its side.

``python -m agentaudit.demo.mcp_server`` (started by the calendar agent of the demo as
its MCP server subprocess). ``import agentaudit.auto`` comes first, so the server is
instrumented and exports its spans over OTLP like the agent (``OTEL_*`` from the
environment the client passes); every ``tools/call`` becomes a SERVER span parented to
the agent's tool span, with the agent's user, session and approval from the request
``_meta``. Spans are flushed before the process exits. Nothing but MCP is written to
stdout.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

__all__ = ["build", "main"]


def build() -> Any:
    """The calendar MCP server (``list_events``, ``create_event``)."""
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError:  # mcp 1.x (crewai and strands-agents pin it)
        from mcp.server.fastmcp import (  # type: ignore[attr-defined,no-redef,unused-ignore]
            FastMCP as MCPServer,
        )

    from agentaudit.demo import data

    server = MCPServer("demo-calendar")
    # The SDK's own OpenTelemetry middleware (mcp 2.x; on by default; dropping it is its
    # documented opt-out) would add a provenance-less tools/call span per call next to the
    # audited SERVER span. The audit marks it `agentaudit.audited_by`, which the collector
    # honours only when both arrive in one batch: the demo keeps one server row per call.
    chain = getattr(server, "middleware", None)
    if isinstance(chain, list):
        chain[:] = [entry for entry in chain if type(entry).__name__ != "OpenTelemetryMiddleware"]

    @server.tool()
    def list_events(owner: str, day: str) -> list[dict[str, str]]:
        """List the events of someone's calendar day."""
        return [dict(event, owner=owner) for event in data.EVENTS if event["day"] == day]

    @server.tool()
    def create_event(owner: str, title: str, day: str) -> dict[str, str]:
        """Create an event in someone's calendar."""
        return {"status": "created", "owner": owner, "title": title, "day": day}

    return server


def _flush() -> None:
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if callable(flush):
        flush(1_500)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> int:
    import agentaudit.auto  # noqa: F401 - before the server is built: it must be audited
    from agentaudit import configure
    from agentaudit.demo import data

    configure(tools=data.TOOL_RESOURCES)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        build().run("stdio")
    finally:
        _flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
