"""Revoked access in a real ADK agent whose runner retries failed tools.

ADK's ``ReflectAndRetryToolPlugin`` turns a tool's exception into guidance for the model,
which then calls the tool again. That retry must not get a fresh credential: the
runtime refuses it locally, and the audit plugin hands the refusal to the model as the
tool's response. Credentials come from a real Broker behind the admin API double; mint
requests are counted where they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from google.adk.agents import LlmAgent
from google.adk.plugins import ReflectAndRetryToolPlugin
from google.adk.runners import InMemoryRunner

import agentaudit
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.google_adk._scripted import APP, ScriptedLlm, call, run, text
from tests.frameworks.revocation import Revocation, jit_credentials
from tests.frameworks.ticket import REFUND

pytestmark = pytest.mark.timeout(120)

REFUND_TOOL = "issue_refund"
_kit: list[Revocation] = []


def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    return "refunded " + _kit[0].server.check(REFUND_TOOL, f"tool:{REFUND_TOOL}")


@pytest.fixture
def kit() -> Iterator[Revocation]:
    with jit_credentials({REFUND_TOOL: ["payments.refund"]}) as revocation:
        _kit.append(revocation)
        yield revocation
        _kit.clear()


def test_the_retry_after_a_revoked_credential_is_refused_without_a_new_mint(
    spans: Spans, kit: Revocation
) -> None:
    kit.server.revoke_next = True  # a responder revokes the credential during the call
    model = ScriptedLlm(
        model="gateway-1",
        replies=[
            call("call_1", REFUND_TOOL, dict(REFUND)),
            call("call_2", REFUND_TOOL, dict(REFUND)),
            text("I could not refund it."),
        ],
    )
    agent = LlmAgent(name="support_agent", model=model, tools=[issue_refund])
    runner = InMemoryRunner(
        agent=agent, app_name=APP, plugins=[ReflectAndRetryToolPlugin(max_retries=3)]
    )
    with agentaudit.context(agent="support-agent", user="carol", session="sess-r"):
        run(agent, "Refund ORD-9.", runner=runner)

    assert kit.mints(REFUND_TOOL) == 1
    assert len(kit.server.presented) == 1
    assert "has been revoked" in json.dumps(model.seen[1])  # the server's refusal, reflected
    assert DO_NOT_RETRY in json.dumps(model.seen[2])  # the retry, refused by the runtime
    attempts = [dict(s.attributes or {}) for s in spans.tools(REFUND_TOOL)]
    assert [a[A.DECISION] for a in attempts] == [A.DECISION_BLOCKED] * 2
    assert [a[A.GEN_AI_TOOL_CALL_ID] for a in attempts] == ["call_1", "call_2"]
    assert str(attempts[1][A.ERROR_TYPE]).endswith(".CredentialRevoked")
