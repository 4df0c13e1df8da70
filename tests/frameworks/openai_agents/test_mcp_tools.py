"""MCP tools through the OpenAI Agents SDK are tool calls of the agent (``openai_agents``)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from agents import RunConfig, Runner
from agents.mcp import MCPServerStdio

import agentaudit
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.openai_agents._scripted import email_text, mail_agent, script, send_email

ROOT = Path(__file__).resolve().parents[3]


def test_mcp_tool_of_an_sdk_agent_is_an_extension_tool_call(spans: Spans) -> None:
    async def main() -> str:
        server = MCPServerStdio(
            params={
                "command": sys.executable,
                "args": ["-m", "tests.frameworks.openai_agents._mcp_server"],
                "cwd": str(ROOT),
            },
            name="mailbox",
            client_session_timeout_seconds=30,
        )
        async with server:
            agent = mail_agent(script(), tools=[send_email], mcp_servers=[server])
            with agentaudit.context(agent="mail-assistant", user="bob", session="sess-mcp"):
                result = await Runner.run(
                    agent, "Summarise my new email.", run_config=RunConfig(group_id="chat-mcp")
                )
        return str(result.final_output)

    assert asyncio.run(asyncio.wait_for(main(), timeout=120)) == "Done."
    inbox = spans.attributes("read_inbox")
    assert inbox[A.FRAMEWORK] == "openai_agents"
    assert inbox[A.GEN_AI_TOOL_TYPE] == "extension"
    assert inbox[A.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert json.loads(str(inbox[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"folder": "inbox"}
    assert inbox[A.SESSION_ID] == "sess-mcp"
    send = spans.attributes("send_email")
    assert send[A.GEN_AI_TOOL_TYPE] == "function"
    assert send[A.GEN_AI_CONVERSATION_ID] == "chat-mcp"
    refs = list(send[A.SOURCE_REFS])  # type: ignore[call-overload]
    trust = dict(zip(refs, send[A.SOURCE_TRUST], strict=True))  # type: ignore[call-overload]
    assert trust["tool:read_inbox#call_1"] == A.TRUST_UNTRUSTED  # the MCP result reached it
    assert email_text() not in str(send)  # content itself is never recorded
