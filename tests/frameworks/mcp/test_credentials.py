"""The per-call credential over MCP's Streamable HTTP transport, end to end.

A real ``Broker`` mints just-in-time credentials behind ``AdminDouble`` (the admin API's
``POST /v1/credentials``); a real MCP server, guarded by the broker's
``McpBearerMiddleware``, serves over a real socket (uvicorn on a free port); a real
``ClientSession`` (and a LangGraph agent whose tools call it) sends the calls.

One process plays both sides here, so the test's JIT hook skips the server's own span
of a call (whose parent is the remote client span): a real tool server does not mint
credentials for the calls it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from mcp.client.session import ClientSession
from opentelemetry import trace

import agentaudit
from agentaudit.broker import Broker, CredentialClient, McpBearerMiddleware, ToolPolicy
from agentaudit.instrumentation import configure
from agentaudit.instrumentation._jit import JitCredentials, JitTool
from agentaudit.instrumentation._runtime import PHASE_CREDENTIAL, add_before_tool_call
from agentaudit.instrumentation.mcp import ToolServerRefused
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.mcp._client import serving
from tests.frameworks.mcp._sdk import MCPError, MCPServer, http_streams, mcp_error
from tests.instrumentation.admin_double import AdminDouble

pytestmark = pytest.mark.timeout(120)

TOKEN = "agent-token"
DAY = "2026-11-29"
SCOPES = {"list_events": ["calendar.read"], "create_event": ["calendar.read", "calendar.write"]}
RESOURCES = {name: {"resource": "calendar:{owner}/{day}"} for name in SCOPES}


def _calendar_resource(arguments: Mapping[str, Any]) -> list[str]:
    return [f"calendar:{arguments.get('owner')}/{arguments.get('day')}"]


POLICIES = {
    "list_events": ToolPolicy(scopes=("calendar.read",), resources=_calendar_resource),
    "create_event": ToolPolicy(scopes=("calendar.write",), resources=_calendar_resource),
}


class Calendar:
    """The guarded server's tools, and what they were called with."""

    def __init__(self) -> None:
        self.created: list[dict[str, str]] = []
        self.server = MCPServer("calendar")

        @self.server.tool()
        def list_events(owner: str, day: str) -> list[dict[str, str]]:
            """List the events of someone's calendar day."""
            return [{"title": "Quarterly review", "owner": owner, "day": day}]

        @self.server.tool()
        def create_event(owner: str, title: str, day: str) -> str:
            """Create an event in someone's calendar."""
            self.created.append({"owner": owner, "title": title, "day": day})
            return f"created {title}"


@contextlib.contextmanager
def guarded_server(calendar: Calendar, broker: Broker) -> Iterator[str]:
    """The calendar over Streamable HTTP behind ``McpBearerMiddleware``; yields its URL."""
    app = McpBearerMiddleware(calendar.server.streamable_http_app(), broker, POLICIES)
    with serving(app) as url:
        yield url


class AgentSideJit(JitCredentials):
    """The agent's JIT hook; the server's span of a call (remote parent) gets none."""

    def __call__(self, info: Any) -> Mapping[str, Any] | None:
        if trace.get_current_span().get_span_context().is_remote:
            return None
        return super().__call__(info)


@pytest.fixture
def broker() -> Broker:
    return Broker(tool_scopes=SCOPES)


@pytest.fixture
def admin(broker: Broker) -> Iterator[AdminDouble]:
    with AdminDouble(token=TOKEN, broker=broker) as double:
        yield double


@contextlib.contextmanager
def jit(admin: AdminDouble, **tools: JitTool) -> Iterator[None]:
    hook = AgentSideJit(CredentialClient(admin.url, token=TOKEN, timeout=5), tools=tools)
    remove = add_before_tool_call(hook)
    try:
        yield
    finally:
        remove()


def _as_alice() -> agentaudit.context:
    return agentaudit.context(agent="calendar-assistant", user="alice", session="sess-a")


def _create(title: str = "Prep") -> dict[str, str]:
    return {"owner": "alice", "title": title, "day": DAY}


