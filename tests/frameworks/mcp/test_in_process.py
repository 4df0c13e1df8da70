"""In-process MCP checks: uninstrument, version gate, nesting under a framework tool, _meta."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import StreamableHTTPTransport
from mcp.server.lowlevel.server import Server
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import mcp as integration
from agentaudit.instrumentation.mcp import _auth, _install, _meta
from agentaudit.instrumentation.runtime import ToolCall, tool_call
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.mcp._sdk import (
    V2,
    MCPError,
    MCPServer,
    connect,
    http,
    protocol_error,
    server_with_handler,
)


def _server() -> MCPServer:
    server = MCPServer("mail-tools")

    @server.tool()
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        return f"sent to {to}"

    return server


async def _send(server: MCPServer) -> str:
    async with connect(server) as client:
        result = await client.call_tool("send_email", {"to": "x@corp.example", "body": "b"})
    return "".join(getattr(block, "text", "") for block in result.content)


def test_in_memory_pair_emits_a_client_and_a_server_span(spans: Spans) -> None:
    server = _server()
    with agentaudit.context(agent="mail-assistant", user="bob", session="s-1"):
        assert asyncio.run(_send(server)) == "sent to x@corp.example"
    found = spans.tools("send_email")
    kinds = sorted(s.kind.name for s in found)
    assert kinds == ["INTERNAL", "SERVER"]
    client = next(s for s in found if s.kind.name == "INTERNAL")
    served = next(s for s in found if s.kind.name == "SERVER")
    assert served.parent is not None
    assert client.context is not None
    assert served.parent.span_id == client.context.span_id
    assert (served.attributes or {})[A.ENDUSER_ID] == "bob"


def test_both_sides_record_the_same_call_id_and_their_side(spans: Spans) -> None:
    """No model call id: the client span's id stands for one, on both sides."""
    server = _server()
    with agentaudit.context(agent="mail-assistant", user="bob", session="s-1"):
        asyncio.run(_send(server))
    client = next(s for s in spans.tools("send_email") if s.kind.name == "INTERNAL")
    served = next(s for s in spans.tools("send_email") if s.kind.name == "SERVER")
    assert client.context is not None
    call_id = f"{client.context.span_id:016x}"
    mine, theirs = dict(client.attributes or {}), dict(served.attributes or {})
    assert (mine[A.CALL_SIDE], mine[A.GEN_AI_TOOL_CALL_ID]) == (A.CALL_SIDE_CLIENT, call_id)
    assert (theirs[A.CALL_SIDE], theirs[A.GEN_AI_TOOL_CALL_ID]) == (A.CALL_SIDE_SERVER, call_id)
    assert theirs[A.ARGUMENTS_HASH] == mine[A.ARGUMENTS_HASH]  # the same action, both sides


def test_the_request_meta_carries_the_trace_context_and_the_call_id(spans: Spans) -> None:
    seen: list[dict[str, Any]] = []

    def record(meta: dict[str, Any]) -> Any:
        seen.append(meta)
        raise protocol_error("recorded")  # no tool listing needed

    server = server_with_handler("recording", record)

    async def run() -> None:
        async with connect(server) as client:
            with pytest.raises(MCPError, match="recorded"):
                await client.call_tool("read_inbox", {"folder": "x"}, meta={"mine": "kept"})

    with agentaudit.context(agent="mail-assistant", user="bob", session="s-1"):
        asyncio.run(run())
    (meta,) = seen
    client_span = next(s for s in spans.tools("read_inbox") if s.kind.name == "INTERNAL")
    assert client_span.context is not None
    span_id = f"{client_span.context.span_id:016x}"
    trace_id = f"{client_span.context.trace_id:032x}"
    # SEP-414 W3C keys at the top of _meta (the SDK's own span, when recording, rewrites
    # traceparent; ours stays in io.agentaudit/traceparent).
    assert meta["traceparent"].split("-")[1] == trace_id
    assert "enduser.id=bob" in meta["baggage"]
    assert meta[_meta.META_TRACEPARENT].split("-")[1:3] == [trace_id, span_id]
    assert meta[_meta.META_TOOL_CALL_ID] == span_id
    assert meta[_meta.META_USER] == "bob"
    assert meta["mine"] == "kept"


