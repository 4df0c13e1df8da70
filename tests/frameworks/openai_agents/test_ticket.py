"""The injected ticket through a custom ``Model`` subclass; deny; quarantine; retries.

The model is the user's own class (``_scripted.ScriptedModel``, the SDK's documented
custom-model extension point); it records what it received, and the expected prompt
hash is computed from that in ``tests/frameworks/ticket.py``, independently of the
integration.
"""

from __future__ import annotations

from typing import Any

import pytest
from agents import Agent, Runner, function_tool
from agents.exceptions import UserError

import agentaudit
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.openai_agents._scripted import (
    ScriptedModel,
    assistant_message,
    function_call,
    prompt_hash,
)
from tests.frameworks.revocation import Revocation, jit_credentials
from tests.frameworks.ticket import REFUND, TICKET_ID, refund, ticket_text

pytestmark = pytest.mark.timeout(120)

refunds: list[dict[str, Any]] = []
_kit: list[Revocation] = []


@function_tool
def read_ticket(ticket_id: str) -> str:
    """Read a support ticket."""
    return ticket_text(ticket_id)


@function_tool
def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    refunds.append({"order_id": order_id, "amount": amount})
    if _kit:
        _kit[0].server.check("issue_refund", "tool:issue_refund")
    return refund(order_id, amount)


@function_tool(name_override="issue_refund", needs_approval=True)
def gated_refund(order_id: str, amount: int) -> str:
    """Refund an order (a human approves each refund)."""
    refunds.append({"order_id": order_id, "amount": amount})
    return refund(order_id, amount)


def support_model(*extra: list[Any]) -> ScriptedModel:
    return ScriptedModel(
        [
            [function_call("read_ticket", {"ticket_id": TICKET_ID}, call_id="call_t")],
            [function_call("issue_refund", REFUND, call_id="call_r")],
            *extra,
            [assistant_message("Handled.")],
        ]
    )


def support_agent(model: ScriptedModel, refund_tool: Any = issue_refund) -> Agent[Any]:
    return Agent(
        name="Support agent",
        instructions="You are a support assistant.",
        model=model,
        tools=[read_ticket, refund_tool],
    )


@pytest.fixture(autouse=True)
def _clear() -> None:
    refunds.clear()
    _kit.clear()


def _run(agent: Any, input: Any) -> Any:
    with agentaudit.context(agent="support-agent", user="carol", session="sess-t"):
        return Runner.run_sync(agent, input)


def test_the_refund_call_carries_the_ticket_and_the_hash_of_what_the_model_received(
    spans: Spans,
) -> None:
    model = support_model()
    assert _run(support_agent(model), "Handle ticket T-1001.").final_output == "Handled."
    assert refunds == [REFUND]
    attrs = spans.attributes("issue_refund")
    trust = dict(zip(attrs[A.SOURCE_REFS], attrs[A.SOURCE_TRUST], strict=True))  # type: ignore[call-overload]
    assert trust == {"tool:read_ticket#call_t": A.TRUST_UNTRUSTED}
    received = model.calls[1]  # the input that produced the refund call, as received
    assert ticket_text() in str(received.input)
    assert attrs[A.PROMPT_HASH] == prompt_hash(received.system_instructions, received.input)
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"


def test_an_approved_refund_is_recorded_as_approved(spans: Spans) -> None:
    model = support_model()
    agent = support_agent(model, gated_refund)
    first = _run(agent, "Handle ticket T-1001.")
    state = first.to_state()
    state.approve(first.interruptions[0])
    with agentaudit.approval("dave"):
        _run(agent, state)
    attrs = spans.attributes("issue_refund")
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_DECISION] == "approved"
    assert attrs[A.APPROVAL_APPROVER] == "dave"
    # it still carries the prompt whose response asked for it (an earlier run)
    assert attrs[A.PROMPT_HASH] == prompt_hash(
        model.calls[1].system_instructions, model.calls[1].input
    )
    assert "tool:read_ticket#call_t" in list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]


def test_a_rejected_refund_is_recorded_as_denied_and_never_runs(spans: Spans) -> None:
    model = support_model()
    agent = support_agent(model, gated_refund)
    first = _run(agent, "Handle ticket T-1001.")
    state = first.to_state()
    state.reject(first.interruptions[0])
    assert _run(agent, state).final_output == "Handled."
    assert refunds == []
    attrs = spans.attributes("issue_refund")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert attrs[A.APPROVAL_DECISION] == "denied"
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_NONE
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert attrs[A.ENDUSER_ID] == "carol"
    assert "tool:read_ticket#call_t" in list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]


def test_a_quarantined_agent_s_refund_is_refused_by_the_real_guard(
    spans: Spans, admin: Any, guard: Any
) -> None:
    admin.quarantine("support-agent", "refund fraud suspected")
    guard.refresh_all()
    with pytest.raises((agentaudit.AgentQuarantined, UserError)) as raised:
        _run(support_agent(support_model()), "Handle ticket T-1001.")
    assert "quarantined" in str(raised.value)
    assert refunds == []
    blocked = spans.tool("read_ticket")  # the first call of the quarantined agent
    assert (blocked.attributes or {})[A.DECISION] == A.DECISION_BLOCKED
    assert spans.tools("issue_refund") == []


def test_the_model_s_retry_after_a_revoked_credential_gets_no_new_credential(
    spans: Spans,
) -> None:
    """The SDK tells the model about the refused call (its failure message); the model
    retries; the runtime refuses the retry before the tool runs, without minting. A
    refusal raised outside the tool ends the run, as the quarantine does (the SDK's
    failure message covers exceptions of the tool only)."""
    retry = [function_call("issue_refund", REFUND, call_id="call_r2")]
    with jit_credentials({"issue_refund": ["refund.write"]}) as kit:
        _kit.append(kit)
        kit.server.revoke_next = True  # a responder revokes the credential during the call
        model = support_model(retry)
        with pytest.raises((agentaudit.CredentialRevoked, UserError)) as raised:
            _run(support_agent(model), "Handle ticket T-1001.")
        assert kit.mints("issue_refund") == 1
    assert DO_NOT_RETRY in str(raised.value)
    assert len(refunds) == 1  # the retry never reached the tool
    assert "error occurred" in str(model.calls[2].input)  # the SDK told the model
    attempts = [dict(s.attributes or {}) for s in spans.tools("issue_refund")]
    assert [a[A.DECISION] for a in attempts] == [A.DECISION_BLOCKED] * 2
    assert [a[A.GEN_AI_TOOL_CALL_ID] for a in attempts] == ["call_r", "call_r2"]
    assert str(attempts[1][A.ERROR_TYPE]).endswith(".CredentialRevoked")
