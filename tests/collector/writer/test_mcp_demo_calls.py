"""The demo's calendar agent and its MCP server, exported separately: one row per call.

Real processes end to end: a collector (``tests.collector._collector_process``, chdb
store), the demo's LangGraph calendar agent in this process exporting over OTLP/HTTP as
``calendar-agent``, and the demo's MCP server subprocess (``agentaudit.demo.mcp_server``,
``import agentaudit.auto``) exporting on its own as ``agentaudit-demo-calendar-server``.
``tool_calls`` holds one row per call (the agent's), the server's linked record of each
is in ``tool_call_server_sides``; ``agentaudit.calls``, the dashboards and the detector's
follower count each call once, and the server's facts are kept.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph.prebuilt")
pytest.importorskip("mcp.server.mcpserver")

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentaudit import configure
from agentaudit.config import embedded_dsn
from agentaudit.dashboards import queries as q
from agentaudit.dashboards.filters import TimeRange
from agentaudit.demo import data
from agentaudit.detector.follower import Follower, StoreSource
from agentaudit.instrumentation import instrument, uninstrument
from agentaudit.store import Store
from tests.collector._fault_harness import AGENT_TOKEN, Proc, settings, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SERVER_SERVICE = "agentaudit-demo-calendar-server"
CALENDAR_TOOLS = "tool_name IN ('list_events', 'create_event')"


def _run_the_calendar_agent(endpoint: str) -> None:
    from agentaudit.demo._mcp_calendar import run_calendar_sessions

    provider = TracerProvider(resource=Resource.create({"service.name": "calendar-agent"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{endpoint}/v1/traces", headers={"authorization": f"Bearer {AGENT_TOKEN}"}
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrument(tracer_provider=provider, integrations=["mcp", "langchain"])
    configure(tools=data.TOOL_RESOURCES)
    try:
        asyncio.run(run_calendar_sessions())
    finally:
        uninstrument()
        provider.force_flush()
        provider.shutdown()
        configure(reset=True)


def _sides(collector: Proc) -> dict[str, int]:
    """Rows per table and side: ``tool_calls.<side>`` and ``tool_call_server_sides``."""
    found = collector.sql(
        "SELECT 'tool_calls.' || call_side, count() FROM agentaudit.tool_calls "  # noqa: S608
        f"WHERE {CALENDAR_TOOLS} GROUP BY call_side UNION ALL "
        "SELECT 'tool_call_server_sides', count() FROM agentaudit.tool_call_server_sides "
        f"WHERE {CALENDAR_TOOLS}"
    )
    return {str(side): int(n) for side, n in found if int(n)}


def test_each_mcp_call_of_the_demo_is_stored_once_as_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = settings(tmp_path)
    collector = Proc(flags)
    try:
        endpoint = f"http://127.0.0.1:{collector.ports['http']}"
        # What the demo passes on to its MCP server subprocess (OTEL_*, AGENTAUDIT_*).
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
        monkeypatch.setenv("AGENTAUDIT_TOKEN", AGENT_TOKEN)
        monkeypatch.setenv("AGENTAUDIT_QUARANTINE_CHECK", "0")
        _run_the_calendar_agent(endpoint)
        made = 2 * len(data.CALENDAR_SESSIONS)  # list_events and create_event per session
        stored = {"tool_calls.client": made, "tool_call_server_sides": made}
        wait_for(lambda: _sides(collector) == stored, timeout=60)
        # The done-when of issue #14: tool_calls counts the calls the agents made.
        assert collector.sql(
            f"SELECT count() FROM agentaudit.tool_calls WHERE {CALENDAR_TOOLS}"  # noqa: S608
        ) == [[made]]
        calls = collector.sql(
            "SELECT count() FROM agentaudit.calls WHERE " + CALENDAR_TOOLS  # noqa: S608
        )
        assert calls == [[made]]
        joined = collector.sql(
            "SELECT tool_call_id, framework, service_name, server_service, "  # noqa: S608
            f"server_resource_ids FROM agentaudit.calls WHERE {CALENDAR_TOOLS} "
            "ORDER BY tool_call_id"
        )
        expected: list[list[Any]] = []
        for user, _ in sorted(data.CALENDAR_SESSIONS):
            resource = [f"calendar:{user}/{data.DAY}"]
            for call_id in (f"call_create_{user}", f"call_list_{user}"):
                expected.append([call_id, "langchain", "calendar-agent", SERVER_SERVICE, resource])
        expected.sort()
        assert joined == expected
        servers = collector.sql(
            "SELECT tool_call_id, framework, service_name, resource_ids, conversation_id "
            "FROM agentaudit.tool_call_server_sides ORDER BY tool_call_id"
        )
        assert [row[:4] for row in servers] == [
            [call_id, "mcp", SERVER_SERVICE, resource] for call_id, _, _, _, resource in expected
        ]
    finally:
        collector.terminate()

    with Store.open(embedded_dsn(Path(flags["store"]))) as store:
        _, tools = q.overview_activity(store, TimeRange.parse("24h"))
        counted = dict(zip(tools["tool_name"], tools["calls"], strict=True))
        assert counted == {"list_events": 2, "create_event": 2}
        # Read after both sides are stored: the detector gets each call once.
        followed = [row for _, rows in Follower(StoreSource(store)).poll() for row in rows]
        assert sorted(row.tool_name for row in followed) == [
            "create_event", "create_event", "list_events", "list_events",
        ]  # fmt: skip
