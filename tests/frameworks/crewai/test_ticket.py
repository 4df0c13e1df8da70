"""The injected ticket through a custom CrewAI ``BaseLLM`` subclass (native tool calls).

The LLM records the messages it actually received; the expected prompt hash is
computed from them in ``tests/frameworks/ticket.py``, independently of the integration.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from crewai import Agent, Crew, Task
from crewai.llms.base_llm import BaseLLM
from crewai.tools import tool
from pydantic import Field

import agentaudit
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.ticket import REFUND, TICKET_ID, received_hash, refund, ticket_text

pytestmark = pytest.mark.timeout(120)

refunds: list[dict[str, Any]] = []


@tool("read_ticket")
def read_ticket(ticket_id: str) -> str:
    """Read a support ticket."""
    return ticket_text(ticket_id)


@tool("issue_refund")
def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    refunds.append({"order_id": order_id, "amount": amount})
    return refund(order_id, amount)


def _tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


class GatewayLLM(BaseLLM):
    """A user's own LLM class with native tool calling: scripted replies, and a record of
    the messages it received."""

    received: list[Any] = Field(default_factory=list)

    def call(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        self.received = [*self.received, copy.deepcopy(messages)]
        turn = len(self.received)
        if turn == 1:
            return [_tool_call("call_t", "read_ticket", {"ticket_id": TICKET_ID})]
        if turn == 2:
            return [_tool_call("call_r", "issue_refund", dict(REFUND))]
        return "Handled."

    def supports_function_calling(self) -> bool:
        return True


def test_the_refund_call_carries_the_ticket_and_the_hash_of_what_the_model_received(
    spans: Spans,
) -> None:
    refunds.clear()
    llm = GatewayLLM(model="gateway-1")
    agent = Agent(
        role="Support agent",
        goal="Resolve tickets",
        backstory="A careful assistant.",
        llm=llm,
        tools=[read_ticket, issue_refund],
        verbose=False,
    )
    task = Task(description="Handle ticket T-1001.", expected_output="A reply", agent=agent)
    with agentaudit.context(agent="support-agent", user="carol", session="sess-t"):
        out = Crew(agents=[agent], tasks=[task], verbose=False).kickoff()
    assert str(out) == "Handled."
    assert refunds == [REFUND]
    attrs = spans.attributes("issue_refund")
    refs = list(attrs.get(A.SOURCE_REFS, ()))  # type: ignore[call-overload]
    trust = dict(zip(refs, attrs.get(A.SOURCE_TRUST, ()), strict=True))  # type: ignore[call-overload]
    inbox = spans.tool("read_ticket")
    ticket_ref = f"tool:read_ticket#{inbox.context.span_id:016x}"  # no call id reaches run()
    assert trust == {ticket_ref: A.TRUST_UNTRUSTED}
    received = llm.received[1]  # the input that produced the refund call, as received
    assert ticket_text() in json.dumps(received)
    assert attrs[A.PROMPT_HASH] == received_hash(received)
