"""The injected ticket through a custom smolagents ``Model`` subclass.

The model records the messages it actually received; the expected prompt hash is
computed from them in ``tests/frameworks/ticket.py`` (each ``ChatMessage`` in
smolagents' own dict form), independently of the integration.
"""

from __future__ import annotations

from typing import Any

import pytest
from smolagents import ToolCallingAgent, tool
from smolagents.models import ChatMessage, Model

import agentaudit
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.smolagents._scripted import _call
from tests.frameworks.ticket import REFUND, TICKET_ID, received_hash, refund, ticket_text

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
    refunds.append({"order_id": order_id, "amount": amount})
    return refund(order_id, amount)


class GatewayModel(Model):
    """A user's own model class (e.g. in front of a company gateway): scripted replies,
    and a record of the messages it received, in its own JSON form."""

    def __init__(self) -> None:
        super().__init__(model_id="gateway-1")
        self.received: list[list[dict[str, Any]]] = []

    def generate(self, messages: list[Any], **kwargs: Any) -> ChatMessage:
        self.received.append([m.dict() if hasattr(m, "dict") else dict(m) for m in messages])
        turn = len(self.received)
        if turn == 1:
            return _call("call_t", "read_ticket", {"ticket_id": TICKET_ID})
        if turn == 2:
            return _call("call_r", "issue_refund", dict(REFUND))
        return _call("call_f", "final_answer", {"answer": "Handled."})


def test_the_refund_call_carries_the_ticket_and_the_hash_of_what_the_model_received(
    spans: Spans,
) -> None:
    refunds.clear()
    model = GatewayModel()
    agent = ToolCallingAgent(
        tools=[read_ticket, issue_refund], model=model, max_steps=5, verbosity_level=0
    )
    with agentaudit.context(agent="support-agent", user="carol", session="sess-t"):
        assert agent.run("Handle ticket T-1001.") == "Handled."
    assert refunds == [REFUND]
    attrs = spans.attributes("issue_refund")
    trust = dict(zip(attrs[A.SOURCE_REFS], attrs[A.SOURCE_TRUST], strict=True))  # type: ignore[call-overload]
    assert trust == {"tool:read_ticket#call_t": A.TRUST_UNTRUSTED}
    received = model.received[1]  # the input that produced the refund call
    assert ticket_text() in str(received)
    assert attrs[A.PROMPT_HASH] == received_hash(received)
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
