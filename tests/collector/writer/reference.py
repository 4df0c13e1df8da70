"""Reference implementations the writer's fast path is checked against (tests only).

:func:`trace_row` builds the ``otel_traces`` row of a span as a plain dict,
:func:`tool_call_reference_row` its ``tool_calls`` row (column by column, by name), and
:func:`to_arrow` turns row dicts into an Arrow table value by value: slow and obvious.
``arrow_tables.traces_table`` / ``tuples_table`` / ``rows_table`` and
``normalise.tool_call_values`` / ``tool_call_row`` must produce equal tables and rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from agentaudit.collector.model import (
    VERIFIED_APPROVAL_GRANT,
    VERIFIED_APPROVER,
    AttributeValue,
    SpanRecord,
)
from agentaudit.collector.writer import normalise as N
from agentaudit.collector.writer.normalise import BlockedCheck, string_map, stringify
from agentaudit.schema import attributes as A
from agentaudit.schema import peers as P

__all__ = ["to_arrow", "tool_call_reference_row", "trace_row"]


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
        "ServiceName": str(span.resource_attributes.get(A.SERVICE_NAME, "")),
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


def _text(attributes: Mapping[str, AttributeValue], key: str) -> str:
    value = attributes.get(key)
    return "" if value is None else stringify(value)


def _first(attributes: Mapping[str, AttributeValue], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return stringify(value)
    return ""


def _strings(attributes: Mapping[str, AttributeValue], key: str) -> list[str]:
    value = attributes.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return [stringify(v) for v in value]
    return [stringify(value)]


def tool_call_reference_row(
    span: SpanRecord,
    *,
    received_ns: int,
    was_blocked: BlockedCheck | None = None,
    first_use: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """The ``tool_calls`` row of a tool-call span, each column written out by name (the
    normaliser's rules for single columns, ``N._arguments`` etc., are pinned by
    test_normalise*.py; this pins how they make up the row)."""
    attrs = span.attributes
    agent_name = _first(attrs, N._AGENT_NAME_KEYS)
    agent_id = _text(attrs, A.GEN_AI_AGENT_ID) or agent_name
    user_id = _first(attrs, N._USER_KEYS)
    session_id = _first(attrs, N._SESSION_KEYS)
    trust = _strings(attrs, A.SOURCE_TRUST)
    arguments, envelope_call_id = N._arguments(attrs)
    authenticated, authentication, mismatch = N._attribution(span, agent_id)
    verified_approval = span.verified.get(VERIFIED_APPROVAL_GRANT, "")
    if verified_approval and first_use is not None and not first_use(verified_approval):
        verified_approval = ""
    return {
        "ts": span.start_ns,
        "duration_ns": span.duration_ns,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "service_name": _text(span.resource_attributes, A.SERVICE_NAME),
        "agent_id": agent_id,
        "agent_name": agent_name or agent_id,
        "user_id": user_id,
        "session_id": session_id,
        "conversation_id": _first(attrs, N._CONVERSATION_KEYS),
        "tool_name": N._tool_name(span),
        "tool_call_id": _first(attrs, N._TOOL_CALL_ID_KEYS) or envelope_call_id,
        "tool_type": _text(attrs, A.GEN_AI_TOOL_TYPE),
        "framework": _text(attrs, A.FRAMEWORK) or P.SCOPE_FRAMEWORKS.get(span.scope_name, ""),
        "arguments": arguments,
        "arguments_hash": _text(attrs, A.ARGUMENTS_HASH),
        "result_hash": _text(attrs, A.RESULT_HASH),
        "prompt_hash": _text(attrs, A.PROMPT_HASH),
        "source_refs": _strings(attrs, A.SOURCE_REFS),
        "source_kinds": _strings(attrs, A.SOURCE_KINDS),
        "source_trust": trust,
        "source_hashes": _strings(attrs, A.SOURCE_HASHES),
        "untrusted_source": 1 if A.TRUST_UNTRUSTED in trust else 0,
        "resource_ids": _strings(attrs, A.RESOURCE_IDS),
        "approval_status": (
            A.APPROVAL_HUMAN
            if verified_approval
            else _text(attrs, A.APPROVAL_STATUS) or A.APPROVAL_NONE
        ),
        "approver": span.verified.get(VERIFIED_APPROVER, "")
        if verified_approval
        else _text(attrs, A.APPROVAL_APPROVER),
        "credential_id": _text(attrs, A.CREDENTIAL_ID),
        "credential_scopes": _strings(attrs, A.CREDENTIAL_SCOPES),
        "credential_expires_at": N._int(attrs, A.CREDENTIAL_EXPIRES_AT),
        "decision": _text(attrs, A.DECISION) or A.DECISION_ALLOWED,
        "status": N._status(span, agent_id, user_id, session_id, was_blocked),
        "error_type": N._error_type(span),
        "attributes": string_map(attrs),
        "resource_attributes": string_map(span.resource_attributes),
        "redactions": dict(span.redactions),
        "received_at": received_ns,
        "batch_id": "",
        "authenticated_agent": authenticated,
        "authentication": authentication,
        "agent_mismatch": mismatch,
        "approval_verified": 1 if verified_approval else 0,
        "approval_grant_id": verified_approval,
        "call_side": N._call_side(span),
    }


def _map_items(value: Any) -> Any:
    return list(value.items()) if isinstance(value, dict) else value


def to_arrow(schema: pa.Schema, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Build an Arrow table of ``schema`` from row dicts (column-wise, one pass each)."""
    columns = []
    for column in schema:
        values = [row[column.name] for row in rows]
        kind = column.type
        if pa.types.is_map(kind):
            values = [_map_items(v) for v in values]
        elif pa.types.is_list(kind) and pa.types.is_map(kind.value_type):
            values = [[_map_items(m) for m in v] for v in values]
        columns.append(pa.array(values, type=kind))
    return pa.Table.from_arrays(columns, schema=schema)
