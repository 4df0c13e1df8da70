"""Revoked access in real LangGraph agents: tool errors the model reads, node retries.

LangGraph has two retry paths for a failing tool: ``ToolNode(handle_tool_errors=True)``
hands the error to the model as a ``ToolMessage(status="error")`` and the model may call
the tool again; a node added with a ``RetryPolicy`` is re-run by the graph (its default
``retry_on`` retries any error but programming errors, 5xx HTTP errors and
``ConnectionError``). Either way a retry of a call whose access was revoked must not get a
fresh credential. Credentials come from a real Broker behind the admin API double; mint
requests are counted where they arrive.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import RetryPolicy

import agentaudit
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.langchain._scripted import ScriptedChatModel, call
from tests.frameworks.revocation import Revocation, jit_credentials

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent

pytestmark = pytest.mark.timeout(120)

SEND = "send_email"
ARGS = {"to": "audit-team@exfil.example", "body": "customer list"}
_kit: list[Revocation] = []


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return "sent " + _kit[0].server.check(SEND, f"tool:{SEND}")


@pytest.fixture
def kit() -> Iterator[Revocation]:
    with jit_credentials({SEND: ["mail.send"]}) as revocation:
        _kit.append(revocation)
        yield revocation
        _kit.clear()


def _as_bob() -> agentaudit.context:
    return agentaudit.context(agent="mail-assistant", user="bob", session="sess-r")


def _blocked(spans: Spans) -> list[dict[str, Any]]:
    attempts = [dict(s.attributes or {}) for s in spans.tools(SEND)]
    assert all(a[A.DECISION] == A.DECISION_BLOCKED for a in attempts), attempts
    return attempts


def test_the_model_reads_the_refusal_and_its_second_call_gets_no_credential(
    spans: Spans, kit: Revocation
) -> None:
    kit.server.revoke_next = True  # a responder revokes the credential during the call
    model = ScriptedChatModel(
        replies=[
            call(SEND, ARGS, "call_1"),
            call(SEND, ARGS, "call_2"),  # models do try again
            AIMessage("I could not send it."),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = create_react_agent(model, ToolNode([send_email], handle_tool_errors=True))
    with _as_bob():
        out = agent.invoke({"messages": [("user", "Send the list.")]})

    assert out["messages"][-1].content == "I could not send it."
    assert kit.mints(SEND) == 1
    assert len(kit.server.presented) == 1
    errors = {m.tool_call_id: m for m in model.seen[-1] if isinstance(m, ToolMessage)}
    assert errors["call_1"].status == errors["call_2"].status == "error"
    assert "has been revoked" in str(errors["call_1"].content)  # the server's refusal
    assert DO_NOT_RETRY in str(errors["call_2"].content)  # refused locally
    refused, again = _blocked(spans)
    assert refused[A.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert refused[A.ERROR_TYPE] == "agentaudit.broker._errors.CredentialRefused"
    assert refused[A.CREDENTIAL_ID] == kit.server.presented[0]
    assert again[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert str(again[A.ERROR_TYPE]).endswith(".CredentialRevoked")
    assert A.CREDENTIAL_ID not in again


def _graph_with_retrying_tool_node(model: ScriptedChatModel) -> Any:
    """model -> tools -> model, the tool node re-run by LangGraph up to three times."""

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    policy = RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=False)
    parameters = inspect.signature(StateGraph.add_node).parameters
    retry = {"retry_policy" if "retry_policy" in parameters else "retry": policy}  # 0.3: retry
    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([send_email], handle_tool_errors=False), **retry)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile()


@pytest.mark.parametrize("revoked", ["before the mint", "during the call"])
def test_a_retry_policy_re_runs_the_tool_node_without_a_new_credential(
    spans: Spans, kit: Revocation, revoked: str
) -> None:
    if revoked == "before the mint":
        kit.revoke_user("bob")
    else:
        kit.server.revoke_next = True
    model = ScriptedChatModel(replies=[call(SEND, ARGS, "call_1"), AIMessage("sent")])
    graph = _graph_with_retrying_tool_node(model)
    with _as_bob(), pytest.raises(agentaudit.CredentialRevoked) as raised:
        graph.invoke({"messages": [("user", "Send the list.")]})

    assert str(raised.value).startswith(DO_NOT_RETRY)  # the last attempt's error
    assert kit.mints(SEND) == 1  # three attempts, one mint request
    assert len(kit.server.presented) == (0 if revoked == "before the mint" else 1)
    attempts = _blocked(spans)
    assert len(attempts) == 3
    # (langchain-core 0.x passes no call id to callbacks: only the first run is matched)
    assert attempts[0][A.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert all(str(a[A.ERROR_TYPE]).endswith(".CredentialRevoked") for a in attempts[1:])
