"""Every supported framework in one environment, as users install them (nox "together").

Each framework's agent, with a custom model class, reads the injected ticket and then
calls the refund tool (``_agents.py``); the MCP host makes its calls over a real MCP
server, both sides instrumented. The spans leave through the OTel SDK's OTLP exporter
to a real collector writing to a real embedded store (chdb), and everything is asserted
from the store: each refund row names the ticket as its untrusted source, and
``tool_calls`` has one row per tool call the agents made - counted from the scripted
models' plans, not from the instrumentation.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from agentaudit.schema import attributes as A
from tests.frameworks.ticket import REFUND
from tests.frameworks.together._agents import FRAMEWORKS, Outcome, session_of

pytestmark = pytest.mark.timeout(300)


def _rows(store: Any, session: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT tool_name, tool_call_id, span_id, framework, source_refs, source_trust, "
        "untrusted_source, user_id, agent_id FROM agentaudit.tool_calls "
        "WHERE session_id = {session:String} ORDER BY ts",
        {"session": session},
    ).as_dicts()


def _the(rows: list[dict[str, Any]], tool: str) -> dict[str, Any]:
    found = [row for row in rows if row["tool_name"] == tool]
    assert len(found) == 1, f"expected one {tool} row, got {found}"
    return found[0]


def test_every_framework_records_the_injected_ticket_as_the_refunds_untrusted_source(
    exporting: TracerProvider, collector: Any, store: Any
) -> None:
    outcomes: list[Outcome] = []
    for name, run in FRAMEWORKS.items():
        outcome = run()
        assert outcome.refunds == [REFUND], f"{name}: the refund tool did not run as planned"
        outcomes.append(outcome)
    assert exporting.force_flush(30_000)  # every span exported and acknowledged
    collector.stop()  # drains what it acknowledged into the store (the fixture's is a no-op)

    problems: list[str] = []
    for outcome in outcomes:
        rows = _rows(store, session_of(outcome.framework))
        try:
            ticket = _the(rows, "read_ticket")
            paid = _the(rows, "issue_refund")
        except AssertionError as exc:
            problems.append(f"{outcome.framework}: {exc}")
            continue
        # CrewAI gives its tools no call id: the ticket's ref then names its span.
        ticket_refs = {f"tool:read_ticket#{ticket['tool_call_id']}"}
        ticket_refs.add(f"tool:read_ticket#{ticket['span_id']}")
        sources = dict(zip(paid["source_refs"], paid["source_trust"], strict=True))
        named = [ref for ref in sources if ref in ticket_refs]
        if len(named) != 1 or sources[named[0]] != A.TRUST_UNTRUSTED:
            problems.append(f"{outcome.framework}: refund sources {sources}, ticket {ticket_refs}")
        elif paid["untrusted_source"] != 1:
            problems.append(f"{outcome.framework}: refund row not flagged untrusted_source")
        expected = (outcome.framework, "carol", f"support-{outcome.framework}")
        if (paid["framework"], paid["user_id"], paid["agent_id"]) != expected:
            problems.append(f"{outcome.framework}: refund row {paid}")
    assert problems == []
    _check_the_mcp_server_side(store)

    made = sum(outcome.planned_calls for outcome in outcomes)
    (count,) = store.query("SELECT count() FROM agentaudit.tool_calls").rows[0]
    by_framework = store.query(
        "SELECT framework, tool_name, count() FROM agentaudit.tool_calls "
        "GROUP BY framework, tool_name ORDER BY framework, tool_name"
    ).rows
    assert count == made, f"{count} rows for {made} tool calls: {by_framework}"


def _check_the_mcp_server_side(store: Any) -> None:
    """The MCP server recorded the refund too: its SERVER span is the child of the host's
    client span, with the same call id and the caller's user and session (from ``_meta``)."""
    client = _the(_rows(store, session_of("mcp")), "issue_refund")
    served = store.query(
        "SELECT ParentSpanId, SpanAttributes[{call_id:String}], SpanAttributes[{user:String}], "
        "SpanAttributes[{session:String}], SpanAttributes[{side:String}] "
        "FROM agentaudit.otel_traces WHERE SpanKind = 'Server' "
        "AND SpanAttributes[{tool:String}] = 'issue_refund' "
        "AND SpanAttributes[{framework:String}] = 'mcp'",
        {
            "call_id": A.GEN_AI_TOOL_CALL_ID,
            "user": A.ENDUSER_ID,
            "session": A.SESSION_ID,
            "side": A.CALL_SIDE,
            "tool": A.GEN_AI_TOOL_NAME,
            "framework": A.FRAMEWORK,
        },
    ).rows
    assert [tuple(row) for row in served] == [
        (client["span_id"], client["tool_call_id"], "carol", session_of("mcp"), "server")
    ]