def test_a_proxy_servers_upstream_call_is_a_client_call_of_its_own(spans: Spans) -> None:
    """A tool server whose tool calls an upstream tool of the same name: its SERVER span
    stays the server side of the first call; the upstream call gets a client span."""
    upstream = _server()
    proxy = MCPServer("proxy")

    @proxy.tool()
    async def send_email(to: str, body: str) -> str:
        """Send an email through the upstream server."""
        return await _send(upstream)

    async def run() -> None:
        async with connect(proxy) as client:
            await client.call_tool("send_email", {"to": "x@corp.example", "body": "b"})

    with agentaudit.context(agent="mail-assistant", user="bob", session="s-1"):
        asyncio.run(run())
    found = spans.tools("send_email")
    sides = sorted((s.kind.name, str((s.attributes or {})[A.CALL_SIDE])) for s in found)
    assert sides == [
        ("INTERNAL", "client"),
        ("INTERNAL", "client"),
        ("SERVER", "server"),
        ("SERVER", "server"),
    ]
    by_id = {s.context.span_id: s for s in found if s.context is not None}
    for served in (s for s in found if s.kind.name == "SERVER"):
        assert served.parent is not None
        assert by_id[served.parent.span_id].kind.name == "INTERNAL"


def test_uninstrument_restores_the_sdk_and_detaches_the_middleware(spans: Spans) -> None:
    http_client = http.AsyncClient()
    _auth.attach(http_client)
    _auth.attach(http_client)  # idempotent
    assert len(http_client.event_hooks["request"]) == 1
    assert len(http_client.event_hooks["response"]) == 1
    patched = ClientSession.__dict__["call_tool"]
    assert hasattr(patched, "__agentaudit_original__")
    server = _server()
    audit = integration.middleware()
    assert _audited(server, audit)
    agentaudit.uninstrument()
    assert not integration.instrumented()
    assert ClientSession.__dict__["call_tool"] is patched.__agentaudit_original__
    assert not hasattr(Server.__init__, "__wrapped__")
    assert not hasattr(getattr(Server, "call_tool", None), "__wrapped__")
    assert not hasattr(StreamableHTTPTransport.post_writer, "__wrapped__")
    assert not hasattr(
        getattr(StreamableHTTPTransport, "_handle_post_request", None), "__wrapped__"
    )
    assert not _audited(server, audit)
    assert not _audited(_server(), audit)
    with agentaudit.context(agent="a", user="u", session="s"):
        assert asyncio.run(_send(server)) == "sent to x@corp.example"
    assert spans.all() == []
    assert http_client.event_hooks == {"request": [], "response": []}


def _lowlevel(server: Any) -> Any:
    """The low-level ``Server`` of ``server`` (itself, or the one ``FastMCP`` wraps)."""
    return server if isinstance(server, Server) else server._mcp_server


def _audited(server: Any, audit: Any) -> bool:
    """Whether ``server``'s tools/call goes through ``audit``: its middleware on mcp 2.x,
    the wrapper around its registered handler on 1.x."""
    if V2:
        return audit in server.middleware
    from mcp.types import CallToolRequest

    handler = _lowlevel(server).request_handlers[CallToolRequest]
    return getattr(handler, "__agentaudit_original__", None) is not None


def test_instrument_twice_adds_one_middleware(spans: Spans) -> None:
    integration.instrument()
    integration.instrument()
    server = _server()
    if V2:
        assert server.middleware.count(integration.middleware()) == 1
    else:
        from mcp.types import CallToolRequest

        handler = _lowlevel(server).request_handlers[CallToolRequest]
        original = handler.__agentaudit_original__
        assert not hasattr(original, "__agentaudit_original__")  # wrapped once


