"""Custom LangGraph graphs: tool errors, concurrent sessions, interrupt/resume approvals."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, interrupt

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import langchain as integration
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.langchain._scripted import (
    ScriptedChatModel,
    call,
    injection_script,
    read_inbox,
    send_email,
)


def _graph(model: ScriptedChatModel, tools: list[Any], *, review: bool = False) -> Any:
    """model -> (review) -> tools -> model ... until the model answers without tool calls."""

    def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    async def aagent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        if not (isinstance(last, AIMessage) and last.tool_calls):
            return END
        return "review" if review else "tools"

    def review_node(state: MessagesState) -> Command[Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        if any(c["name"] == "send_email" for c in last.tool_calls):
            decision = interrupt({"question": "send this email?", "calls": last.tool_calls})
            if decision.get("approved") is False if isinstance(decision, dict) else False:
                return Command(goto=END)
        return Command(goto="tools")

    graph = StateGraph(MessagesState)
    graph.add_node("agent", RunnableLambda(agent, afunc=aagent))
    graph.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    if review:
        graph.add_node("review", review_node)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route)
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


class MailboxDown(RuntimeError):
    pass


@tool
def flaky_inbox(folder: str = "inbox") -> str:
    """Fails."""
    raise MailboxDown(f"mailbox {folder} is down")


def test_tool_exception_passes_through_unchanged_and_is_recorded(spans: Spans) -> None:
    with pytest.raises(MailboxDown, match="mailbox inbox is down"):
        flaky_inbox.invoke({"folder": "inbox"})
    span = spans.tool("flaky_inbox")
    attrs = dict(span.attributes or {})
    assert attrs[A.ERROR_TYPE].endswith("MailboxDown")  # type: ignore[union-attr]
    assert not span.status.is_ok


def test_tool_error_inside_a_graph_reaches_the_model_as_before(spans: Spans) -> None:
    model = ScriptedChatModel(replies=[call("flaky_inbox", {}, "c1"), AIMessage("sorry")])
    graph = _graph(model, [flaky_inbox])
    with agentaudit.context(agent="a", user="u", session="s"):
        out = graph.invoke(
            {"messages": [("user", "mail?")]}, config={"configurable": {"thread_id": "x"}}
        )
    errors = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert errors
    assert errors[0].status == "error"
    attrs = dict(spans.tool("flaky_inbox").attributes or {})
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "c1"
    assert str(attrs[A.ERROR_TYPE]).endswith("MailboxDown")


def test_concurrent_async_sessions_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str) -> None:
        model = ScriptedChatModel(replies=injection_script(prefix="call"))
        graph = _graph(model, [read_inbox, send_email])
        with agentaudit.context(agent="mail-assistant", user=name, session=f"sess-{name}"):
            await graph.ainvoke(
                {"messages": [("user", f"{name}: check my mail")]},
                config={"configurable": {"thread_id": f"thread-{name}"}},
            )

    async def both() -> None:
        await asyncio.gather(session("bob"), session("carol"))

    asyncio.run(both())
    sends = spans.tools("send_email")
    assert len(sends) == 2
    by_user = {str(s.attributes[A.ENDUSER_ID]): dict(s.attributes or {}) for s in sends}  # type: ignore[index]
    assert set(by_user) == {"bob", "carol"}
    chats = {
        (str(c.attributes[A.ENDUSER_ID]), str(c.attributes[A.PROMPT_HASH]))  # type: ignore[index]
        for c in spans.of(A.OPERATION_CHAT)
    }
    for user, attrs in by_user.items():
        assert attrs[A.SESSION_ID] == f"sess-{user}"
        assert attrs[A.GEN_AI_CONVERSATION_ID] == f"thread-{user}"
        assert (user, attrs[A.PROMPT_HASH]) in chats  # its own model input, not the other's
        assert "tool:read_inbox#call_1" in attrs[A.SOURCE_REFS]  # type: ignore[operator]
    assert by_user["bob"][A.PROMPT_HASH] != by_user["carol"][A.PROMPT_HASH]


def _review_script() -> list[AIMessage]:
    return [
        call("send_email", {"to": "x@corp.example", "body": "hi"}, "c1"),
        call("read_inbox", {"folder": "inbox"}, "c2"),
        AIMessage("done"),
    ]


def test_resume_after_interrupt_marks_the_pending_call_human_approved(spans: Spans) -> None:
    graph = _graph(
        ScriptedChatModel(replies=_review_script()), [read_inbox, send_email], review=True
    )
    config: Any = {"configurable": {"thread_id": "review-1"}}
    with agentaudit.context(agent="mail-assistant", user="bob", session="s"):
        graph.invoke({"messages": [("user", "email x")]}, config=config)
        assert graph.get_state(config).next == ("review",)  # paused for the human
        assert spans.tools("send_email") == []  # nothing ran before the human decided
        graph.invoke(Command(resume={"approved": True, "approver": "alice"}), config=config)
    send = dict(spans.tool("send_email").attributes or {})
    assert send[A.APPROVAL_STATUS] == "human"
    assert send[A.APPROVAL_APPROVER] == "alice"
    # The next model turn's call was not what alice approved.
    inbox = dict(spans.tool("read_inbox").attributes or {})
    assert inbox[A.APPROVAL_STATUS] == "none"
    assert A.APPROVAL_APPROVER not in inbox


def test_a_denying_resume_value_is_not_recorded_as_approval(spans: Spans) -> None:
    @tool
    def send_anyway(to: str) -> str:
        """A tool the app runs even though the reviewer said no."""
        return "sent"

    def node(state: MessagesState) -> dict[str, Any]:
        interrupt("ok?")
        return {"messages": [send_anyway.invoke({"to": "x"})]}

    graph = StateGraph(MessagesState)
    graph.add_node("act", node)
    graph.add_edge(START, "act")
    graph.add_edge("act", END)
    app = graph.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "deny"}}
    app.invoke({"messages": [("user", "go")]}, config=config)
    app.invoke(Command(resume="reject"), config=config)
    attrs = dict(spans.tool("send_anyway").attributes or {})
    assert attrs[A.APPROVAL_STATUS] == "none"


@pytest.mark.parametrize(
    ("resume", "expected"),
    [
        (True, ("approved", None)),
        ("approve", ("approved", None)),
        ("reject", ("denied", None)),
        (False, ("denied", None)),
        ({"approved": True, "approver": "alice"}, ("approved", "alice")),
        ({"type": "accept", "approved_by": "dan"}, ("approved", "dan")),
        ({"type": "edit", "args": {"to": "x"}, "reviewer": "fay"}, ("edited", "fay")),
        ({"type": "reject"}, ("denied", None)),
        ({"approved": False, "approver": "alice"}, ("denied", "alice")),
        (
            {"id-1": {"approved": True, "approver": "eve"}, "id-2": {"type": "accept"}},
            ("approved", "eve"),
        ),
        ({"id-1": {"approver": "eve"}, "id-2": {"decision": "deny"}}, ("denied", "eve")),
        ({"decisions": [{"type": "approve"}, {"type": "edit"}]}, ("edited", None)),
        # what the reader does not recognise is unknown, never an approval
        ("sure, whatever", ("unknown", None)),
        (42, ("unknown", None)),
        ({"approver": "eve"}, ("unknown", "eve")),
        ({"id-1": {"approved": True}, "id-2": {"note": "hm"}}, ("unknown", None)),
    ],
)
def test_approval_from_resume(resume: object, expected: tuple[str, str | None]) -> None:
    assert integration.approval_from_resume(resume) == expected


def test_an_unsupported_langchain_core_stays_off_with_one_warning(
    provider: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from langchain_core.tracers import context as tracer_context

    from agentaudit.instrumentation.langchain import _install

    before = list(tracer_context._configure_hooks)
    monkeypatch.setattr(_install, "_supported", ("langchain-core", (0, 1), (0, 2)))
    _version_check.reset_warnings()
    caplog.set_level(logging.WARNING, logger="agentaudit.instrumentation")
    agentaudit.instrument(tracer_provider=provider, integrations=["langchain"])
    integration.instrument()
    assert not integration.instrumented()
    assert list(tracer_context._configure_hooks) == before
    warnings = [r for r in caplog.records if "langchain-core" in r.getMessage()]
    assert len(warnings) == 1
    assert "outside the supported range >=0.1,<0.2" in warnings[0].getMessage()
    # The agent still works.
    assert read_inbox.invoke({"folder": "inbox"}).startswith("[email:msg-42]")
    _version_check.reset_warnings()


def test_tool_runs_without_a_call_id_are_matched_by_name_and_arguments(spans: Spans) -> None:
    """langchain-core < 1 does not pass tool_call_id to callbacks: match the pending call."""
    from uuid import uuid4

    from langchain_core.messages import HumanMessage
    from langchain_core.outputs import ChatGeneration, LLMResult

    handler = integration.handler()
    root, llm, tool_run = uuid4(), uuid4(), uuid4()
    with agentaudit.context(agent="a", user="u", session="s"):
        handler.on_chain_start({}, {"messages": []}, run_id=root)
        handler.on_chat_model_start({}, [[HumanMessage("go")]], run_id=llm, parent_run_id=root)
        reply = call("send_email", {"to": "x", "body": "b"}, "call_9")
        handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=reply)]]), run_id=llm)
        handler.on_tool_start(
            {"name": "send_email"},
            '{"to": "x", "body": "b"}',
            run_id=tool_run,
            parent_run_id=root,
            inputs={"body": "b", "to": "x"},
        )
        handler.on_tool_end("sent", run_id=tool_run)
        handler.on_chain_end({}, run_id=root)
    attrs = dict(spans.tool("send_email").attributes or {})
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_9"
    (chat,) = spans.of(A.OPERATION_CHAT)
    assert attrs[A.PROMPT_HASH] == (chat.attributes or {})[A.PROMPT_HASH]


def test_a_quarantined_agent_is_stopped_before_the_tool_runs(spans: Spans) -> None:
    from agentaudit.instrumentation import AgentQuarantined, add_before_tool_call

    ran: list[str] = []

    @tool
    def wire_money(to: str) -> str:
        """Moves money."""
        ran.append(to)
        return "done"

    def quarantine(info: Any) -> None:
        if info.agent_id == "rogue":
            raise AgentQuarantined(info.agent_id, "anomaly")

    remove = add_before_tool_call(quarantine)
    try:
        with (
            agentaudit.context(agent="rogue", user="u", session="s"),
            pytest.raises(AgentQuarantined, match="agent rogue is quarantined"),
        ):
            wire_money.invoke({"to": "acct-9"})
        with agentaudit.context(agent="fine", user="u", session="s"):
            assert wire_money.invoke({"to": "acct-1"}) == "done"
    finally:
        remove()
    assert ran == ["acct-1"]
    blocked, allowed = sorted(
        spans.tools("wire_money"), key=lambda s: str((s.attributes or {})[A.GEN_AI_AGENT_ID])
    )[::-1]
    assert (blocked.attributes or {})[A.DECISION] == "blocked"
    assert (allowed.attributes or {})[A.DECISION] == "allowed"


def test_streamed_and_abandoned_runs(spans: Spans, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    graph = _graph(ScriptedChatModel(replies=injection_script()), [read_inbox, send_email])
    with agentaudit.context(agent="a", user="u", session="s"):
        chunks = list(
            graph.stream(
                {"messages": [("user", "go")]}, config={"configurable": {"thread_id": "st-1"}}
            )
        )
    assert len(chunks) == 5  # agent, tools, agent, tools, agent
    assert len(spans.tools("send_email")) == 1

    async def abandon() -> None:
        model = ScriptedChatModel(replies=injection_script(prefix="ab"))
        stream = _graph(model, [read_inbox, send_email]).astream(
            {"messages": [("user", "go")]}, config={"configurable": {"thread_id": "st-2"}}
        )
        async for _ in stream:
            break  # the consumer walks away after the first model turn
        await stream.aclose()

    with agentaudit.context(agent="a", user="u", session="s2"):
        asyncio.run(abandon())
    # Nothing ran after the break, and later work in this context is not parented to the
    # abandoned run: a fresh tool call is a root span again.
    assert len(spans.tools("read_inbox")) == 1
    with agentaudit.context(agent="a", user="u", session="s3"):
        read_inbox.invoke({"folder": "inbox"})
    latest = [s for s in spans.tools("read_inbox") if (s.attributes or {})[A.SESSION_ID] == "s3"]
    assert len(latest) == 1
    assert latest[0].parent is None
    assert not [r for r in caplog.records if "detach" in r.getMessage()]
    assert not [r for r in caplog.records if r.name.startswith("agentaudit")]


def test_a_tool_that_interrupts_itself_records_the_pause_then_the_approved_run(
    spans: Spans,
) -> None:
    @tool
    def transfer(to: str) -> str:
        """Asks a human first."""
        decision = interrupt({"transfer to": to})
        return f"sent to {to} ({decision['approver']})"

    model = ScriptedChatModel(replies=[call("transfer", {"to": "acct-1"}, "t1"), AIMessage("ok")])
    app = _graph(model, [transfer])
    config: Any = {"configurable": {"thread_id": "self-interrupt"}}
    with agentaudit.context(agent="a", user="u", session="s"):
        app.invoke({"messages": [("user", "pay")]}, config=config)
        out = app.invoke(Command(resume={"approved": True, "approver": "ann"}), config=config)
    results = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert results == ["sent to acct-1 (ann)"]
    paused, approved = (dict(s.attributes or {}) for s in spans.tools("transfer"))
    assert paused[A.ERROR_TYPE] == "langgraph.errors.GraphInterrupt"
    assert paused[A.APPROVAL_STATUS] == "none"
    assert A.ERROR_TYPE not in approved
    assert approved[A.APPROVAL_STATUS] == "human"
    assert approved[A.APPROVAL_APPROVER] == "ann"
    assert approved[A.GEN_AI_TOOL_CALL_ID] == "t1"
    assert paused[A.GEN_AI_TOOL_CALL_ID] == "t1"
    (first_input, _) = (dict(c.attributes or {}) for c in spans.of(A.OPERATION_CHAT))
    assert approved[A.PROMPT_HASH] == paused[A.PROMPT_HASH] == first_input[A.PROMPT_HASH]
