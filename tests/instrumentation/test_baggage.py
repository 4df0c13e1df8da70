"""User and session travel in W3C baggage to a tool server in another process."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import propagate, trace

import agentaudit
from agentaudit.schema import attributes as A

from .conftest import Spans

SERVER = Path(__file__).parent / "agents" / "tool_server.py"


@pytest.fixture
def tool_server() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(SERVER)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.stderr else ""
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(timeout=30)


def _call(url: str, key: str) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    propagate.inject(headers)
    request = urllib.request.Request(
        url + "/tools/lookup", data=json.dumps({"key": key}).encode(), headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@agentaudit.audited_tool
def remote_lookup(url: str, key: str) -> dict[str, object]:
    return _call(url, key)


def test_downstream_process_records_the_originating_user_and_session(
    spans: Spans, tool_server: str
) -> None:
    with agentaudit.context(agent="planner", user="alice", session="sess-9"):
        remote = remote_lookup(tool_server, "abc")
    attrs = remote["attributes"]
    assert isinstance(attrs, dict)
    assert attrs[A.ENDUSER_ID] == "alice"
    assert attrs[A.SESSION_ID] == "sess-9"
    assert attrs[A.GEN_AI_AGENT_ID] == "planner"
    local = spans.tool("remote_lookup")
    # Same trace, and the remote tool span is a child of the local tool-call span.
    assert remote["trace_id"] == format(local.context.trace_id, "032x")
    assert remote["parent_span_id"] == format(local.context.span_id, "016x")


def test_without_context_nothing_is_invented(spans: Spans, tool_server: str) -> None:
    assert trace.get_current_span() is trace.INVALID_SPAN
    remote = _call(tool_server, "x")
    attrs = remote["attributes"]
    assert isinstance(attrs, dict)
    assert A.ENDUSER_ID not in attrs
    assert A.SESSION_ID not in attrs
