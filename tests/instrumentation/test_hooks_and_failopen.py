"""before_tool_call hooks (the quarantine seam) and fail-open behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.instrumentation import AgentQuarantined, ToolCallInfo, _state, add_before_tool_call
from agentaudit.instrumentation.runtime import tool_call
from agentaudit.schema import attributes as A

from .conftest import Spans

calls: list[str] = []


@agentaudit.audited_tool(resource="doc:{doc}", scopes=["docs.write"])
def delete(doc: str) -> str:
    calls.append(doc)
    return "deleted"


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    calls.clear()
    yield
    calls.clear()


def test_quarantine_hook_blocks_and_records_the_decision(spans: Spans) -> None:
    seen: list[ToolCallInfo] = []

    def quarantine(info: ToolCallInfo) -> None:
        seen.append(info)
        if info.agent_id == "rogue":
            raise AgentQuarantined(info.agent_id, "finding F-1")

    remove = add_before_tool_call(quarantine)
    try:
        with (
            agentaudit.context(agent="rogue", user="u", session="s"),
            pytest.raises(AgentQuarantined, match="rogue is quarantined: finding F-1"),
        ):
            delete("d-1")
        with agentaudit.context(agent="good", user="u", session="s"):
            assert delete("d-2") == "deleted"
    finally:
        remove()
    assert calls == ["d-2"]
    blocked, allowed = spans.tools()
    blocked_attrs = blocked.attributes or {}
    assert blocked_attrs[A.DECISION] == "blocked"
    assert blocked.status.status_code is StatusCode.ERROR
    assert str(blocked_attrs[A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert blocked_attrs[A.RESOURCE_IDS] == ("doc:d-1",)
    assert (allowed.attributes or {})[A.DECISION] == "allowed"
    assert seen[0].scopes == ("docs.write",)
    assert seen[0].resource_ids == ("doc:d-1",)
    assert seen[0].arguments == {"doc": "d-1"}


def test_hook_may_add_attributes_and_a_broken_hook_is_ignored(spans: Spans) -> None:
    def broken(info: ToolCallInfo) -> None:
        raise RuntimeError("hook bug")

    def mint(info: ToolCallInfo) -> dict[str, Any]:
        return {A.CREDENTIAL_ID: "jit-1", A.CREDENTIAL_SCOPES: info.scopes}

    removers = [add_before_tool_call(broken), add_before_tool_call(mint)]
    try:
        assert delete("d-3") == "deleted"
    finally:
        for remove in removers:
            remove()
    attrs = spans.tool("delete").attributes or {}
    assert attrs[A.CREDENTIAL_ID] == "jit-1"
    assert attrs[A.CREDENTIAL_SCOPES] == ("docs.write",)


class ExplodingProvider(TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracing is broken")


def test_broken_tracing_never_breaks_the_tool(spans: Spans) -> None:
    _state.set_tracer_provider(None)
    agentaudit.instrument(tracer_provider=ExplodingProvider(), integrations=())
    assert delete("d-4") == "deleted"
    assert calls == ["d-4"]
    assert agentaudit.record_prompt([{"role": "user", "content": "hi"}]) is None


def test_runtime_tool_call_for_integrations(spans: Spans) -> None:
    with agentaudit.context(agent="a", user="u", session="s"):
        with tool_call(
            "search",
            framework="langchain",
            call_id="call_1",
            arguments={"q": "weather"},
            tool_type="extension",
        ) as call:
            call.result = "It is sunny in Lyon today, 24 degrees."
        assert call.source_ref == "tool:search#call_1"
        agentaudit.record_prompt(
            [{"role": "tool", "content": "It is sunny in Lyon today, 24 degrees."}]
        )
        with pytest.raises(KeyError), tool_call("lookup", framework="langchain", call_id="call_2"):
            raise KeyError("missing")
    search = spans.tool("search").attributes or {}
    assert search[A.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert search[A.FRAMEWORK] == "langchain"
    assert search[A.GEN_AI_TOOL_TYPE] == "extension"
    lookup = spans.tool("lookup")
    assert (lookup.attributes or {})[A.SOURCE_REFS] == ("tool:search#call_1",)
    assert (lookup.attributes or {})[A.ERROR_TYPE] == "KeyError"


def test_runtime_accepts_model_json_arguments_and_plain_values(spans: Spans) -> None:
    with tool_call("a", framework="x", arguments='{"to": "bob", "n": 2}', resource="mail:{to}"):
        pass
    with tool_call("b", framework="x", arguments="just text"):
        pass
    a = spans.tool("a").attributes or {}
    b = spans.tool("b").attributes or {}
    assert a[A.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"n":2,"to":"bob"}'
    assert a[A.RESOURCE_IDS] == ("mail:bob",)
    assert b[A.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"input":"just text"}'


LIGHT_IMPORT = """
import sys
import agentaudit
import agentaudit.auto
heavy = {"chdb", "clickhouse_connect", "pyarrow", "streamlit", "pandas", "starlette", "uvicorn"}
print(sorted(heavy & {m.split(".")[0] for m in sys.modules}))
"""


def test_importing_agentaudit_stays_light() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", LIGHT_IMPORT],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"AGENTAUDIT_QUARANTINE_CHECK": "0", "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_a_failing_resource_callable_costs_only_the_resource_ids(spans: Spans) -> None:
    @agentaudit.audited_tool(resource=lambda args: args["missing"])
    def tool(x: int) -> int:
        return x

    assert tool(3) == 3
    attrs = spans.tool("tool").attributes or {}
    assert A.RESOURCE_IDS not in attrs
    assert attrs[A.ARGUMENTS_HASH]
