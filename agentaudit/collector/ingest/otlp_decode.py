"""The OTLP decoder: an ``ExportTraceServiceRequest`` into :class:`SpanRecord` objects.

Attribute values keep their OTLP types (str, bool, int, float, bytes, lists and dicts
of those), so typed columns can be filled without re-parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from sys import intern
from typing import Any

from agentaudit.collector.model import (
    SPAN_KINDS,
    STATUS_CODES,
    AttributeValue,
    SpanEvent,
    SpanLink,
    SpanRecord,
)

__all__ = ["any_value", "decode_export_request"]


def any_value(value: Any) -> AttributeValue:
    """Convert an OTLP ``AnyValue`` message to a Python value."""
    which = value.WhichOneof("value")
    if which == "string_value":  # the common case first
        return value.string_value
    if which is None:
        return ""
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def _attributes(key_values: Any) -> dict[str, AttributeValue]:
    """The attributes as a dict; keys interned, string values without a call.

    Interned keys are one object per name across a request: their hashes are computed
    once, and the WAL's marshal encoding stores each name once and then refers to it.
    """
    if not key_values:
        return {}
    attributes = {}
    for kv in key_values:
        value = kv.value
        which = value.WhichOneof("value")
        attributes[intern(kv.key)] = (
            value.string_value if which == "string_value" else any_value(value)
        )
    return attributes


MAX_TIME_NS = 2**63 - 1
"""The last nanosecond a ``DateTime64(9)`` (and an Arrow ``timestamp[ns]``) holds."""


def _time(unix_nano: int) -> int:
    """OTLP times are uint64; past 2262 they fit no column, so they are clamped."""
    return min(unix_nano, MAX_TIME_NS)


def _enum_name(names: tuple[str, ...], number: int) -> str:
    return names[number] if 0 <= number < len(names) else names[0]


def decode_export_request(request: Any) -> Iterator[SpanRecord]:
    """Yield a SpanRecord for every span of an ``ExportTraceServiceRequest``."""
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                yield SpanRecord(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    trace_state=span.trace_state,
                    name=span.name,
                    kind=_enum_name(SPAN_KINDS, span.kind),
                    start_ns=_time(span.start_time_unix_nano),
                    end_ns=_time(span.end_time_unix_nano),
                    status_code=_enum_name(STATUS_CODES, span.status.code),
                    status_message=span.status.message,
                    attributes=_attributes(span.attributes),
                    resource_attributes=resource,
                    scope_name=scope.name,
                    scope_version=scope.version,
                    events=[
                        SpanEvent(_time(e.time_unix_nano), e.name, _attributes(e.attributes))
                        for e in span.events
                    ],
                    links=[
                        SpanLink(
                            link.trace_id.hex(),
                            link.span_id.hex(),
                            link.trace_state,
                            _attributes(link.attributes),
                        )
                        for link in span.links
                    ],
                )