def test_an_unsupported_mcp_stays_off_with_one_warning(
    provider: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = ClientSession.__dict__["call_tool"]
    monkeypatch.setattr(_install, "_supported", ("mcp", (0, 1), (0, 2)))
    _version_check.reset_warnings()
    caplog.set_level(logging.WARNING, logger="agentaudit.instrumentation")
    agentaudit.instrument(tracer_provider=provider, integrations=["mcp"])
    integration.instrument()
    assert not integration.instrumented()
    assert ClientSession.__dict__["call_tool"] is original
    messages = [r.getMessage() for r in caplog.records if "mcp" in r.getMessage()]
    assert len(messages) == 1
    assert "outside the supported range >=0.1,<0.2" in messages[0]
    assert asyncio.run(_send(_server())) == "sent to x@corp.example"
    _version_check.reset_warnings()


def test_a_framework_tool_wrapping_the_mcp_call_is_not_recorded_twice(spans: Spans) -> None:
    server = _server()

    async def run() -> None:
        with agentaudit.context(agent="a", user="u", session="s"):
            outer = tool_call("send_email", framework="langchain", call_id="call_7")
            with outer:
                await _send(server)

    asyncio.run(run())
    found = spans.tools("send_email")
    assert sorted((s.kind.name, (s.attributes or {})[A.FRAMEWORK]) for s in found) == [
        ("INTERNAL", "langchain"),
        ("SERVER", "mcp"),
    ]
    outer_span = next(s for s in found if s.kind.name == "INTERNAL")
    served = next(s for s in found if s.kind.name == "SERVER")
    assert outer_span.context is not None
    assert served.parent is not None
    assert served.parent.span_id == outer_span.context.span_id


def _span_context(span_id: int) -> Any:
    return trace.set_span_in_context(
        NonRecordingSpan(SpanContext(0xABC, span_id, is_remote=False, trace_flags=TraceFlags(1)))
    )


def test_meta_round_trip_prefers_the_agentaudit_parent() -> None:
    ours: dict[str, Any] = {}
    _meta.inject(
        ours,
        {A.ENDUSER_ID: "bob", A.SESSION_ID: "s", A.GEN_AI_AGENT_ID: "a", "other": "x"},
        _span_context(0x1111),
    )
    transport: dict[str, Any] = {}
    _meta.inject(transport, {}, _span_context(0x2222))  # the SDK's own span rewrote it
    ours["traceparent"] = transport["traceparent"]
    parent, identity = _meta.extract(ours)
    assert parent is not None
    assert trace.get_current_span(parent).get_span_context().span_id == 0x1111
    assert identity == {A.ENDUSER_ID: "bob", A.SESSION_ID: "s", A.GEN_AI_AGENT_ID: "a"}
    assert ours[_meta.META_USER] == "bob"


@pytest.mark.parametrize(
    "meta",
    [None, {}, {"traceparent": "garbage"}, {_meta.META_TRACEPARENT: 7}, {"traceparent": ""}],
)
def test_meta_extract_ignores_malformed_input(meta: Any) -> None:
    parent, identity = _meta.extract(meta)
    assert parent is None
    assert identity == {}


def test_meta_extract_drops_oversized_identity_values() -> None:
    token = otel_context.attach(_span_context(0x3333))
    try:
        meta: dict[str, Any] = {}
        _meta.inject(meta, {A.ENDUSER_ID: "u" * 10_000, A.SESSION_ID: "s"})
    finally:
        otel_context.detach(token)
    _, identity = _meta.extract(meta)
    assert identity == {A.SESSION_ID: "s"}


def test_the_callers_approval_reaches_the_server_span(spans: Spans) -> None:
    server = _server()
    with (
        agentaudit.context(agent="calendar-assistant", user="alice", session="s-2"),
        agentaudit.approval("alice"),
    ):
        asyncio.run(_send(server))
    with agentaudit.context(agent="calendar-assistant", user="alice", session="s-3"):
        asyncio.run(_send(server))
    served = sorted(
        (s for s in spans.tools("send_email") if s.kind.name == "SERVER"),
        key=lambda s: str((s.attributes or {})[A.SESSION_ID]),
    )
    approved, unapproved = (dict(s.attributes or {}) for s in served)
    assert approved[A.APPROVAL_STATUS] == "human"
    assert approved[A.APPROVAL_APPROVER] == "alice"
    assert unapproved[A.APPROVAL_STATUS] == "none"
    assert A.APPROVAL_APPROVER not in unapproved


def test_meta_approval_needs_an_approver() -> None:
    meta: dict[str, Any] = {}
    _meta.inject(meta, {A.APPROVAL_STATUS: "human"}, _span_context(0x4444))
    assert _meta.META_APPROVAL not in meta
    forged = {**meta, _meta.META_APPROVAL: "root", _meta.META_APPROVER: "x"}
    assert A.APPROVAL_STATUS not in _meta.extract(forged)[1]


def test_the_sdks_own_tools_call_span_is_pointed_at_the_audited_span(
    spans: Spans, provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentaudit.instrumentation.mcp import _server

    sdk_tracer = provider.get_tracer("mcp-python-sdk")
    with sdk_tracer.start_as_current_span(
        "tools/call send_email",
        attributes={A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL},
    ) as transport:
        call = tool_call("send_email", framework="mcp")
        assert isinstance(call, ToolCall)
        _server._mark_duplicate(transport, call)
        call.ok("sent")
    (sdk_span,) = [s for s in spans.all() if s.name == "tools/call send_email"]
    audited = spans.tool("send_email")
    assert audited.context is not None
    assert (sdk_span.attributes or {})[A.AUDITED_BY] == f"{audited.context.span_id:016x}"


def test_protocol_errors_pass_through_unchanged(spans: Spans) -> None:
    sent = protocol_error("no such mailbox")

    def refuse(meta: dict[str, Any]) -> Any:
        raise sent

    server = server_with_handler("strict", refuse)
    raised: list[BaseException] = []

    async def run() -> None:
        async with connect(server) as client:
            try:
                await client.call_tool("read_inbox", {"folder": "x"})
            except MCPError as exc:
                raised.append(exc)

    with agentaudit.context(agent="a", user="u", session="s"):
        asyncio.run(run())
    (error,) = raised
    assert isinstance(error, MCPError)
    assert error.error.message == "no such mailbox"
    by_kind = {s.kind.name: dict(s.attributes or {}) for s in spans.tools("read_inbox")}
    assert by_kind["INTERNAL"][A.ERROR_TYPE] == _qualified(type(error))
    assert by_kind["SERVER"][A.ERROR_TYPE] == _qualified(type(sent))


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_a_quarantined_agent_never_reaches_the_server(spans: Spans) -> None:
    from agentaudit.instrumentation import AgentQuarantined, add_before_tool_call

    def quarantine(info: Any) -> None:
        if info.agent_id == "rogue":
            raise AgentQuarantined(info.agent_id, "anomaly")

    async def run() -> None:
        async with connect(_server()) as client:
            with pytest.raises(AgentQuarantined, match="agent rogue is quarantined"):
                await client.call_tool("send_email", {"to": "x@corp.example", "body": "b"})

    remove = add_before_tool_call(quarantine)
    try:
        with agentaudit.context(agent="rogue", user="u", session="s"):
            asyncio.run(run())
    finally:
        remove()
    (span,) = spans.tools("send_email")  # the client's blocked span only: nothing was sent
    assert span.kind.name == "INTERNAL"
    assert (span.attributes or {})[A.DECISION] == "blocked"
