"""An AutoGen ``AssistantAgent`` with a scripted ``ChatCompletionClient``: errors,
quarantine, direct tool runs, sessions, uninstrument, version gate."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core import CancellationToken
from autogen_core.tools import FunctionTool
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import autogen as autogen_integration
from agentaudit.schema import attributes as A
from tests.frameworks.autogen._scripted import ScriptedClient, call, text
from tests.frameworks.conftest import Spans, instrument_unsupported
from tests.frameworks.ticket import REFUND, TICKET_ID, ticket_text

pytestmark = pytest.mark.timeout(120)

refunds: list[dict[str, Any]] = []


def read_ticket(ticket_id: str) -> str:
    """Read a support ticket."""
    return ticket_text(ticket_id)


def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    if order_id == "ORD-0":
        raise ValueError("no such order")
    refunds.append({"order_id": order_id, "amount": amount})
    return f"refunded {amount} on {order_id}"


def _client(ticket: str = TICKET_ID, refund_args: dict[str, Any] | None = None) -> ScriptedClient:
    return ScriptedClient(
        [
            call("call_t", "read_ticket", {"ticket_id": ticket}),
            call("call_r", "issue_refund", refund_args or dict(REFUND)),
            text("Handled."),
        ]
    )


def _run(client: ScriptedClient) -> Any:
    agent = AssistantAgent(
        "support_agent",
        model_client=client,
        tools=[read_ticket, issue_refund],
        max_tool_iterations=5,
    )
    return asyncio.run(agent.run(task="Handle ticket T-1001."))


def _tool_result(client: ScriptedClient, call_id: str) -> dict[str, Any]:
    for message in client.seen[-1]:
        for item in message.get("content") or []:
            if isinstance(item, dict) and item.get("call_id") == call_id:
                return item
    raise AssertionError(f"no result for {call_id}")


@pytest.fixture(autouse=True)
def _clear() -> None:
    refunds.clear()


def test_tool_exception_is_recorded_and_the_model_gets_the_same_error(
    spans: Spans, provider: TracerProvider
) -> None:
    agentaudit.uninstrument()
    plain = _client(refund_args={"order_id": "ORD-0", "amount": 1})
    _run(plain)
    agentaudit.instrument(tracer_provider=provider, integrations=["autogen"])
    audited = _client(refund_args={"order_id": "ORD-0", "amount": 1})
    _run(audited)
    assert _tool_result(audited, "call_r") == _tool_result(plain, "call_r")
    assert _tool_result(audited, "call_r")["is_error"] is True
    span = spans.tool("issue_refund")
    assert (span.attributes or {})[A.ERROR_TYPE] == "ValueError"
    assert span.status.status_code is StatusCode.ERROR


def test_a_quarantined_agent_s_call_is_refused_by_the_real_guard(
    spans: Spans, admin: Any, guard: Any
) -> None:
    admin.quarantine("support-agent", "refund fraud suspected")
    guard.refresh_all()  # what the poller does every 2 s
    client = _client()
    with agentaudit.context(agent="support-agent", user="carol", session="sess-q"):
        _run(client)
    assert refunds == []
    refusal = _tool_result(client, "call_r")
    assert refusal["is_error"] is True
    assert "support-agent is quarantined: refund fraud suspected" in json.dumps(refusal)
    attrs = spans.attributes("issue_refund")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert str(attrs[A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert A.RESULT_HASH not in attrs


def test_a_tool_run_directly_is_one_tool_call(spans: Spans) -> None:
    refund_tool = FunctionTool(issue_refund, description="Refund an order.")
    with agentaudit.context(agent="script", user="bob", session="sess-2"):
        out = asyncio.run(
            refund_tool.run_json(dict(REFUND), CancellationToken(), call_id="direct-1")
        )
    assert out == "refunded 5000 on ORD-9"
    attrs = spans.attributes("issue_refund")
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == REFUND
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "direct-1"


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str, ticket: str) -> None:
        agent = AssistantAgent(
            "support_agent",
            model_client=_client(ticket),
            tools=[read_ticket, issue_refund],
            max_tool_iterations=5,
        )
        with agentaudit.context(agent="support-agent", user=f"user-{name}", session=name):
            await agent.run(task="Handle it.")

    async def both() -> None:
        await asyncio.gather(session("s-a", "T-1"), session("s-b", "T-2"))

    asyncio.run(both())
    refund_spans = [dict(s.attributes or {}) for s in spans.tools("issue_refund")]
    assert sorted(str(a[A.SESSION_ID]) for a in refund_spans) == ["s-a", "s-b"]
    for attrs in refund_spans:
        assert attrs[A.ENDUSER_ID] == f"user-{attrs[A.SESSION_ID]}"
        assert list(attrs[A.SOURCE_REFS]) == ["tool:read_ticket#call_t"]  # type: ignore[call-overload]
    hashes = {a[A.SESSION_ID]: a[A.SOURCE_HASHES] for a in refund_spans}
    assert hashes["s-a"] != hashes["s-b"]


def test_uninstrument_restores_autogen(spans: Spans) -> None:
    from autogen_core.tools import BaseTool

    assert hasattr(BaseTool.run_json, "__wrapped__")
    agentaudit.uninstrument()
    assert not hasattr(BaseTool.run_json, "__wrapped__")
    assert not hasattr(AssistantAgent._get_compatible_context, "__wrapped__")
    assert isinstance(AssistantAgent.__dict__["_get_compatible_context"], staticmethod)
    _run(_client())
    assert refunds == [REFUND]
    assert spans.all() == []


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.autogen.package import _supported

    assert _version_check.check_supported(_supported, "0.7.5")
    assert _version_check.check_supported(_supported, "0.7.0")
    assert not _version_check.check_supported(_supported, "0.6.9")
    assert not _version_check.check_supported(_supported, "0.8.0")


def test_unsupported_installed_version_warns_once_and_patches_nothing(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from autogen_core.tools import BaseTool

    original = BaseTool.run_json
    instrument_unsupported(
        monkeypatch,
        caplog,
        provider=provider,
        integration="autogen",
        distribution="autogen-agentchat",
        version="0.4.0",
    )
    assert BaseTool.run_json is original
    assert not autogen_integration.instrumented()
