"""Decoded spans: the collector's one in-memory shape of a span, and the OTLP decoder.

Every receiver decodes OTLP (protobuf or JSON) into :class:`SpanRecord` objects;
redaction, the WAL and the normaliser work on these and never on raw payloads.
Attribute values keep their OTLP types (str, bool, int, float, bytes, lists and
dicts of those), so typed columns can be filled without re-parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from sys import intern
from typing import Any

__all__ = [
    "AttributeValue",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "any_value",
    "decode_export_request",
]

AttributeValue = Any
"""str | bool | int | float | bytes | list[AttributeValue] | dict[str, AttributeValue]"""

# Spelled like the OpenTelemetry Collector's ClickHouse exporter stores them.
SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")


@dataclass(slots=True)
class SpanEvent:
    time_ns: int
    name: str
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass(slots=True)
class SpanLink:
    trace_id: str
    span_id: str
    trace_state: str = ""
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass(slots=True)
class SpanRecord:
    """One span with its resource and scope; ids are lowercase hex strings."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str = ""
    trace_state: str = ""
    kind: str = "Internal"
    status_code: str = "Unset"
    status_message: str = ""
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    resource_attributes: dict[str, AttributeValue] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    """What redaction removed from this span: rule name -> number of values."""

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


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
