"""Revoked access in a real AutoGen AssistantAgent: the model's own retry.

The workbench hands a tool's exception to the model as an error result, and models call
the tool again. That retry must not get a fresh credential: the runtime refuses it
locally (the refusal reaches the model the same way). Credentials come from a real
Broker behind the admin API double; mint requests are counted where they arrive.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core.tools import FunctionTool

import agentaudit
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.schema import attributes as A
from tests.frameworks.autogen._scripted import ScriptedClient, call, text
from tests.frameworks.conftest import Spans
from tests.frameworks.revocation import Revocation, jit_credentials
from tests.frameworks.ticket import REFUND

pytestmark = pytest.mark.timeout(120)

REFUND_TOOL = "issue_refund"
_kit: list[Revocation] = []


def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order (sync: AutoGen runs it in an executor thread, where the
    integration carries the call's context, so the per-call credential is visible)."""
    return "refunded " + _kit[0].server.check(REFUND_TOOL, f"tool:{REFUND_TOOL}")


async def aissue_refund(order_id: str, amount: int) -> str:
    """The same, async."""
    return issue_refund(order_id, amount)


@pytest.fixture
def kit() -> Iterator[Revocation]:
    with jit_credentials({REFUND_TOOL: ["payments.refund"]}) as revocation:
        _kit.append(revocation)
        yield revocation
        _kit.clear()


@pytest.mark.parametrize("refund", [issue_refund, aissue_refund], ids=["sync", "async"])
def test_the_model_s_retry_after_a_revoked_credential_is_refused_without_a_new_mint(
    spans: Spans, kit: Revocation, refund: Callable[..., object]
) -> None:
    kit.server.revoke_next = True  # a responder revokes the credential during the call
    client = ScriptedClient(
        [
            call("call_1", REFUND_TOOL, dict(REFUND)),
            call("call_2", REFUND_TOOL, dict(REFUND)),
            text("I could not refund it."),
        ]
    )
    agent = AssistantAgent(
        "support_agent",
        model_client=client,
        tools=[FunctionTool(refund, description="Refund an order.", name=REFUND_TOOL)],
        max_tool_iterations=5,
    )
    with agentaudit.context(agent="support-agent", user="carol", session="sess-r"):
        asyncio.run(agent.run(task="Refund ORD-9."))

    assert kit.mints(REFUND_TOOL) == 1
    assert len(kit.server.presented) == 1
    assert "has been revoked" in json.dumps(client.seen[1])  # the server's refusal
    assert DO_NOT_RETRY in json.dumps(client.seen[2])  # the retry, refused by the runtime
    attempts = [dict(s.attributes or {}) for s in spans.tools(REFUND_TOOL)]
    assert [a[A.DECISION] for a in attempts] == [A.DECISION_BLOCKED] * 2
    assert [a[A.GEN_AI_TOOL_CALL_ID] for a in attempts] == ["call_1", "call_2"]
    assert str(attempts[1][A.ERROR_TYPE]).endswith(".CredentialRevoked")
