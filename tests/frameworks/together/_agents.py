"""The injected-ticket scenario (``tests/frameworks/ticket.py``) on each framework's agent.

Each runner builds that framework's agent around its documented custom-model extension
point - the scripted model classes of the framework's own tests
(``tests/frameworks/<framework>/_scripted.py``, or its ``test_ticket.py`` where the
custom model is defined there) - runs it once as its own agent / user / session, and
returns what happened: the tool calls its model asked for (counted from the script,
not from any span) and what the refund tool was called with. Where a framework's
ticket test already defines the ticket tools, they are reused; for the others (and the
MCP server) the same two tools are defined here once.

MCP has no model of its own: its agent is a host that drives an SDK ``ClientSession``
against a real MCP server (Streamable HTTP on a loopback socket, in this process, so its
spans go through the same exporter) and gives its model input to
``agentaudit.record_prompt`` - the API for hosts without a framework integration.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import agentaudit
from tests.frameworks.ticket import REFUND, TICKET_ID, refund, ticket_text

__all__ = ["FRAMEWORKS", "PLAN", "TASK", "Outcome", "session_of"]

TASK = f"Handle ticket {TICKET_ID}."
FINAL = "Handled."


@dataclass(frozen=True)
class Planned:
    """One tool call the scripted model asks for."""

    call_id: str
    name: str
    arguments: dict[str, Any]


PLAN: tuple[Planned, ...] = (
    Planned("call_t", "read_ticket", {"ticket_id": TICKET_ID}),
    Planned("call_r", "issue_refund", dict(REFUND)),
)
"""The script of every agent: read the ticket, then (obeying it) refund; then answer."""


@dataclass(frozen=True)
class Outcome:
    framework: str
    planned_calls: int
    """The tool calls the framework's scripted model asked for (from its script)."""
    refunds: list[dict[str, Any]]
    """What the refund tool was called with, by the tool itself."""


def session_of(framework: str) -> str:
    return f"sess-{framework}"


@contextmanager
def _as(framework: str) -> Iterator[None]:
    with agentaudit.context(
        agent=f"support-{framework}", user="carol", session=session_of(framework)
    ):
        yield


# -- the two tools, for the frameworks whose ticket test has none --------------------

refunds: list[dict[str, Any]] = []


def read_ticket(ticket_id: str) -> str:
    """Read a support ticket.

    Args:
        ticket_id: The ticket.
    """
    return ticket_text(ticket_id)


