"""Arrow schemas of the two span tables: the columns the writer inserts.

The schemas are the single description of each table's insert columns on the write
path; they must match ``schema/migrations`` (a test inserts one of each and reads it
back). Timestamps are nanoseconds since the epoch, UTC. :data:`TOOL_CALLS` is also the
schema of ``tool_call_server_sides`` (the same columns, migration 0042).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["OTEL_TRACES", "TOOL_CALLS"]

_STR = pa.string()
_NS = pa.timestamp("ns", tz="UTC")
_STR_MAP = pa.map_(pa.string(), pa.string())
_STR_LIST = pa.list_(pa.string())

TOOL_CALLS = pa.schema(
    [
        ("ts", _NS),
        ("duration_ns", pa.uint64()),
        ("trace_id", _STR),
        ("span_id", _STR),
        ("parent_span_id", _STR),
        ("service_name", _STR),
        ("agent_id", _STR),
        ("agent_name", _STR),
        ("user_id", _STR),
        ("session_id", _STR),
        ("conversation_id", _STR),
        ("tool_name", _STR),
        ("tool_call_id", _STR),
        ("tool_type", _STR),
        ("framework", _STR),
        ("arguments", _STR),
        ("arguments_hash", _STR),
        ("result_hash", _STR),
        ("prompt_hash", _STR),
        ("source_refs", _STR_LIST),
        ("source_kinds", _STR_LIST),
        ("source_trust", _STR_LIST),
        ("source_hashes", _STR_LIST),
        ("untrusted_source", pa.uint8()),
        ("resource_ids", _STR_LIST),
        ("approval_status", _STR),
        ("approver", _STR),
        ("credential_id", _STR),
        ("credential_scopes", _STR_LIST),
        ("credential_expires_at", pa.uint32()),
        ("decision", _STR),
        ("status", _STR),
        ("error_type", _STR),
        ("attributes", _STR_MAP),
        ("resource_attributes", _STR_MAP),
        ("redactions", pa.map_(pa.string(), pa.uint32())),
        ("received_at", _NS),
        ("batch_id", _STR),
        ("authenticated_agent", _STR),
        ("authentication", _STR),
        ("agent_mismatch", pa.uint8()),
        ("approval_verified", pa.uint8()),
        ("approval_grant_id", _STR),
        ("call_side", _STR),
    ]
)

OTEL_TRACES = pa.schema(
    [
        ("Timestamp", _NS),
        ("TraceId", _STR),
        ("SpanId", _STR),
        ("ParentSpanId", _STR),
        ("TraceState", _STR),
        ("SpanName", _STR),
        ("SpanKind", _STR),
        ("ServiceName", _STR),
        ("ResourceAttributes", _STR_MAP),
        ("ScopeName", _STR),
        ("ScopeVersion", _STR),
        ("SpanAttributes", _STR_MAP),
        ("Duration", pa.uint64()),
        ("StatusCode", _STR),
        ("StatusMessage", _STR),
        ("Events.Timestamp", pa.list_(_NS)),
        ("Events.Name", _STR_LIST),
        ("Events.Attributes", pa.list_(_STR_MAP)),
        ("Links.TraceId", _STR_LIST),
        ("Links.SpanId", _STR_LIST),
        ("Links.TraceState", _STR_LIST),
        ("Links.Attributes", pa.list_(_STR_MAP)),
    ]
)
