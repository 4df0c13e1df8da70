"""Reference implementations the writer's fast path is checked against (tests only).

:func:`trace_row` builds the ``otel_traces`` row of a span as a plain dict and
:func:`to_arrow` turns row dicts into an Arrow table value by value: slow and obvious.
``arrow_tables.traces_table`` / ``rows_table`` must produce equal tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.normalise import string_map
from agentaudit.schema import attributes as A

__all__ = ["to_arrow", "trace_row"]


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
