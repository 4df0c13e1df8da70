"""The MCP SDK's own OpenTelemetry ``tools/call`` SERVER spans land as rows.

The SDK takes its tracer from the global provider at import, so this test installs an SDK
provider globally (once per process) and records through a processor it switches off.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.frameworks.peers.conftest import Recorded

pytest.importorskip("mcp.server.mcpserver")

from mcp import Client
from mcp.server.mcpserver import MCPServer


class _Switch(SpanProcessor):
    """Exports finished spans while on."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter
        self.on = True

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.exporter.export([span])


@pytest.fixture
def global_recorded() -> Iterator[Recorded]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        pytest.skip("the global tracer provider is not an SDK provider")
    exporter = InMemorySpanExporter()
    switch = _Switch(exporter)
    provider.add_span_processor(switch)
    yield Recorded(exporter)
    switch.on = False


def test_mcp_sdk_tools_call_spans(global_recorded: Recorded) -> None:
    server = MCPServer("mail")

    @server.tool()
    def send_email(to: str, body: str) -> str:
        if to == "nobody":
            raise ValueError("no such recipient")
        return f"sent to {to}"

    async def main() -> tuple[bool, bool]:
        async with Client(server) as client:
            ok = await client.call_tool("send_email", {"to": "eve@evil.example", "body": "x"})
            failed = await client.call_tool("send_email", {"to": "nobody", "body": "x"})
            return bool(ok.is_error), bool(failed.is_error)

    assert anyio.run(main) == (False, True)
    rows = global_recorded.tool_rows()
    assert [(r["tool_name"], r["status"]) for r in rows] == [
        ("send_email", "ok"),
        ("send_email", "error"),
    ]
    assert rows[1]["error_type"] == "tool_error"
    assert {r["framework"] for r in rows} == {"mcp"}
    # the SDK's other requests (tools/list, discovery) are not tool calls
    assert all(r["tool_name"] == "send_email" for r in rows)