def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order.

    Args:
        order_id: The order.
        amount: The amount.
    """
    refunds.append({"order_id": order_id, "amount": amount})
    return refund(order_id, amount)


def _ran(framework: str, planned: int, ledger: list[dict[str, Any]]) -> Outcome:
    done = Outcome(framework, planned, list(ledger))
    ledger.clear()
    return done


# -- one runner per framework ---------------------------------------------------------


def run_langchain() -> Outcome:
    from langchain_core.messages import AIMessage
    from langchain_core.tools import StructuredTool

    from tests.frameworks.langchain._scripted import ScriptedChatModel, call

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moved to langchain.agents in langgraph 1.x
        from langgraph.prebuilt import create_react_agent

        model = ScriptedChatModel(
            replies=[*(call(p.name, p.arguments, p.call_id) for p in PLAN), AIMessage(FINAL)]
        )
        tools = [
            StructuredTool.from_function(read_ticket),
            StructuredTool.from_function(issue_refund),
        ]
        agent: Any = create_react_agent(model, tools)
    with _as("langchain"):
        agent.invoke({"messages": [("user", TASK)]})
    return _ran("langchain", len(PLAN), refunds)


def run_openai_agents() -> Outcome:
    from agents import Runner

    from tests.frameworks.openai_agents import test_ticket as ticket

    model = ticket.support_model()
    planned = sum(item.type == "function_call" for turn in model.turns for item in turn)
    with _as("openai_agents"):
        Runner.run_sync(ticket.support_agent(model), TASK)
    return _ran("openai_agents", planned, ticket.refunds)


def run_pydantic_ai() -> Outcome:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    async def script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = sum(1 for message in messages if message.kind == "response")
        if turn < len(PLAN):
            step = PLAN[turn]
            return ModelResponse(parts=[ToolCallPart(step.name, step.arguments, step.call_id)])
        return ModelResponse(parts=[TextPart(FINAL)])

    agent: Agent[Any, Any] = Agent(FunctionModel(script), name="support_agent")
    agent.tool_plain(read_ticket)
    agent.tool_plain(issue_refund)
    with _as("pydantic_ai"):
        agent.run_sync(TASK)
    return _ran("pydantic_ai", len(PLAN), refunds)


def run_llama_index() -> Outcome:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.llms import ChatMessage
    from llama_index.core.llms.llm import ToolSelection
    from llama_index.core.llms.mock import MockFunctionCallingLLM
    from llama_index.core.tools import FunctionTool

    seen: list[Any] = []

    def script(messages: Any, **kwargs: Any) -> ChatMessage:
        seen.append(list(messages))
        turn = len(seen) - 1
        if turn >= len(PLAN):
            return ChatMessage(role="assistant", content=FINAL)
        step = PLAN[turn]
        selection = ToolSelection(
            tool_id=step.call_id, tool_name=step.name, tool_kwargs=step.arguments
        )
        return ChatMessage(
            role="assistant", content="", additional_kwargs={"tool_calls": [selection]}
        )

    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(read_ticket), FunctionTool.from_defaults(issue_refund)],
        llm=MockFunctionCallingLLM(response_generator=script),
        name="support_agent",
        description="Resolves tickets.",
    )

    async def main() -> None:
        await agent.run(TASK)

    with _as("llama_index"):
        asyncio.run(main())
    return _ran("llama_index", len(PLAN), refunds)


def run_crewai() -> Outcome:
    from crewai import Agent, Crew, Task

    from tests.frameworks.crewai import test_ticket as ticket

    agent = Agent(
        role="Support agent",
        goal="Resolve tickets",
        backstory="A careful assistant.",
        llm=ticket.GatewayLLM(model="gateway-1"),
        tools=[ticket.read_ticket, ticket.issue_refund],
        verbose=False,
    )
    task = Task(description=TASK, expected_output="A reply", agent=agent)
    with _as("crewai"):
        Crew(agents=[agent], tasks=[task], verbose=False).kickoff()
    return _ran("crewai", 2, ticket.refunds)  # GatewayLLM: read, refund, answer


def run_smolagents() -> Outcome:
    from smolagents import ToolCallingAgent

    from tests.frameworks.smolagents import test_ticket as ticket

    agent = ToolCallingAgent(
        tools=[ticket.read_ticket, ticket.issue_refund],
        model=ticket.GatewayModel(),
        max_steps=5,
        verbosity_level=0,
    )
    with _as("smolagents"):
        agent.run(TASK)
    # GatewayModel: read, refund, then final_answer - a tool call in smolagents too.
    return _ran("smolagents", 3, ticket.refunds)


def run_google_adk() -> Outcome:
    from google.adk.agents import LlmAgent

    from tests.frameworks.google_adk import test_ticket as ticket
    from tests.frameworks.google_adk._scripted import ScriptedLlm, call, run, text

    model = ScriptedLlm(
        model="gateway-1",
        replies=[*(call(p.call_id, p.name, p.arguments) for p in PLAN), text(FINAL)],
    )
    agent = LlmAgent(
        name="support_agent",
        model=model,
        instruction="Resolve tickets.",
        tools=[ticket.read_ticket, ticket.issue_refund],
    )
    with _as("google_adk"):
        run(agent, TASK)
    return _ran("google_adk", len(PLAN), ticket.refunds)


def run_strands() -> Outcome:
    from strands import Agent

    from tests.frameworks.strands import test_ticket as ticket
    from tests.frameworks.strands._scripted import ScriptedModel, call, text

    model = ScriptedModel([*(call(p.call_id, p.name, p.arguments) for p in PLAN), text(FINAL)])
    agent = Agent(
        model=model,
        tools=[ticket.read_ticket, ticket.issue_refund],
        system_prompt="Resolve tickets.",
        name="support_agent",
        callback_handler=None,
    )
    with _as("strands"):
        agent(TASK)
    return _ran("strands", len(PLAN), ticket.refunds)


def run_agno() -> Outcome:
    from agno.agent import Agent

    from tests.frameworks.agno import test_ticket as ticket
    from tests.frameworks.agno._scripted import ScriptedModel, call, text

    model = ScriptedModel(
        replies=[*(call(p.call_id, p.name, p.arguments) for p in PLAN), text(FINAL)]
    )
    agent = Agent(
        name="support_agent",
        model=model,
        tools=[ticket.read_ticket, ticket.issue_refund],
        instructions="Resolve tickets.",
    )
    with _as("agno"):
        agent.run(TASK)
    return _ran("agno", len(PLAN), ticket.refunds)


def run_autogen() -> Outcome:
    from autogen_agentchat.agents import AssistantAgent

    from tests.frameworks.autogen import test_ticket as ticket
    from tests.frameworks.autogen._scripted import ScriptedClient, call, text

    client = ScriptedClient([*(call(p.call_id, p.name, p.arguments) for p in PLAN), text(FINAL)])
    agent = AssistantAgent(
        "support_agent",
        model_client=client,
        tools=[ticket.read_ticket, ticket.issue_refund],
        system_message="Resolve tickets.",
        max_tool_iterations=5,
    )
    with _as("autogen"):
        asyncio.run(agent.run(task=TASK))
    return _ran("autogen", len(PLAN), ticket.refunds)


class HostModel:
    """The MCP host's model: the next planned call for the messages it is given (which
    the host hands to ``agentaudit.record_prompt`` as the model input)."""

    def __init__(self) -> None:
        self.seen: list[list[dict[str, Any]]] = []

    def next_call(self, messages: list[dict[str, Any]]) -> Planned | None:
        self.seen.append([dict(m) for m in messages])
        turn = len(self.seen) - 1
        return PLAN[turn] if turn < len(PLAN) else None


def run_mcp() -> Outcome:
    from mcp.client.session import ClientSession

    from tests.frameworks.mcp._client import serving
    from tests.frameworks.mcp._sdk import MCPServer, http_streams

    server = MCPServer("support-tools")
    server.tool()(read_ticket)
    server.tool()(issue_refund)
    model = HostModel()

    async def host(url: str) -> None:
        async with http_streams(url) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            messages: list[dict[str, Any]] = [{"role": "user", "content": TASK}]
            while True:
                agentaudit.record_prompt(messages, model="gateway-1")
                step = model.next_call(messages)
                if step is None:
                    return
                result = await session.call_tool(step.name, step.arguments)
                content = "".join(getattr(block, "text", "") for block in result.content)
                messages.append({"role": "tool", "name": step.name, "content": content})

    with serving(server.streamable_http_app()) as url, _as("mcp"):
        asyncio.run(host(url))
    return _ran("mcp", len(PLAN), refunds)


FRAMEWORKS: dict[str, Callable[[], Outcome]] = {
    "mcp": run_mcp,
    "langchain": run_langchain,
    "openai_agents": run_openai_agents,
    "pydantic_ai": run_pydantic_ai,
    "llama_index": run_llama_index,
    "crewai": run_crewai,
    "smolagents": run_smolagents,
    "google_adk": run_google_adk,
    "strands": run_strands,
    "agno": run_agno,
    "autogen": run_autogen,
}
"""Every supported framework (``agentaudit.instrumentation``'s integrations), by the
``agentaudit.framework`` its spans carry."""
