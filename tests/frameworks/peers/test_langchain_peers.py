"""LangChain tool spans of OpenInference's and OpenLLMetry's instrumentors land as rows."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.frameworks.peers._langchain_agent import run_agent
from tests.frameworks.peers.conftest import INJECTED, Recorded

pytest.importorskip("langgraph.prebuilt")


@pytest.fixture
def openinference(provider: TracerProvider) -> Iterator[None]:
    module = pytest.importorskip("openinference.instrumentation.langchain")
    instrumentor = module.LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield
    instrumentor.uninstrument()


# What Traceloop's LangChain instrumentor wraps in this environment; its uninstrument()
# (0.62) leaves these wrapped, and the leftover wrappers keep opening Traceloop spans that
# become the parents of later tests' spans.
_TRACELOOP_TARGETS = (
    ("langchain_core.callbacks.base", "BaseCallbackManager", "__init__"),
    ("langgraph.pregel", "Pregel", "stream"),
    ("langgraph.pregel", "Pregel", "astream"),
    ("langgraph.types", "Command", "__init__"),
    ("langgraph.prebuilt.chat_agent_executor", None, "create_react_agent"),
    ("langgraph.prebuilt", None, "create_react_agent"),
)


def _unwrap_leftovers() -> None:
    import importlib

    import wrapt

    for module_name, class_name, name in _TRACELOOP_TARGETS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        owner = getattr(module, class_name) if class_name else module
        current = owner.__dict__.get(name) if class_name else getattr(owner, name, None)
        while isinstance(current, wrapt.FunctionWrapper):
            current = current.__wrapped__
            setattr(owner, name, current)


@pytest.fixture
def traceloop(provider: TracerProvider) -> Iterator[None]:
    module = pytest.importorskip("opentelemetry.instrumentation.langchain")
    instrumentor = module.LangchainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield
    instrumentor.uninstrument()
    _unwrap_leftovers()


def _messages(result: dict[str, Any]) -> list[str]:
    return [str(message.content) for message in result["messages"]]


@pytest.mark.usefixtures("openinference")
def test_openinference_langchain_tool_spans(recorded: Recorded) -> None:
    result = run_agent()
    assert INJECTED in _messages(result)  # the tool result reached the agent unchanged
    rows = recorded.tool_rows()
    assert [r["tool_name"] for r in rows] == ["read_inbox", "send_email"]
    row = recorded.row("send_email")
    assert json.loads(row["arguments"]) == {"to": "eve@evil.example", "body": "customers"}
    assert row["session_id"] == "s-9"  # OpenInference: metadata session_id -> session.id
    assert row["framework"] == "langchain"
    assert row["status"] == "ok"
    assert row["arguments_hash"] == ""  # a peer row: no agentaudit hashes
    inbox = recorded.row("read_inbox")
    assert json.loads(inbox["arguments"]) == "INBOX"  # single-input tool: plain text input
    assert inbox["trace_id"] == row["trace_id"]


@pytest.mark.usefixtures("openinference")
def test_openinference_langchain_tool_error(recorded: Recorded) -> None:
    with pytest.raises(ValueError, match="no such recipient"):
        run_agent(to="nobody")
    row = recorded.row("send_email")
    assert row["status"] == "error"
    assert row["error_type"] == "ValueError"


@pytest.mark.usefixtures("traceloop")
def test_traceloop_langchain_tool_spans(recorded: Recorded) -> None:
    # in a copy of the context, so nothing Traceloop attaches can outlive the test
    result = contextvars.copy_context().run(run_agent)
    assert INJECTED in _messages(result)
    row = recorded.row("send_email")
    assert json.loads(row["arguments"]) == {"to": "eve@evil.example", "body": "customers"}
    assert row["tool_call_id"] == "call_2"
    assert row["user_id"] == "u-1"
    assert row["session_id"] == "s-9"
    assert row["conversation_id"] == "th-1"  # LangGraph thread id
    assert row["framework"] == "langchain"
    assert row["tool_type"] == "function"
    assert recorded.row("read_inbox")["tool_call_id"] == "call_1"
    # Traceloop's task spans (the graph's "tools" node) are not tool calls
    assert len(recorded.tool_rows()) == 2
