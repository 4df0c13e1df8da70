"""audited_tool: the contract span for sync and async tools, errors, resources, results."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.instrumentation._canonical import canonical_json, digest
from agentaudit.schema import attributes as A

from .conftest import Spans


@agentaudit.audited_tool
def lookup(city: str, days: int = 1) -> dict[str, object]:
    return {"city": city, "forecast": ["sun"] * days}


@agentaudit.audited_tool(name="calendar.delete", resource="calendar:{event_id}", scopes=["cal.w"])
async def delete_event(event_id: str) -> None:
    await asyncio.sleep(0)


class Boom(RuntimeError):
    pass


@agentaudit.audited_tool(resource=lambda args: [f"file:{p}" for p in args["paths"]])
def explode(paths: list[str]) -> None:
    raise Boom("nope")


def test_bare_sync_tool_records_the_contract(spans: Spans) -> None:
    result = lookup("Paris", days=2)
    assert result == {"city": "Paris", "forecast": ["sun", "sun"]}
    span = spans.tool("lookup")
    attrs = span.attributes or {}
    assert span.name == "execute_tool lookup"
    assert attrs[A.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert attrs[A.GEN_AI_TOOL_TYPE] == "function"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"city": "Paris", "days": 2}
    assert attrs[A.ARGUMENTS_HASH] == digest(canonical_json({"city": "Paris", "days": 2}))
    assert attrs[A.RESULT_HASH] == digest(canonical_json(result))
    assert attrs[A.RESULT_SIZE] == len(canonical_json(result))
    assert A.GEN_AI_TOOL_CALL_RESULT not in attrs  # results are opt-in
    assert attrs[A.APPROVAL_STATUS] == "none"
    assert attrs[A.DECISION] == "allowed"


def test_async_tool_with_name_and_resource_template(spans: Spans) -> None:
    asyncio.run(delete_event("evt-12345"))
    attrs = spans.tool("calendar.delete").attributes or {}
    assert attrs[A.RESOURCE_IDS] == ("calendar:evt-12345",)


def test_tool_exception_passes_through_unchanged(spans: Spans) -> None:
    with pytest.raises(Boom, match="nope") as caught:
        explode(["a.txt", "b.txt"])
    assert isinstance(caught.value, Boom)
    span = spans.tool("explode")
    attrs = span.attributes or {}
    assert span.status.status_code is StatusCode.ERROR
    assert attrs[A.ERROR_TYPE].endswith("Boom")
    assert attrs[A.RESOURCE_IDS] == ("file:a.txt", "file:b.txt")


def test_tool_result_becomes_an_untrusted_source_of_the_next_prompt(spans: Spans) -> None:
    with agentaudit.context(agent="a", user="u", session="s"):
        forecast = lookup("Lyon", days=3)
        agentaudit.record_prompt([{"role": "tool", "content": json.dumps(forecast)}])
        lookup("Nice")
    first, second = spans.tools()
    first_id = format(first.context.span_id, "016x")
    attrs = second.attributes or {}
    assert attrs[A.SOURCE_REFS] == (f"tool:lookup#{first_id}",)
    assert attrs[A.SOURCE_KINDS] == ("tool_result",)
    assert attrs[A.SOURCE_TRUST] == ("untrusted",)
    assert attrs[A.SOURCE_HASHES] == ((first.attributes or {})[A.RESULT_HASH],)


def test_tool_span_is_current_inside_the_tool(spans: Spans, provider: object) -> None:
    from opentelemetry import trace

    seen: list[int] = []

    @agentaudit.audited_tool
    def inner() -> None:
        seen.append(trace.get_current_span().get_span_context().span_id)

    inner()
    assert seen == [spans.tool("inner").context.span_id]


def test_uninstrument_turns_wrappers_into_pass_through(spans: Spans) -> None:
    agentaudit.uninstrument()
    assert lookup("Oslo") == {"city": "Oslo", "forecast": ["sun"]}
    assert spans.tools() == []
