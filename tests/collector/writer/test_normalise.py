"""collector.normalise: span -> otel_traces row and tool_calls row (DESIGN §4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.collector.writer.normalise import (
    encode_json,
    is_tool_call,
    stringify,
    tool_call_row,
)
from agentaudit.schema import attributes as A
from tests.collector.writer.reference import trace_row

SpanFactory = Callable[..., SpanRecord]

RECEIVED = 1_700_000_100_000_000_000

# DESIGN §4's listed tool_calls columns: every one must be in the row.
CONTRACT_COLUMNS = [
    "ts",
    "duration_ns",
    "trace_id",
    "span_id",
    "parent_span_id",
    "service_name",
    "agent_id",
    "agent_name",
    "user_id",
    "session_id",
    "conversation_id",
    "tool_name",
    "tool_call_id",
    "framework",
    "arguments",
    "arguments_hash",
    "result_hash",
    "prompt_hash",
    "source_refs",
    "source_kinds",
    "source_trust",
    "source_hashes",
    "untrusted_source",
    "resource_ids",
    "approval_status",
    "approver",
    "credential_id",
    "credential_scopes",
    "credential_expires_at",
    "status",
    "error_type",
    "attributes",
    "resource_attributes",
    "redactions",
    "received_at",
    "batch_id",
]


def test_tool_call_row_maps_every_contract_attribute(make_span: SpanFactory) -> None:
    span = make_span(parent_span_id="ab" * 8, redactions={"email": 2})
    row = tool_call_row(span, received_ns=RECEIVED)
    assert set(CONTRACT_COLUMNS) <= set(row)
    assert row["ts"] == span.start_ns
    assert row["duration_ns"] == 250_000_000
    assert row["trace_id"] == span.trace_id
    assert row["span_id"] == span.span_id
    assert row["parent_span_id"] == "ab" * 8
    assert row["service_name"] == "mail-agent"
    assert row["agent_id"] == "agent-1"
    assert row["agent_name"] == "Mail agent"
    assert row["user_id"] == "user-1"
    assert row["session_id"] == "sess-1"
    assert row["conversation_id"] == "conv-1"
    assert row["tool_name"] == "send_email"
    assert row["tool_call_id"] == "call_1"
    assert row["tool_type"] == "function"
    assert row["framework"] == "function"
    assert row["arguments"] == '{"to":"a@example.com"}'
    assert row["arguments_hash"] == "sha256:" + "d" * 64
    assert row["result_hash"] == "sha256:" + "e" * 64
    assert row["prompt_hash"] == "sha256:" + "a" * 64
    assert row["source_refs"] == ["email:msg-42", "user:turn-1"]
    assert row["source_kinds"] == ["email", "user"]
    assert row["source_trust"] == [A.TRUST_UNTRUSTED, A.TRUST_USER]
    assert row["source_hashes"] == ["sha256:" + "b" * 64, "sha256:" + "c" * 64]
    assert row["untrusted_source"] == 1
    assert row["resource_ids"] == ["mailbox:a@example.com"]
    assert row["approval_status"] == A.APPROVAL_HUMAN
    assert row["approver"] == "alice"
    assert row["credential_id"] == "cred-9"
    assert row["credential_scopes"] == ["mail.send", "mail.read"]
    assert row["credential_expires_at"] == 1_800_000_000
    assert row["decision"] == A.DECISION_ALLOWED
    assert row["status"] == "ok"
    assert row["error_type"] == ""
    assert row["attributes"][A.GEN_AI_TOOL_NAME] == "send_email"
    assert row["attributes"][A.SOURCE_REFS] == '["email:msg-42","user:turn-1"]'
    assert row["attributes"][A.CREDENTIAL_EXPIRES_AT] == "1800000000"
    assert row["resource_attributes"] == {A.SERVICE_NAME: "mail-agent"}
    assert row["redactions"] == {"email": 2}
    assert row["received_at"] == RECEIVED
    assert row["batch_id"] == ""


def test_minimal_tool_span_gets_defaults(make_span: SpanFactory) -> None:
    span = make_span(attributes={A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL})
    span.resource_attributes = {}
    row = tool_call_row(span, received_ns=RECEIVED)
    assert row["tool_name"] == "send_email"  # from the span name
    assert row["agent_id"] == row["agent_name"] == ""
    assert row["service_name"] == ""
    assert row["approval_status"] == A.APPROVAL_NONE
    assert row["decision"] == A.DECISION_ALLOWED
    assert row["untrusted_source"] == 0
    for column in ("source_refs", "source_kinds", "source_trust", "source_hashes"):
        assert row[column] == []
    assert row["resource_ids"] == row["credential_scopes"] == []
    assert row["credential_expires_at"] == 0
    assert row["redactions"] == {}


def test_agent_name_falls_back_to_agent_id(
    make_span: SpanFactory, tool_attrs: dict[str, Any]
) -> None:
    del tool_attrs[A.GEN_AI_AGENT_NAME]
    row = tool_call_row(make_span(attributes=tool_attrs), received_ns=RECEIVED)
    assert row["agent_name"] == "agent-1"


def test_tool_name_attribute_beats_the_span_name(
    make_span: SpanFactory, tool_attrs: dict[str, Any]
) -> None:
    row = tool_call_row(make_span(name="execute_tool other", attributes=tool_attrs), received_ns=0)
    assert row["tool_name"] == "send_email"


def _quarantined(agent: str, user: str, session: str, ts_ns: int) -> bool:
    return agent == "agent-1"


def _never(agent: str, user: str, session: str, ts_ns: int) -> bool:
    return False


@pytest.mark.parametrize(
    ("status_code", "extra", "check", "expected"),
    [
        ("Unset", {}, None, "ok"),
        ("Ok", {}, None, "ok"),
        ("Error", {}, None, "error"),
        ("Unset", {A.ERROR_TYPE: "TimeoutError"}, None, "error"),
        # A block the collector corroborates (the agent was quarantined) is `blocked` ...
        ("Unset", {A.DECISION: A.DECISION_BLOCKED}, _quarantined, "blocked"),
        (
            "Error",
            {A.DECISION: A.DECISION_BLOCKED, A.ERROR_TYPE: "AgentQuarantined"},
            _quarantined,
            "blocked",
        ),
        # ... a claim it cannot corroborate does not relabel the call; the claim stays in
        # `decision` for an investigator to see.
        ("Unset", {A.DECISION: A.DECISION_BLOCKED}, _never, "ok"),
        ("Unset", {A.DECISION: A.DECISION_BLOCKED}, None, "ok"),
        ("Error", {A.DECISION: A.DECISION_BLOCKED, A.ERROR_TYPE: "PolicyDenied"}, _never, "error"),
    ],
)
def test_status(  # noqa: PLR0917 - pytest passes parameters positionally
    make_span: SpanFactory,
    tool_attrs: dict[str, Any],
    status_code: str,
    extra: dict[str, Any],
    check: Any,
    expected: str,
) -> None:
    span = make_span(status_code=status_code, attributes={**tool_attrs, **extra})
    row = tool_call_row(span, received_ns=RECEIVED, was_blocked=check)
    assert row["status"] == expected
    assert row["error_type"] == extra.get(A.ERROR_TYPE, "")
    assert row["decision"] == extra.get(A.DECISION, A.DECISION_ALLOWED)


@pytest.mark.parametrize(
    ("trust", "untrusted"),
    [
        ([A.TRUST_USER, A.TRUST_TRUSTED], 0),
        ([A.TRUST_USER, A.TRUST_UNTRUSTED], 1),
        (A.TRUST_UNTRUSTED, 1),  # a scalar where an array was expected
        ([], 0),
    ],
)
def test_untrusted_flag(
    make_span: SpanFactory, tool_attrs: dict[str, Any], trust: Any, untrusted: int
) -> None:
    span = make_span(attributes={**tool_attrs, A.SOURCE_TRUST: trust})
    assert tool_call_row(span, received_ns=RECEIVED)["untrusted_source"] == untrusted


def test_arrays_from_scalars_and_mixed_types(
    make_span: SpanFactory, tool_attrs: dict[str, Any]
) -> None:
    attrs = {
        **tool_attrs,
        A.SOURCE_REFS: "email:msg-1",
        A.RESOURCE_IDS: ["calendar:evt-1", 42, True],
        A.CREDENTIAL_SCOPES: "calendar.write",
    }
    row = tool_call_row(make_span(attributes=attrs), received_ns=RECEIVED)
    assert row["source_refs"] == ["email:msg-1"]
    assert row["resource_ids"] == ["calendar:evt-1", "42", "true"]
    assert row["credential_scopes"] == ["calendar.write"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1_800_000_000, 1_800_000_000),
        ("1800000000", 1_800_000_000),
        (1_800_000_000.9, 1_800_000_000),
        (-5, 0),
        (True, 0),
        ("soon", 0),
        ([1], 0),
        (1_800_000_000_000, 0),  # milliseconds: out of a DateTime's range
        (2**32 - 1, 2**32 - 1),
        (2**32, 0),
        (float("inf"), 0),
        (float("nan"), 0),
        ("inf", 0),
        ("1e400", 0),
    ],
)
def test_credential_expiry(
    make_span: SpanFactory, tool_attrs: dict[str, Any], raw: Any, expected: int
) -> None:
    span = make_span(attributes={**tool_attrs, A.CREDENTIAL_EXPIRES_AT: raw})
    assert tool_call_row(span, received_ns=RECEIVED)["credential_expires_at"] == expected


@pytest.mark.parametrize(
    ("name", "attributes", "expected"),
    [
        ("execute_tool x", {A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL}, True),
        ("anything", {A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL}, True),
        ("execute_tool x", {}, True),  # producers that omit the operation name
        ("execute_tool x", {A.GEN_AI_OPERATION_NAME: A.OPERATION_CHAT}, False),
        ("chat gpt-4o", {A.GEN_AI_OPERATION_NAME: A.OPERATION_CHAT}, False),
        ("execute_toolbox", {}, False),
        ("GET /", {}, False),
    ],
)
def test_is_tool_call(name: str, attributes: dict[str, Any], expected: bool) -> None:
    span = SpanRecord(trace_id="1" * 32, span_id="2" * 16, name=name, start_ns=0, end_ns=0)
    span.attributes = attributes
    assert is_tool_call(span) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-17, "-17"),
        (2.5, "2.5"),
        (b"\x00\xff", "00ff"),
        (["a", 1, True], '["a",1,true]'),
        ({"k": [1, {"n": "ü"}]}, '{"k":[1,{"n":"ü"}]}'),
        ([], "[]"),
    ],
)
def test_stringify(value: Any, expected: str) -> None:
    assert stringify(value) == expected


_json_values = st.recursive(
    st.text() | st.binary(max_size=8) | st.booleans() | st.integers() | st.floats() | st.none(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(value=_json_values)
def test_encode_json_is_json_dumps(value: Any) -> None:
    """The prebuilt C encoder writes exactly what json.dumps with the same options does."""
    expected = json.dumps(
        value, ensure_ascii=False, separators=(",", ":"),
        default=lambda v: v.hex() if isinstance(v, bytes) else str(v),
    )  # fmt: skip
    assert encode_json(value) == expected


def test_stringify_of_nested_bytes_is_hex_like_top_level_bytes() -> None:
    assert json.loads(stringify([b"ab", {"k": b"\x01"}])) == ["6162", {"k": "01"}]


def test_trace_row_maps_every_column() -> None:
    span = SpanRecord(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        parent_span_id="00f067aa0ba902b7",
        trace_state="k=v",
        name="chat gpt-4o",
        kind="Client",
        start_ns=1_000,
        end_ns=4_000,
        status_code="Error",
        status_message="boom",
        attributes={A.GEN_AI_OPERATION_NAME: A.OPERATION_CHAT, "n": 3, "ok": False},
        resource_attributes={A.SERVICE_NAME: "svc", "host.name": "h"},
        scope_name="agentaudit",
        scope_version="0.1.0",
        events=[SpanEvent(2_000, "exception", {"exception.type": "ValueError"})],
        links=[SpanLink("1" * 32, "2" * 16, "s=1", {"weight": 0.5})],
    )
    row = trace_row(span)
    assert row == {
        "Timestamp": 1_000,
        "TraceId": "0af7651916cd43dd8448eb211c80319c",
        "SpanId": "b7ad6b7169203331",
        "ParentSpanId": "00f067aa0ba902b7",
        "TraceState": "k=v",
        "SpanName": "chat gpt-4o",
        "SpanKind": "Client",
        "ServiceName": "svc",
        "ResourceAttributes": {A.SERVICE_NAME: "svc", "host.name": "h"},
        "ScopeName": "agentaudit",
        "ScopeVersion": "0.1.0",
        "SpanAttributes": {A.GEN_AI_OPERATION_NAME: "chat", "n": "3", "ok": "false"},
        "Duration": 3_000,
        "StatusCode": "Error",
        "StatusMessage": "boom",
        "Events.Timestamp": [2_000],
        "Events.Name": ["exception"],
        "Events.Attributes": [{"exception.type": "ValueError"}],
        "Links.TraceId": ["1" * 32],
        "Links.SpanId": ["2" * 16],
        "Links.TraceState": ["s=1"],
        "Links.Attributes": [{"weight": "0.5"}],
    }


def test_negative_duration_is_clamped(make_span: SpanFactory) -> None:
    span = make_span(start_ns=10, end_ns=5)
    assert trace_row(span)["Duration"] == 0
    assert tool_call_row(span, received_ns=0)["duration_ns"] == 0
