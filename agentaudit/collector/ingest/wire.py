"""The protobuf wire format of an OTLP export request, read without parsing it.

Parsing protobuf (upb) allocates a C struct for every message, and a message can take
two bytes on the wire: an export of empty spans needs ~90 times its size to parse (and
~250 times to decode into Python objects). So a body is not parsed whole. This module
walks it at the wire level, without allocating per field:

* :func:`pieces` splits a request into pieces of about :data:`CHUNK_BYTES`, each a
  small request of its own (a ResourceSpans with one ScopeSpans: the original's
  resource, scope and some of its spans, in order), so parsing and decoding can be
  paid for one piece at a time;
* :func:`tag_hits` bounds, at C speed, how many messages (and repeated-field elements)
  a piece can hold: each is introduced by a tag whose first byte is one of a few
  values, derived from the schema;
* :func:`messages` counts them exactly (a walk guided by the schema), for pieces too
  large for the bound to be useful (a span with a 4 MiB text attribute holds plenty of
  bytes that look like tags).

Both are derived from the message descriptors, so they follow the OTLP schema as the
installed ``opentelemetry-proto`` defines it. The walk accepts what the parser accepts,
except groups (wire types 3 and 4), which no OTLP exporter sends; a resource or scope
with no spans is never parsed, so damage inside one goes unnoticed (nothing is decoded
from it either).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

__all__ = [
    "CHUNK_BYTES",
    "MAX_DEPTH",
    "MalformedRequest",
    "Piece",
    "messages",
    "pieces",
    "tag_hits",
]

CHUNK_BYTES = 64 * 1024
"""Spans are parsed and decoded in pieces of about this many bytes."""

MAX_DEPTH = 128
"""Nesting the walk follows; the parser's own limit (100) is lower."""

_LEN = 2
_SPANS_TAG = 2 << 3 | _LEN
_ROOT = trace_service_pb2.ExportTraceServiceRequest.DESCRIPTOR.full_name


class MalformedRequest(ValueError):
    """The bytes are not a protobuf export request."""


def _schema(root: Any) -> dict[str, dict[int, str | None]]:
    """message name -> {field number: child message name, or None for a repeated
    scalar}: every field that costs the parser an allocation per occurrence."""
    schema: dict[str, dict[int, str | None]] = {}
    todo = [root]
    while todo:
        descriptor = todo.pop()
        if descriptor.full_name in schema:
            continue
        fields = schema[descriptor.full_name] = {}
        for field in descriptor.fields:
            if field.message_type is not None:
                fields[field.number] = field.message_type.full_name
                todo.append(field.message_type)
            elif _repeated(field):
                fields[field.number] = None
    return schema


def _repeated(field: Any) -> bool:
    """``FieldDescriptor.is_repeated`` (protobuf 6+); ``label`` on 5.x, which some
    frameworks pin (autogen-core: protobuf 5.29) and ``agentaudit[collector]`` allows."""
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return bool(field.label == field.LABEL_REPEATED)


_SCHEMA = _schema(trace_service_pb2.ExportTraceServiceRequest.DESCRIPTOR)


def _tag_table() -> bytes:
    """1 for every byte that can start the tag of a field in :data:`_SCHEMA`."""
    starts = set()
    for fields in _SCHEMA.values():
        for number in fields:
            tag = number << 3 | _LEN
            first = tag if tag < 0x80 else tag & 0x7F | 0x80
            starts |= {first, first | 0x80}  # and its over-long encoding
    return bytes(1 if byte in starts else 0 for byte in range(256))


_TAG_TABLE = _tag_table()


def tag_hits(data: bytes) -> int:
    """An upper bound of the messages and repeated elements parsing ``data`` allocates.

    Makes one copy of ``data`` (the caller pays for it).
    """
    return data.translate(_TAG_TABLE).count(1)


def messages(data: bytes, *, limit: int) -> int:
    """The messages and repeated elements parsing request ``data`` allocates; the walk
    stops as soon as there are more than ``limit`` (and returns that count).

    Depth first, so it holds one entry per level of nesting (at most
    :data:`MAX_DEPTH`, beyond which the parser refuses the request as well).
    """
    view = memoryview(data)
    stack: list[tuple[dict[int, str | None], int, int]] = []
    children, position, end = _SCHEMA[_ROOT], 0, len(view)
    count = 0
    while True:
        if position >= end:
            if not stack:
                return count
            children, position, end = stack.pop()
            continue
        number, wire_type, value, position = _field(view, position, end)
        if number not in children:
            continue
        count += 1
        if count > limit:
            return count
        child = children[number]
        if child is not None and wire_type == _LEN and value < position and _SCHEMA[child]:
            if len(stack) >= MAX_DEPTH:
                raise MalformedRequest("messages are nested too deeply")
            stack.append((children, position, end))
            children, position, end = _SCHEMA[child], value, position


