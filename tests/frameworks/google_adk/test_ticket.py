"""The injected ticket through a custom ADK ``BaseLlm`` subclass.

The model records the requests it actually received; the expected prompt hash is
computed from them in ``tests/frameworks/ticket.py``, independently of the integration.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.adk.agents import LlmAgent

import agentaudit
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.google_adk._scripted import ScriptedLlm, call, run, text
from tests.frameworks.ticket import REFUND, TICKET_ID, received_hash, refund, ticket_text

pytestmark = pytest.mark.timeout(120)

refunds: list[dict[str, Any]] = []


def read_ticket(ticket_id: str) -> str:
    """Read a support ticket."""
    return ticket_text(ticket_id)


def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    refunds.append({"order_id": order_id, "amount": amount})
    return refund(order_id, amount)


def test_the_refund_call_carries_the_ticket_and_the_hash_of_what_the_model_received(
    spans: Spans,
) -> None:
    refunds.clear()
    model = ScriptedLlm(
        model="gateway-1",
        replies=[
            call("call_t", "read_ticket", {"ticket_id": TICKET_ID}),
            call("call_r", "issue_refund", dict(REFUND)),
            text("Handled."),
        ],
    )
    agent = LlmAgent(
        name="support_agent",
        model=model,
        instruction="Resolve tickets.",
        tools=[read_ticket, issue_refund],
    )
    with agentaudit.context(agent="support-agent", user="carol", session="sess-t"):
        run(agent, "Handle ticket T-1001.")
    assert refunds == [REFUND]
    attrs = spans.attributes("issue_refund")
    trust = dict(zip(attrs[A.SOURCE_REFS], attrs[A.SOURCE_TRUST], strict=True))  # type: ignore[call-overload]
    assert trust == {"tool:read_ticket#call_t": A.TRUST_UNTRUSTED}
    received = model.seen[1]  # the request that produced the refund call
    assert ticket_text() in str(received)
    assert attrs[A.PROMPT_HASH] == received_hash(received)
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert attrs[A.FRAMEWORK] == "google_adk"
    assert attrs[A.ENDUSER_ID] == "carol"
    assert attrs[A.SESSION_ID] == "sess-t"
    assert attrs[A.GEN_AI_AGENT_ID] == "support-agent"
    chats = [dict(s.attributes or {}) for s in spans.of(A.OPERATION_CHAT)]
    assert [c[A.PROMPT_HASH] for c in chats] == [received_hash(seen) for seen in model.seen]
