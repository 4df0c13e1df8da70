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
    """The attributes as a dict; keys interned, non-empty strings without a call.

    ``string_value`` reads ``""`` unless a non-empty string is set, so a non-empty one is
    the value itself; anything else (another type, an empty string, no value) goes
    through :func:`any_value`. Interned keys are one object per name across a request:
    their hashes are computed once, and the WAL's marshal encoding stores each name once
    and then refers to it.
    """
    if not key_values:
        return {}
    attributes = {}
    for kv in key_values:
        value = kv.value
        text = value.string_value
        attributes[intern(kv.key)] = text if text else any_value(value)
    return attributes


MAX_TIME_NS = 2**63 - 1
"""The last nanosecond a ``DateTime64(9)`` (and an Arrow ``timestamp[ns]``) holds: OTLP
times are uint64, and those past 2262 fit no column, so they are clamped to it."""


def _enum_name(names: tuple[str, ...], number: int) -> str:
    return names[number] if 0 <= number < len(names) else names[0]


def decode_export_request(request: Any) -> Iterator[SpanRecord]:
    """Yield a SpanRecord for every span of an ``ExportTraceServiceRequest``.

    Each message field is read once (every read of a upb field builds an object); a
    scope's name and version are shared by its spans' records.
    """
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_name, scope_version = scope.name, scope.version
            for span in scope_spans.spans:
                status = span.status
                events = span.events
                links = span.links
                yield SpanRecord(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    trace_state=span.trace_state,
                    name=span.name,
                    kind=_enum_name(SPAN_KINDS, span.kind),
                    start_ns=min(span.start_time_unix_nano, MAX_TIME_NS),
                    end_ns=min(span.end_time_unix_nano, MAX_TIME_NS),
                    status_code=_enum_name(STATUS_CODES, status.code),
                    status_message=status.message,
                    attributes=_attributes(span.attributes),
                    resource_attributes=resource,
                    scope_name=scope_name,
                    scope_version=scope_version,
                    events=[
                        SpanEvent(
                            min(e.time_unix_nano, MAX_TIME_NS), e.name, _attributes(e.attributes)
                        )
                        for e in events
                    ]
                    if events
                    else [],
                    links=[
                        SpanLink(
                            link.trace_id.hex(),
                            link.span_id.hex(),
                            link.trace_state,
                            _attributes(link.attributes),
                        )
                        for link in links
                    ]
                    if links
                    else [],
                )
