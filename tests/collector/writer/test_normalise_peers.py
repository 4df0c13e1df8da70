"""collector.normalise: peers' tool spans (OpenInference, Traceloop, Pydantic AI, MCP SDK).

The attribute shapes are those recorded from the real instrumentors (see
tests/frameworks/peers, which drives them); here each mapping rule is pinned on its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentaudit.collector.model import SpanEvent, SpanRecord
from agentaudit.collector.writer.normalise import duplicates, is_tool_call, tool_call_row
from agentaudit.schema import attributes as A
from agentaudit.schema import peers as P


def span(name: str, attributes: dict[str, Any], **fields: Any) -> SpanRecord:
    ids = {"trace_id": "1" * 32, "span_id": "2" * 16, **fields}
    record = SpanRecord(name=name, start_ns=10, end_ns=20, **ids)
    record.attributes = attributes
    return record


def row(record: SpanRecord) -> dict[str, Any]:
    assert is_tool_call(record)
    return tool_call_row(record, received_ns=30)


OI_SCOPE = "openinference.instrumentation.langchain"
TL_SCOPE = "opentelemetry.instrumentation.langchain"


def test_openinference_tool_span() -> None:
    record = span(
        "send_email",
        {
            P.OI_SPAN_KIND: "TOOL",
            P.OI_TOOL_NAME: "send_email",
            P.OI_TOOL_PARAMETERS: '{"type":"object","properties":{"to":{}}}',
            P.OI_INPUT_VALUE: '{"to": "eve@evil.example"}',
            P.OI_INPUT_MIME_TYPE: P.OI_MIME_JSON,
            A.SESSION_ID: "s-9",
            P.OI_USER_ID: "u-1",
            P.OI_AGENT_NAME: "mailer",
            P.OI_TOOL_CALL_ID: "call_2",
        },
        scope_name=OI_SCOPE,
    )
    result = row(record)
    assert result["tool_name"] == "send_email"
    # the arguments, never the parameter schema
    assert json.loads(result["arguments"]) == {"to": "eve@evil.example"}
    assert result["session_id"] == "s-9"
    assert result["user_id"] == "u-1"
    assert result["agent_name"] == result["agent_id"] == "mailer"
    assert result["tool_call_id"] == "call_2"
    assert result["framework"] == "langchain"
    assert result["status"] == "ok"
    # only agentaudit computes hashes and source arrays
    assert result["arguments_hash"] == result["prompt_hash"] == result["result_hash"] == ""
    assert result["source_refs"] == []
    assert result["untrusted_source"] == 0


def test_openinference_plain_text_input_becomes_a_json_string() -> None:
    record = span(
        "read_inbox",
        {P.OI_SPAN_KIND: "TOOL", P.OI_TOOL_NAME: "read_inbox", P.OI_INPUT_VALUE: "INBOX"},
    )
    assert json.loads(row(record)["arguments"]) == "INBOX"


def test_openinference_tool_id_is_the_fallback_call_id() -> None:
    record = span("t", {P.OI_SPAN_KIND: "TOOL", P.OI_TOOL_NAME: "t", P.OI_TOOL_ID: "call_9"})
    assert row(record)["tool_call_id"] == "call_9"


@pytest.mark.parametrize(
    ("name", "attributes", "expected"),
    [
        ("search", {P.OI_SPAN_KIND: "TOOL", P.OI_TOOL_NAME: "search"}, True),
        ("search", {P.OI_SPAN_KIND: "TOOL"}, True),  # named by the span
        ("handoff to Billing", {P.OI_SPAN_KIND: "TOOL"}, False),  # a handoff: context only
        ("ChatOpenAI", {P.OI_SPAN_KIND: "LLM"}, False),
        ("agent", {P.OI_SPAN_KIND: "AGENT"}, False),
        ("execute_tool send_email", {P.TL_SPAN_KIND: "tool"}, True),
        ("send_email.tool", {P.TL_SPAN_KIND: "tool"}, True),  # older Traceloop
        (
            "execute_task tools",
            {P.TL_SPAN_KIND: "task", A.GEN_AI_OPERATION_NAME: "execute_task"},
            False,
        ),
        ("running tool", {A.GEN_AI_TOOL_NAME: "x"}, True),  # Pydantic AI v1 instrumentation
        ("running tools", {"tools": ["x"]}, False),  # Pydantic AI's parent of parallel calls
        ("running tool", {}, False),
        (
            "execute_tool approve_refund",
            {A.GEN_AI_OPERATION_NAME: "execute_tool", P.PAI_DEFERRAL: "ApprovalRequired"},
            False,  # deferred for approval: it did not run
        ),
        ("tools/call send_email", {A.GEN_AI_OPERATION_NAME: "execute_tool"}, True),  # MCP SDK
        ("MCP send tools/call send_email", {P.MCP_METHOD_NAME: "tools/call"}, False),
    ],
)
def test_is_tool_call_for_peers(name: str, attributes: dict[str, Any], expected: bool) -> None:
    assert is_tool_call(span(name, attributes)) is expected


def _traceloop(envelope: Any) -> dict[str, Any]:
    return {
        P.TL_SPAN_KIND: "tool",
        P.TL_ENTITY_NAME: "send_email",
        A.GEN_AI_OPERATION_NAME: "execute_tool",
        A.GEN_AI_TOOL_NAME: "send_email",
        P.TL_ENTITY_INPUT: json.dumps(envelope),
        A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(envelope),
        P.TL_USER_ID: "u-1",
        P.TL_SESSION_ID: "s-9",
        P.TL_THREAD_ID: "th-1",
    }


def test_traceloop_langchain_tool_span_unwraps_the_input_envelope() -> None:
    envelope = {
        "input_str": "{'to': 'eve@evil.example'}",
        "tags": ["seq:step:1"],
        "metadata": {"thread_id": "th-1"},
        "inputs": {"to": "eve@evil.example"},
        "kwargs": {"color": "green", "name": None, "tool_call_id": "call_2"},
    }
    result = row(span("execute_tool send_email", _traceloop(envelope), scope_name=TL_SCOPE))
    assert json.loads(result["arguments"]) == {"to": "eve@evil.example"}
    assert result["tool_call_id"] == "call_2"
    assert result["user_id"] == "u-1"
    assert result["session_id"] == "s-9"
    assert result["conversation_id"] == "th-1"
    assert result["framework"] == "langchain"


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        ({"args": [], "kwargs": {"to": "x"}}, {"to": "x"}),  # @tool-decorated function
        ({"args": ["x"], "kwargs": {}}, {"args": ["x"], "kwargs": {}}),
        ({"input_str": "x", "inputs": {}}, "x"),
        ({"something": "else"}, {"something": "else"}),  # unknown: kept as recorded
    ],
)
def test_traceloop_envelope_variants(envelope: Any, expected: Any) -> None:
    result = row(span("execute_tool send_email", _traceloop(envelope)))
    assert json.loads(result["arguments"]) == expected


def test_traceloop_input_that_is_not_json_is_kept() -> None:
    attrs = _traceloop({})
    attrs[P.TL_ENTITY_INPUT] = "{not json"
    assert row(span("execute_tool send_email", attrs))["arguments"] == "{not json"


def test_pydantic_ai_v2_tool_span() -> None:
    record = span(
        "running tool",
        {
            A.GEN_AI_OPERATION_NAME: "execute_tool",
            A.GEN_AI_TOOL_NAME: "send_email",
            A.GEN_AI_TOOL_CALL_ID: "pyd_ai_1",
            P.PAI_TOOL_ARGUMENTS: '{"to":"eve@evil.example"}',
            A.GEN_AI_AGENT_NAME: "mailer",
            P.PAI_RUN_ID: "run-7",
        },
        scope_name="pydantic-ai",
    )
    result = row(record)
    assert result["tool_name"] == "send_email"
    assert result["arguments"] == '{"to":"eve@evil.example"}'
    assert result["conversation_id"] == "run-7"  # the run id when no conversation id
    assert result["framework"] == "pydantic_ai"
    assert result["agent_id"] == "mailer"


def test_conversation_id_beats_the_run_id() -> None:
    record = span(
        "execute_tool x",
        {
            A.GEN_AI_OPERATION_NAME: "execute_tool",
            A.GEN_AI_CONVERSATION_ID: "conv-1",
            P.PAI_RUN_ID: "run-7",
        },
    )
    assert row(record)["conversation_id"] == "conv-1"


def test_mcp_sdk_server_span() -> None:
    record = span(
        "tools/call send_email",
        {
            P.MCP_METHOD_NAME: "tools/call",
            A.GEN_AI_OPERATION_NAME: "execute_tool",
            A.GEN_AI_TOOL_NAME: "send_email",
            P.JSONRPC_REQUEST_ID: "3",
            P.MCP_SESSION_ID: "mcp-sess-1",
            A.ERROR_TYPE: "tool_error",
        },
        kind="Server",
        status_code="Error",
        scope_name="mcp-python-sdk",
    )
    result = row(record)
    assert result["tool_name"] == "send_email"
    assert result["conversation_id"] == "mcp-sess-1"
    assert result["framework"] == "mcp"
    assert result["status"] == "error"
    assert result["error_type"] == "tool_error"


def test_exception_event_fills_error_type_when_the_attribute_is_missing() -> None:
    record = span(
        "send_email",
        {P.OI_SPAN_KIND: "TOOL", P.OI_TOOL_NAME: "send_email"},
        status_code="Error",
        events=[
            SpanEvent(15, "log", {}),
            SpanEvent(16, P.EXCEPTION_EVENT, {P.EXCEPTION_TYPE: "smtplib.SMTPException"}),
        ],
    )
    result = row(record)
    assert result["status"] == "error"
    assert result["error_type"] == "smtplib.SMTPException"


def test_our_attributes_win_over_peer_ones() -> None:
    record = span(
        "execute_tool send_email",
        {
            A.GEN_AI_OPERATION_NAME: "execute_tool",
            A.GEN_AI_TOOL_NAME: "send_email",
            P.OI_TOOL_NAME: "other",
            A.ENDUSER_ID: "alice",
            P.OI_USER_ID: "bob",
            A.GEN_AI_TOOL_CALL_ARGUMENTS: '{"a":1}',
            P.OI_INPUT_VALUE: '{"b":2}',
            A.FRAMEWORK: "function",
            A.GEN_AI_AGENT_ID: "agent-1",
            P.OI_AGENT_NAME: "Mailer",
        },
        scope_name=OI_SCOPE,
    )
    result = row(record)
    assert result["tool_name"] == "send_email"
    assert result["user_id"] == "alice"
    assert result["arguments"] == '{"a":1}'
    assert result["framework"] == "function"
    assert (result["agent_id"], result["agent_name"]) == ("agent-1", "Mailer")


def test_unknown_scope_leaves_framework_empty() -> None:
    record = span("execute_tool x", {A.GEN_AI_OPERATION_NAME: "execute_tool"}, scope_name="acme")
    assert row(record)["framework"] == ""


@pytest.mark.parametrize(
    ("value", "mime", "expected"),
    [
        ('{"kwargs": {"to": "x"}}', P.OI_MIME_JSON, {"to": "x"}),  # LlamaIndex
        (  # smolagents, recorded without a mime type
            '{"args": [], "sanitize_inputs_outputs": true, "kwargs": {"to": "x"}}',
            None,
            {"to": "x"},
        ),
        ('{"args": ["x"], "kwargs": {"cc": "y"}}', None, {"args": ["x"], "cc": "y"}),
        ('{"kwargs": {"to": "x"}, "other": 1}', None, {"kwargs": {"to": "x"}, "other": 1}),
        ('{"kwargs": "not a dict"}', None, {"kwargs": "not a dict"}),
        ("{broken", None, "{broken"),
        ("[1, 2]", P.OI_MIME_JSON, [1, 2]),
    ],
)
def test_openinference_input_envelopes(value: str, mime: str | None, expected: Any) -> None:
    attrs: dict[str, Any] = {P.OI_SPAN_KIND: "TOOL", P.OI_TOOL_NAME: "t", P.OI_INPUT_VALUE: value}
    if mime is not None:
        attrs[P.OI_INPUT_MIME_TYPE] = mime
    assert json.loads(row(span("t", attrs))["arguments"]) == expected


def test_a_framework_span_of_a_call_audited_elsewhere_is_not_a_second_row() -> None:
    # The MCP integration marks the SDK's own tools/call span with the audited span's id;
    # in the same batch, that claim is honoured: one row for one call.
    attrs = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "send_email"}
    ours = span("execute_tool send_email", dict(attrs), span_id="a" * 16)
    native = span("tools/call send_email", {**attrs, A.AUDITED_BY: "a" * 16}, span_id="b" * 16)
    assert is_tool_call(ours)
    assert is_tool_call(native)
    assert duplicates([ours, native], [0, 1]) == {1}


def test_a_span_cannot_hide_itself_behind_an_audited_by_claim() -> None:
    attrs = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "send_email"}
    first = span("execute_tool send_email", dict(attrs), span_id="a" * 16)
    # pointing at a span that is not there, or at itself, hides nothing
    ghost = span("execute_tool send_email", {**attrs, A.AUDITED_BY: "f" * 16}, span_id="c" * 16)
    selfish = span("execute_tool send_email", {**attrs, A.AUDITED_BY: "d" * 16}, span_id="d" * 16)
    assert duplicates([first, ghost, selfish], [0, 1, 2]) == set()
    # pointing at a call of another tool hides nothing
    other = span(
        "execute_tool delete_all",
        {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "delete_all",
         A.AUDITED_BY: "a" * 16},
        span_id="e" * 16,
    )  # fmt: skip
    assert duplicates([first, other], [0, 1]) == set()
    # a second real call cannot ride on the first call's one duplicate
    native = span("tools/call send_email", {**attrs, A.AUDITED_BY: "a" * 16}, span_id="b" * 16)
    second = span("execute_tool send_email", {**attrs, A.AUDITED_BY: "a" * 16}, span_id="9" * 16)
    assert len(duplicates([first, native, second], [0, 1, 2])) == 1
    # another trace's span is not a referent
    elsewhere = span(
        "tools/call send_email",
        {**attrs, A.AUDITED_BY: "a" * 16},
        span_id="b" * 16,
    )
    elsewhere.trace_id = "3" * 32
    assert duplicates([first, elsewhere], [0, 1]) == set()
