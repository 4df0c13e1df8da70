"""The calendar sessions: a LangGraph agent whose tools live on an MCP server subprocess.

For each user the scripted model lists tomorrow's events, then asks to create a prep
slot; the graph interrupts before writing the calendar (``interrupt()``), and the user
approves by resuming it with ``Command(resume={"approved": True, "approver": user})``.
The tools are LangChain tools that call the MCP server over stdio
(``python -m agentaudit.demo.mcp_server``): the agent side records one span per tool
run (LangChain integration; the MCP client marks it as the call's client side), the
server records a SERVER span parented to it with the same user, session, approval and
tool-call id (MCP integration, context carried in ``_meta``). Both are stored; the
``agentaudit.calls`` view and the dashboards count each call once.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from langchain_core.messages import AIMessage
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, interrupt
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

import agentaudit
from agentaudit.demo import data
from agentaudit.demo._model import ScriptedChatModel, tool_call

__all__ = ["SERVER_MODULE", "run_calendar_sessions"]

SERVER_MODULE = "agentaudit.demo.mcp_server"
_WRITES = frozenset({"create_event"})


def _server_environment() -> dict[str, str]:
    """What the server needs to export like the agent: OTEL_* and AGENTAUDIT_* only."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("OTEL_", "AGENTAUDIT_"))}
    env["OTEL_SERVICE_NAME"] = "agentaudit-demo-calendar-server"
    return env


def _errlog() -> TextIO:
    """Where the server's stderr goes: ours, when it is a real file (not a capture)."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__ or sys.stderr
    return sys.stderr


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def _mcp_tools(session: ClientSession) -> list[StructuredTool]:
    """LangChain tools backed by the MCP server's tools of the same names."""

    async def list_events(owner: str, day: str) -> str:
        """List the events of someone's calendar day."""
        return _text(await session.call_tool("list_events", {"owner": owner, "day": day}))

    async def create_event(owner: str, title: str, day: str) -> str:
        """Create an event in someone's calendar."""
        arguments = {"owner": owner, "title": title, "day": day}
        return _text(await session.call_tool("create_event", arguments))

    return [
        StructuredTool.from_function(coroutine=list_events),
        StructuredTool.from_function(coroutine=create_event),
    ]


def _graph(model: ScriptedChatModel, tools: list[StructuredTool]) -> Any:
    """agent -> (review, for calendar writes) -> tools -> agent, until a final answer."""

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        if not (isinstance(last, AIMessage) and last.tool_calls):
            return END
        return "review" if any(c["name"] in _WRITES for c in last.tool_calls) else "tools"

    def review(state: MessagesState) -> Command[Any]:
        last = state["messages"][-1]
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        decision = interrupt({"question": "Write to the calendar?", "tool_calls": calls})
        approved = not (isinstance(decision, dict) and decision.get("approved") is False)
        return Command(goto="tools" if approved else END)

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("review", review)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["review", "tools", END])
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


def _script(user: str) -> list[AIMessage]:
    return [
        tool_call("list_events", {"owner": user, "day": data.DAY}, f"call_list_{user}"),
        tool_call(
            "create_event",
            {"owner": user, "title": "Prep: Quarterly review", "day": data.DAY},
            f"call_create_{user}",
            "You have the quarterly review tomorrow; adding a prep slot.",
        ),
        AIMessage("Added a prep slot before tomorrow's quarterly review."),
    ]


async def _session(session: ClientSession, user: str, session_id: str) -> None:
    graph = _graph(ScriptedChatModel(replies=_script(user)), _mcp_tools(session))
    config: Any = {"configurable": {"thread_id": f"thread-{user}-calendar"}}
    credential = data.CALENDAR_CREDENTIAL
    with (
        agentaudit.context(agent=data.CALENDAR_AGENT, user=user, session=session_id),
        agentaudit.credential(credential["id"], scopes=credential["scopes"]),
    ):
        await graph.ainvoke(
            {"messages": [("user", "What is on my calendar tomorrow? Add a prep slot.")]},
            config=config,
        )
        if (await graph.aget_state(config)).next:  # paused: the user reviews the write
            await graph.ainvoke(Command(resume={"approved": True, "approver": user}), config)


async def run_calendar_sessions() -> None:
    """Both calendar sessions, over one stdio connection to the MCP server subprocess."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", SERVER_MODULE], env=_server_environment()
    )
    async with (
        stdio_client(params, errlog=_errlog()) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for user, session_id in data.CALENDAR_SESSIONS:
            await _session(session, user, session_id)
