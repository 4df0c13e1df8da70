"""The collector's value types: its one in-memory shape of a span, and an export's outcome.

Every receiver decodes OTLP (protobuf or JSON) into :class:`SpanRecord` objects;
redaction, the WAL, the approval verifier and the normaliser work on these and never on
raw payloads. Every room of the collector imports this module and it imports none of them,
so the rooms form no circle.
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
    "VERIFIED_AGENT",
    "VERIFIED_APPROVAL_GRANT",
    "VERIFIED_APPROVER",
    "VERIFIED_PRINCIPAL",
    "Accepted",
    "AttributeValue",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
]

VERIFIED_PRINCIPAL = "principal"
"""``SpanRecord.verified`` key: the role that sent the span (``agent`` or ``open``)."""
VERIFIED_AGENT = "agent"
"""``SpanRecord.verified`` key: the registered agent whose token sent the span ("" or
absent: the shared agent token, unattributed)."""
VERIFIED_APPROVAL_GRANT = "approval.grant"
"""``SpanRecord.verified`` key: the id of a signed approval verified for this call."""
VERIFIED_APPROVER = "approval.approver"
"""``SpanRecord.verified`` key: who granted that approval (from the signed grant)."""

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
    verified: dict[str, str] = field(default_factory=dict)
    """Facts the collector established itself (never read from the span's attributes):
    who sent the span (:data:`VERIFIED_PRINCIPAL`, :data:`VERIFIED_AGENT`), which signed
    approval it carried. Stamped by the pipeline before redaction, kept in the WAL."""

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


@dataclass(frozen=True)
class Accepted:
    """The outcome of one export: how many spans were kept and why others were not."""

    accepted: int
    rejected: int = 0
    message: str = ""
