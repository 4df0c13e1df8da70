"""A Strands ``Agent`` with a scripted ``Model``: names, errors, quarantine, calls other
hooks cancel, approval, sessions, uninstrument, version gate."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode
from strands import Agent, tool

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import strands as strands_integration
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans, instrument_unsupported
from tests.frameworks.strands._scripted import ScriptedModel, call, text
from tests.frameworks.ticket import REFUND, TICKET_ID, received_hash, ticket_text

pytestmark = pytest.mark.timeout(120)

refunds: list[dict[str, Any]] = []


@tool
def read_ticket(ticket_id: str) -> str:
    """Read a support ticket.

    Args:
        ticket_id: The ticket.
    """
    return ticket_text(ticket_id)


@tool
def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order.

    Args:
        order_id: The order.
        amount: The amount.
    """
    if order_id == "ORD-0":
        raise ValueError("no such order")
    refunds.append({"order_id": order_id, "amount": amount})
    return f"refunded {amount} on {order_id}"


def _model(ticket: str = TICKET_ID, refund_args: dict[str, Any] | None = None) -> ScriptedModel:
    return ScriptedModel(
        [
            call("call_t", "read_ticket", {"ticket_id": ticket}),
            call("call_r", "issue_refund", refund_args or dict(REFUND)),
            text("Handled."),
        ]
    )


def _agent(model: ScriptedModel, **kwargs: Any) -> Agent:
    return Agent(
        model=model,
        tools=[read_ticket, issue_refund],
        name="support_agent",
        callback_handler=None,
        **kwargs,
    )


def _tool_results(model: ScriptedModel) -> dict[str, Any]:
    """toolUseId -> the tool result the model received last."""
    found: dict[str, Any] = {}
    for message in model.seen[-1]:
        for block in message.get("content") or []:
            if isinstance(block, dict) and "toolResult" in block:
                found[block["toolResult"]["toolUseId"]] = block["toolResult"]
    return found


@pytest.fixture(autouse=True)
def _clear() -> None:
    refunds.clear()


def test_agent_name_fills_what_the_context_leaves_open(spans: Spans) -> None:
    _agent(_model())("Handle ticket T-1001.")
    attrs = spans.attributes("issue_refund")
    assert attrs[A.GEN_AI_AGENT_ID] == attrs[A.GEN_AI_AGENT_NAME] == "support_agent"
    chat = dict(spans.of(A.OPERATION_CHAT)[0].attributes or {})
    assert chat[A.GEN_AI_AGENT_NAME] == "support_agent"
    assert chat[A.GEN_AI_REQUEST_MODEL] == "gateway-1"


def test_tool_exception_is_recorded_and_the_model_gets_the_same_error(
    spans: Spans, provider: TracerProvider
) -> None:
    agentaudit.uninstrument()
    plain = _model(refund_args={"order_id": "ORD-0", "amount": 1})
    _agent(plain)("Refund.")
    agentaudit.instrument(tracer_provider=provider, integrations=["strands"])
    audited = _model(refund_args={"order_id": "ORD-0", "amount": 1})
    _agent(audited)("Refund.")
    assert _tool_results(audited)["call_r"] == _tool_results(plain)["call_r"]
    assert _tool_results(audited)["call_r"]["status"] == "error"
    span = spans.tool("issue_refund")
    assert (span.attributes or {})[A.ERROR_TYPE] == "ValueError"
    assert span.status.status_code is StatusCode.ERROR


def test_a_quarantined_agent_s_call_is_refused_by_the_real_guard(
    spans: Spans, admin: Any, guard: Any
) -> None:
    admin.quarantine("support-agent", "refund fraud suspected")
    guard.refresh_all()  # what the poller does every 2 s
    model = _model()
    with agentaudit.context(agent="support-agent", user="carol", session="sess-q"):
        _agent(model)("Handle ticket T-1001.")
    assert refunds == []
    refusal = _tool_results(model)["call_r"]
    assert refusal["status"] == "error"
    assert "AgentQuarantined" in json.dumps(refusal)
    assert "support-agent is quarantined: refund fraud suspected" in json.dumps(refusal)
    attrs = spans.attributes("issue_refund")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert str(attrs[A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert A.RESULT_HASH not in attrs


class _DenyRefunds:
    """An application's approval hook (a HookProvider) that cancels every refund."""

    def register_hooks(self, registry: Any, **kwargs: Any) -> None:
        from strands.hooks import BeforeToolCallEvent

        registry.add_callback(BeforeToolCallEvent, self.deny)

    def deny(self, event: Any) -> None:
        if event.tool_use["name"] == "issue_refund":
            event.cancel_tool = "refunds need a human"


def test_a_call_an_application_hook_cancels_is_never_recorded_as_run(spans: Spans) -> None:
    model = _model()
    _agent(model, hooks=[_DenyRefunds()])("Handle ticket T-1001.")  # runs before ours
    assert refunds == []
    assert _tool_results(model)["call_r"]["content"] == [{"text": "refunds need a human"}]
    assert spans.tools("issue_refund") == []  # the call never started

    later = _agent(_model())
    later.hooks.add_hook(_DenyRefunds())  # runs after ours: the span has started
    later("Handle ticket T-1001.")
    assert refunds == []
    attrs = spans.attributes("issue_refund")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert str(attrs[A.ERROR_TYPE]).endswith("ToolCancelled")
    assert A.RESULT_HASH not in attrs


def test_approval_context_around_the_run_records_the_approver(spans: Spans) -> None:
    with (
        agentaudit.context(agent="support-agent", user="carol", session="sess-a"),
        agentaudit.approval("alice"),
    ):
        _agent(_model())("Handle ticket T-1001.")
    attrs = spans.attributes("issue_refund")
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_APPROVER] == "alice"


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str, ticket: str) -> None:
        with agentaudit.context(agent="support-agent", user=f"user-{name}", session=name):
            await _agent(_model(ticket)).invoke_async("Handle it.")

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


def test_uninstrument_stops_recording(spans: Spans) -> None:
    from strands.agent.agent import Agent as AgentClass

    kept = _agent(_model())
    assert hasattr(AgentClass.__init__, "__wrapped__")
    agentaudit.uninstrument()
    assert not hasattr(AgentClass.__init__, "__wrapped__")
    kept("Handle ticket T-1001.")  # its hooks are inert
    _agent(_model())("Handle ticket T-1001.")  # no hooks at all
    assert refunds == [REFUND, REFUND]
    assert spans.all() == []


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.strands.package import _supported

    assert _version_check.check_supported(_supported, "1.62.0")
    assert _version_check.check_supported(_supported, "1.40.0")
    assert not _version_check.check_supported(_supported, "1.39.9")
    assert not _version_check.check_supported(_supported, "2.0.0")


def test_unsupported_installed_version_warns_once_and_adds_nothing(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from strands.agent.agent import Agent as AgentClass

    original = AgentClass.__init__
    instrument_unsupported(
        monkeypatch,
        caplog,
        provider=provider,
        integration="strands",
        distribution="strands-agents",
        version="0.9.0",
    )
    assert AgentClass.__init__ is original
    assert not strands_integration.instrumented()


def test_the_prompt_hash_of_the_second_model_call(spans: Spans) -> None:
    model = _model()
    _agent(model, system_prompt="Resolve tickets.")("Handle ticket T-1001.")
    assert spans.attributes("issue_refund")[A.PROMPT_HASH] == received_hash(model.seen[1])