async def _session_calls(url: str, *calls: tuple[str, dict[str, str]]) -> list[Any]:
    """Each call's result, or the exception it raised."""
    outcomes: list[Any] = []
    async with (
        http_streams(url) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for name, arguments in calls:
            try:
                outcomes.append(await session.call_tool(name, arguments))
            except Exception as exc:
                outcomes.append(exc)
    return outcomes


def _client_span(spans: Spans, tool: str) -> dict[str, Any]:
    (span,) = [s for s in spans.tools(tool) if s.kind.name != "SERVER"]
    return dict(span.attributes or {})


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def test_the_call_presents_its_credential_and_a_missing_scope_gets_the_step_up_error(
    spans: Spans, admin: AdminDouble, broker: Broker
) -> None:
    configure(tools=RESOURCES)
    calendar = Calendar()
    read_only = JitTool(scopes=("calendar.read",))
    with (
        guarded_server(calendar, broker) as url,
        jit(admin, list_events=read_only, create_event=read_only),
        _as_alice(),
    ):
        listed, refused = asyncio.run(
            _session_calls(
                url, ("list_events", {"owner": "alice", "day": DAY}), ("create_event", _create())
            )
        )
    assert "Quarterly review" in _text(listed)  # the middleware verified the credential
    assert isinstance(refused, MCPError)  # hosts handling MCP errors keep working
    assert isinstance(refused, ToolServerRefused)
    assert refused.status == 403
    assert refused.challenge_error == "insufficient_scope"
    assert refused.scopes == ("calendar.write",)
    assert str(refused) == (
        "tool create_event was refused by its server: the credential lacks scope "
        "calendar.write (HTTP 403 insufficient_scope; step-up authorization needed)"
    )
    assert refused.data == {
        "status": 403,
        "error": "insufficient_scope",
        "scope": "calendar.write",
        "reason": "insufficient_scope",
    }
    assert calendar.created == []  # refused before the MCP server saw it
    assert [m["tool"] for m in admin.minted] == ["list_events", "create_event"]
    assert admin.minted[1]["resource"] == [f"calendar:alice/{DAY}"]

    created = _client_span(spans, "create_event")
    assert created[A.ERROR_TYPE] == "agentaudit.instrumentation.mcp.ToolServerRefused"
    assert created[A.CREDENTIAL_REFUSAL] == "insufficient_scope"
    assert created[A.CREDENTIAL_REQUIRED_SCOPES] == ("calendar.write",)
    assert created[A.CREDENTIAL_SCOPES] == ("calendar.read",)
    assert created[A.DECISION] == A.DECISION_ALLOWED  # refused by the server, not revoked
    assert created[A.CALL_SIDE] == A.CALL_SIDE_CLIENT
    assert [s.kind.name for s in spans.tools("create_event")] == ["INTERNAL"]
    listed_client = _client_span(spans, "list_events")
    (served,) = [s for s in spans.tools("list_events") if s.kind.name == "SERVER"]
    assert (served.attributes or {})[A.GEN_AI_TOOL_CALL_ID] == listed_client[A.GEN_AI_TOOL_CALL_ID]
    exported = json.dumps(
        [{k: str(v) for k, v in (s.attributes or {}).items()} for s in spans.all()]
    )
    assert "eyJ" not in exported  # no token (a JWT) on any span


def test_a_credential_with_the_scope_goes_through(
    spans: Spans, admin: AdminDouble, broker: Broker
) -> None:
    configure(tools=RESOURCES)
    calendar = Calendar()
    with (
        guarded_server(calendar, broker) as url,
        jit(admin, create_event=JitTool(scopes=("calendar.write",))),
        _as_alice(),
    ):
        (created,) = asyncio.run(_session_calls(url, ("create_event", _create())))
    assert _text(created) == "created Prep"
    assert calendar.created == [_create()]
    client = _client_span(spans, "create_event")
    assert client[A.CREDENTIAL_SCOPES] == ("calendar.write",)
    assert A.CREDENTIAL_REFUSAL not in client


def test_a_call_without_a_credential_is_refused_as_unauthorized(
    spans: Spans, admin: AdminDouble, broker: Broker
) -> None:
    calendar = Calendar()
    with guarded_server(calendar, broker) as url, _as_alice():  # no JIT for this tool
        (refused,) = asyncio.run(_session_calls(url, ("create_event", _create())))
    assert isinstance(refused, ToolServerRefused)
    assert refused.status == 401
    assert refused.challenge_error == "unauthorized"
    assert "a bearer credential is required" in str(refused)
    assert _client_span(spans, "create_event")[A.CREDENTIAL_REFUSAL] == "unauthorized"


def test_a_credential_revoked_mid_call_is_refused_and_a_retry_mints_nothing(
    spans: Spans, admin: AdminDouble, broker: Broker
) -> None:
    configure(tools=RESOURCES)
    calendar = Calendar()

    def revoke_it(info: Any) -> None:  # the detector revokes the credential just minted
        credential = info.attributes.get(A.CREDENTIAL_ID)
        if credential:
            broker.revoke(str(credential), reason="exfiltration")

    remove = add_before_tool_call(revoke_it, phase=PHASE_CREDENTIAL + 1)
    try:
        with (
            guarded_server(calendar, broker) as url,
            jit(admin, create_event=JitTool(scopes=("calendar.write",))),
            _as_alice(),
        ):
            first, retry = asyncio.run(
                _session_calls(url, ("create_event", _create()), ("create_event", _create()))
            )
    finally:
        remove()
    assert isinstance(first, ToolServerRefused)
    assert first.status == 401
    assert first.reason == "revoked"
    assert str(first).startswith("access revoked; do not retry: tool create_event was refused")
    assert isinstance(first.__cause__, agentaudit.CredentialRevoked)
    assert isinstance(retry, agentaudit.CredentialRevoked)  # refused locally
    assert len(admin.minted) == 1  # the retry asked for no fresh credential
    assert calendar.created == []
    blocked = [dict(s.attributes or {}) for s in spans.tools("create_event")]
    assert [b[A.DECISION] for b in blocked] == [A.DECISION_BLOCKED, A.DECISION_BLOCKED]
    assert blocked[0][A.CREDENTIAL_REFUSAL] == "invalid_token"


def test_a_langgraph_agent_reads_the_step_up_error_as_the_tools_error(
    spans: Spans, provider: Any, admin: AdminDouble, broker: Broker
) -> None:
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.tools import StructuredTool
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    from agentaudit.demo._model import ScriptedChatModel, tool_call

    agentaudit.instrument(tracer_provider=provider, integrations=["mcp", "langchain"])
    configure(tools=RESOURCES)
    calendar = Calendar()
    model = ScriptedChatModel(
        replies=[
            tool_call("create_event", _create(), "call_create_1"),
            AIMessage("I could not add the event: the calendar needs more access."),
        ]
    )

    async def run(url: str) -> list[Any]:
        async with (
            http_streams(url) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()

            async def create_event(owner: str, title: str, day: str) -> str:
                """Create an event in someone's calendar."""
                arguments = {"owner": owner, "title": title, "day": day}
                return _text(await session.call_tool("create_event", arguments))

            async def agent(state: MessagesState) -> dict[str, Any]:
                return {"messages": [await model.ainvoke(state["messages"])]}

            graph = StateGraph(MessagesState)
            graph.add_node("agent", agent)
            tool = StructuredTool.from_function(coroutine=create_event)
            graph.add_node("tools", ToolNode([tool], handle_tool_errors=True))
            graph.add_edge(START, "agent")
            graph.add_conditional_edges("agent", tools_condition)
            graph.add_edge("tools", "agent")
            compiled: Any = graph.compile()
            state = await compiled.ainvoke({"messages": [("user", "Add a prep slot tomorrow.")]})
            return list(state["messages"])

    with (
        guarded_server(calendar, broker) as url,
        jit(admin, create_event=JitTool(scopes=("calendar.read",))),
        _as_alice(),
    ):
        messages = asyncio.run(run(url))
    (error,) = [m for m in messages if isinstance(m, ToolMessage)]
    assert error.status == "error"
    assert "lacks scope calendar.write" in str(error.content)
    assert "step-up authorization needed" in str(error.content)
    (span,) = spans.tools("create_event")  # the LangChain span; no second MCP client span
    attributes = dict(span.attributes or {})
    assert attributes[A.FRAMEWORK] == "langchain"
    assert attributes[A.CALL_SIDE] == A.CALL_SIDE_CLIENT
    assert attributes[A.GEN_AI_TOOL_CALL_ID] == "call_create_1"
    assert attributes[A.ERROR_TYPE] == "agentaudit.instrumentation.mcp.ToolServerRefused"
    assert attributes[A.CREDENTIAL_REQUIRED_SCOPES] == ("calendar.write",)


@pytest.mark.parametrize(
    ("status", "header", "error", "message"),
    [
        (
            401,
            'Bearer realm="agentaudit", error="invalid_token", '
            'error_description="credential expired", reason="expired"',
            "invalid_token",
            "tool t was refused by its server: invalid_token (HTTP 401, expired): "
            "credential expired",
        ),
        (403, "", "forbidden", "tool t was refused by its server (HTTP 403)"),
        (
            403,
            'Bearer error="insufficient_scope"',
            "insufficient_scope",
            "tool t was refused by its server: the credential lacks a scope the call needs "
            "(HTTP 403 insufficient_scope; step-up authorization needed)",
        ),
    ],
)
def test_what_a_refusal_says(status: int, header: str, error: str, message: str) -> None:
    from agentaudit.instrumentation.mcp import _auth

    with _auth.presenting("key", "t", None) as call:
        assert call is not None
        call.challenge = _auth.Challenge(status, header)
        refused = _auth.refusal(call, "t", mcp_error(-32603, "Server returned an error response"))
    assert refused is not None
    assert (refused.challenge_error, str(refused), refused.code) == (error, message, -32603)
    assert refused.revocation is None
    assert _auth.refusal(None, "t", mcp_error(-32603, "x")) is None  # no challenge: unchanged