@dataclass(frozen=True, slots=True)
class Piece:
    """Some spans of one ScopeSpans with their resource and scope: a request to be."""

    resource: bytes
    """The ResourceSpans' fields but its scope_spans (the resource, schema_url)."""
    scope: bytes
    """The ScopeSpans' fields but its spans (the scope, schema_url)."""
    runs: list[memoryview]
    """The spans fields (tag and value), as runs of adjacent fields of the body."""
    spans: int
    size: int
    """Bytes of the request :meth:`build` returns."""

    def build(self) -> bytes:
        """The piece as one ExportTraceServiceRequest (one copy of its bytes)."""
        scope_spans = len(self.scope) + sum(map(len, self.runs))
        scope_field = b"\x12" + _varint_bytes(scope_spans)
        head = b"\x0a" + _varint_bytes(len(self.resource) + len(scope_field) + scope_spans)
        return b"".join([head, self.resource, scope_field, self.scope, *self.runs])


def pieces(body: bytes | bytearray) -> Iterator[Piece]:
    """The request ``body`` as pieces, in order; parsing each and concatenating what
    they decode to gives what parsing ``body`` would (spans outside any ResourceSpans
    or ScopeSpans, and unknown fields, are dropped, as the decoder would ignore them).

    A piece holds about :data:`CHUNK_BYTES` of spans (more when its resource and scope
    are large, so parsing them again stays a fraction of the work; a span larger than
    that is a piece of its own). Raises :class:`MalformedRequest`.
    """
    data = memoryview(body)
    for rs_start, rs_end in _message_fields(data, 0, len(data), 1):  # resource_spans
        resource = _other_fields(data, rs_start, rs_end, 2)
        for ss_start, ss_end in _message_fields(data, rs_start, rs_end, 2):  # scope_spans
            scope = _other_fields(data, ss_start, ss_end, 2)
            target = max(CHUNK_BYTES, 4 * (len(resource) + len(scope)))
            overhead = len(resource) + len(scope) + 2 * 11  # two tags and lengths at most
            for runs, count, size in _span_runs(data, ss_start, ss_end, target):
                yield Piece(resource, scope, runs, count, overhead + size)


def _varint(data: memoryview, position: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while position < end:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
        if shift >= 64:
            break
    raise MalformedRequest("a varint is truncated or too long")


def _field(data: memoryview, position: int, end: int) -> tuple[int, int, int, int]:
    """The field at ``position`` (< ``end``): (number, wire type, value start, field end)."""
    tag = data[position]
    if tag & 7 == _LEN and 8 <= tag < 0x80 and position + 1 < end:  # the common case
        length = data[position + 1]
        if length < 0x80:
            position += 2
        else:
            length, position = _varint(data, position + 1, end)
        if position + length > end:
            raise MalformedRequest("a field is truncated")
        return tag >> 3, _LEN, position, position + length
    tag, position = _varint(data, position, end)
    number, wire_type = tag >> 3, tag & 7
    if wire_type == 0:
        _, stop = _varint(data, position, end)
    elif wire_type == _LEN:
        length, position = _varint(data, position, end)
        stop = position + length
    elif wire_type == 1:
        stop = position + 8
    elif wire_type == 5:
        stop = position + 4
    else:  # groups (3, 4) are not used by OTLP; 6 and 7 do not exist
        raise MalformedRequest(f"wire type {wire_type} is not supported")
    if number == 0:
        raise MalformedRequest("field number 0")
    if stop > end:
        raise MalformedRequest("a field is truncated")
    return number, wire_type, position, stop


def _message_fields(
    data: memoryview, start: int, end: int, number: int
) -> Iterator[tuple[int, int]]:
    """(start, end) of the values of message field ``number`` in ``data[start:end]``."""
    position = start
    while position < end:
        field, wire_type, value, position = _field(data, position, end)
        if field == number and wire_type == _LEN:
            yield value, position


def _other_fields(data: memoryview, start: int, end: int, number: int) -> bytes:
    """The encoded fields of ``data[start:end]`` other than message field ``number``."""
    kept = []
    position = start
    while position < end:
        field, wire_type, _, stop = _field(data, position, end)
        if field != number or wire_type != _LEN:
            kept.append(data[position:stop])
        position = stop
    return b"".join(kept)


def _span_runs(
    data: memoryview, start: int, end: int, target: int
) -> Iterator[tuple[list[memoryview], int, int]]:
    """The spans fields of a ScopeSpans in groups of about ``target`` bytes: runs of
    adjacent fields, the count of spans, their bytes."""
    runs: list[memoryview] = []
    run_start = run_end = start
    size = count = 0
    position = start
    while position < end:
        field_start = position
        if data[position] == _SPANS_TAG and position + 2 < end:  # a span: avoid the call
            low, high = data[position + 1], data[position + 2]
            if low < 0x80:
                position += 2 + low
            elif high < 0x80:
                position += 3 + (low & 0x7F | high << 7)
            else:
                position = _field(data, position, end)[3]
            if position > end:
                raise MalformedRequest("a field is truncated")
        else:
            field, wire_type, _, position = _field(data, position, end)
            if field != 2 or wire_type != _LEN:
                continue
        if count and size + position - field_start > target:  # this group is full
            runs.append(data[run_start:run_end])
            yield runs, count, size
            runs, size, count = [], 0, 0
            run_start = field_start
        elif field_start != run_end:  # not adjacent to the run: start another
            if run_end > run_start:
                runs.append(data[run_start:run_end])
            run_start = field_start
        run_end = position
        size += position - field_start
        count += 1
    if count:
        runs.append(data[run_start:run_end])
        yield runs, count, size


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
