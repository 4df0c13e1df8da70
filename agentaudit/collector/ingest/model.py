"""Value types of ingest: the collector's one in-memory shape of a span, and an export's outcome.

Every receiver decodes OTLP (protobuf or JSON) into :class:`SpanRecord` objects;
redaction, the WAL and the normaliser work on these and never on raw payloads.
Attribute values keep their OTLP types (str, bool, int, float, bytes, lists and
dicts of those), so typed columns can be filled without re-parsing.

Invariant: this module imports nothing beyond the standard library, so a receiver (or a
receive-only worker) can use these types without loading the pipeline behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SPAN_KINDS",
    "STATUS_CODES",
    "Accepted",
    "AttributeValue",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
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


@dataclass(frozen=True)
class Accepted:
    """The outcome of one export: how many spans were kept and why others were not."""

    accepted: int
    rejected: int = 0
    message: str = ""
