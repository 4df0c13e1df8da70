"""Normalise decoded spans into the rows of ``otel_traces`` and ``tool_calls``.

Every span becomes one ``otel_traces`` row. A span is a tool call when its
``gen_ai.operation.name`` is ``execute_tool`` (or, for producers that omit it, its name
starts with ``execute_tool ``); it then also becomes one ``tool_calls`` row with the
typed provenance columns of DESIGN §4. Attribute names come from
:mod:`agentaudit.schema.attributes`. Pure functions: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentaudit.collector.spans import AttributeValue, SpanRecord
from agentaudit.schema import attributes as A

__all__ = ["is_tool_call", "stringify", "tool_call_row", "trace_row"]

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_BLOCKED = "blocked"


def stringify(value: AttributeValue) -> str:
    """The string form of an attribute value for a ``Map(String, String)`` column."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_leaf)


def _json_leaf(value: Any) -> str:
    """Bytes nested in arrays/maps read as hex, like top-level bytes (not ``b'..'``)."""
    return value.hex() if isinstance(value, bytes) else str(value)


def string_map(attributes: Mapping[str, AttributeValue]) -> dict[str, str]:
    return {key: stringify(value) for key, value in attributes.items()}


def _text(attributes: Mapping[str, AttributeValue], key: str) -> str:
    value = attributes.get(key)
    return "" if value is None else stringify(value)


def _strings(attributes: Mapping[str, AttributeValue], key: str) -> list[str]:
    value = attributes.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return [stringify(v) for v in value]
    return [stringify(value)]


def _int(attributes: Mapping[str, AttributeValue], key: str) -> int:
    value = attributes.get(key)
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float | str):
        try:
            return max(0, int(float(value)))
        except ValueError:
            return 0
    return 0


def is_tool_call(span: SpanRecord) -> bool:
    operation = span.attributes.get(A.GEN_AI_OPERATION_NAME)
    if operation is not None:
        return bool(operation == A.OPERATION_EXECUTE_TOOL)
    return span.name.startswith(A.TOOL_SPAN_PREFIX)


def _tool_name(span: SpanRecord) -> str:
    name = _text(span.attributes, A.GEN_AI_TOOL_NAME)
    if name:
        return name
    return span.name.removeprefix(A.TOOL_SPAN_PREFIX)


def _status(span: SpanRecord) -> str:
    if span.attributes.get(A.DECISION) == A.DECISION_BLOCKED:
        return STATUS_BLOCKED
    if span.status_code == "Error" or span.attributes.get(A.ERROR_TYPE):
        return STATUS_ERROR
    return STATUS_OK


def trace_row(span: SpanRecord) -> dict[str, Any]:
    """The ``otel_traces`` row of any span."""
    return {
        "Timestamp": span.start_ns,
        "TraceId": span.trace_id,
        "SpanId": span.span_id,
        "ParentSpanId": span.parent_span_id,
        "TraceState": span.trace_state,
        "SpanName": span.name,
        "SpanKind": span.kind,
        "ServiceName": _text(span.resource_attributes, A.SERVICE_NAME),
        "ResourceAttributes": string_map(span.resource_attributes),
        "ScopeName": span.scope_name,
        "ScopeVersion": span.scope_version,
        "SpanAttributes": string_map(span.attributes),
        "Duration": span.duration_ns,
        "StatusCode": span.status_code,
        "StatusMessage": span.status_message,
        "Events.Timestamp": [e.time_ns for e in span.events],
        "Events.Name": [e.name for e in span.events],
        "Events.Attributes": [string_map(e.attributes) for e in span.events],
        "Links.TraceId": [link.trace_id for link in span.links],
        "Links.SpanId": [link.span_id for link in span.links],
        "Links.TraceState": [link.trace_state for link in span.links],
        "Links.Attributes": [string_map(link.attributes) for link in span.links],
    }


def tool_call_row(span: SpanRecord, *, received_ns: int) -> dict[str, Any]:
    """The ``tool_calls`` row of a tool-call span (see :func:`is_tool_call`)."""
    attrs = span.attributes
    agent_id = _text(attrs, A.GEN_AI_AGENT_ID)
    trust = _strings(attrs, A.SOURCE_TRUST)
    return {
        "ts": span.start_ns,
        "duration_ns": span.duration_ns,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "service_name": _text(span.resource_attributes, A.SERVICE_NAME),
        "agent_id": agent_id,
        "agent_name": _text(attrs, A.GEN_AI_AGENT_NAME) or agent_id,
        "user_id": _text(attrs, A.ENDUSER_ID),
        "session_id": _text(attrs, A.SESSION_ID),
        "conversation_id": _text(attrs, A.GEN_AI_CONVERSATION_ID),
        "tool_name": _tool_name(span),
        "tool_call_id": _text(attrs, A.GEN_AI_TOOL_CALL_ID),
        "tool_type": _text(attrs, A.GEN_AI_TOOL_TYPE),
        "framework": _text(attrs, A.FRAMEWORK),
        "arguments": _text(attrs, A.GEN_AI_TOOL_CALL_ARGUMENTS),
        "arguments_hash": _text(attrs, A.ARGUMENTS_HASH),
        "result_hash": _text(attrs, A.RESULT_HASH),
        "prompt_hash": _text(attrs, A.PROMPT_HASH),
        "source_refs": _strings(attrs, A.SOURCE_REFS),
        "source_kinds": _strings(attrs, A.SOURCE_KINDS),
        "source_trust": trust,
        "source_hashes": _strings(attrs, A.SOURCE_HASHES),
        "untrusted_source": 1 if A.TRUST_UNTRUSTED in trust else 0,
        "resource_ids": _strings(attrs, A.RESOURCE_IDS),
        "approval_status": _text(attrs, A.APPROVAL_STATUS) or A.APPROVAL_NONE,
        "approver": _text(attrs, A.APPROVAL_APPROVER),
        "credential_id": _text(attrs, A.CREDENTIAL_ID),
        "credential_scopes": _strings(attrs, A.CREDENTIAL_SCOPES),
        "credential_expires_at": _int(attrs, A.CREDENTIAL_EXPIRES_AT),
        "decision": _text(attrs, A.DECISION) or A.DECISION_ALLOWED,
        "status": _status(span),
        "error_type": _text(attrs, A.ERROR_TYPE),
        "attributes": string_map(attrs),
        "resource_attributes": string_map(span.resource_attributes),
        "redactions": dict(span.redactions),
        "received_at": received_ns,
        "batch_id": "",
    }
