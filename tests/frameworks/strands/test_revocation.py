"""Revoked access in a real Strands agent whose hook retries failed tools.

Strands retries a tool when an ``AfterToolCallEvent`` hook sets ``retry``; each attempt
fires ``BeforeToolCallEvent`` again. That retry must not get a fresh credential: the
runtime refuses it locally, and the audit hook cancels it with the refusal as the
tool's error result. Credentials come from a real Broker behind the admin API double;
mint requests are counted where they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from strands import Agent, tool

import agentaudit
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.revocation import Revocation, jit_credentials
from tests.frameworks.strands._scripted import ScriptedModel, call, text
from tests.frameworks.ticket import REFUND

pytestmark = pytest.mark.timeout(120)

REFUND_TOOL = "issue_refund"
_kit: list[Revocation] = []


@tool
def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order.

    Args:
        order_id: The order.
        amount: The amount.
    """
    return "refunded " + _kit[0].server.check(REFUND_TOOL, f"tool:{REFUND_TOOL}")


class RetryOnce:
    """The application's retry policy: a failed tool is run once more."""

    def __init__(self) -> None:
        self.retried: set[str] = set()

    def register_hooks(self, registry: Any, **kwargs: Any) -> None:
        from strands.hooks import AfterToolCallEvent

        registry.add_callback(AfterToolCallEvent, self.after)

    def after(self, event: Any) -> None:
        call_id = event.tool_use["toolUseId"]
        if event.result.get("status") == "error" and call_id not in self.retried:
            self.retried.add(call_id)
            event.retry = True


@pytest.fixture
def kit() -> Iterator[Revocation]:
    with jit_credentials({REFUND_TOOL: ["payments.refund"]}) as revocation:
        _kit.append(revocation)
        yield revocation
        _kit.clear()


def test_the_framework_retry_after_a_revoked_credential_is_refused_without_a_new_mint(
    spans: Spans, kit: Revocation
) -> None:
    kit.server.revoke_next = True  # a responder revokes the credential during the call
    model = ScriptedModel([call("call_1", REFUND_TOOL, dict(REFUND)), text("I could not.")])
    agent = Agent(model=model, tools=[issue_refund], hooks=[RetryOnce()], callback_handler=None)
    with agentaudit.context(agent="support-agent", user="carol", session="sess-r"):
        agent("Refund ORD-9.")

    assert kit.mints(REFUND_TOOL) == 1
    assert len(kit.server.presented) == 1
    assert DO_NOT_RETRY in json.dumps(model.seen[1])  # the retry's refusal, read by the model
    attempts = [dict(s.attributes or {}) for s in spans.tools(REFUND_TOOL)]
    assert [a[A.DECISION] for a in attempts] == [A.DECISION_BLOCKED] * 2
    assert [a[A.GEN_AI_TOOL_CALL_ID] for a in attempts] == ["call_1", "call_1"]
    assert str(attempts[1][A.ERROR_TYPE]).endswith(".CredentialRevoked")
