"""An export request body into :class:`SpanRecord` objects, within a memory budget.

Both receivers call :func:`decode_export` once they have authenticated a request and
read its body (at most ``max_request_bytes``). Every allocation that grows with the
body is charged to the request's :class:`~agentaudit.collector.ingest.budget.Lease`
*before* it is made, so what a request can make the process allocate is bounded by the
budget, whatever the body holds:

* **inflating** (gzip, :func:`gunzip`): the output, 1 MiB at a time; more than
  ``limit`` bytes is :class:`PayloadTooLarge`, so a bomb is cut off at the limit;
* **parsing and decoding** protobuf, a piece at a time
  (:func:`~agentaudit.collector.ingest.wire.pieces`): before a piece is parsed, an upper
  bound of what parsing and decoding it allocates is charged (:func:`piece_bound`);
  once it is decoded, the charge becomes the decoded spans' actual size
  (:class:`RecordSizer`), and the parser's memory is dropped;
* **OTLP/JSON**: ``json.loads`` and ``json_format`` cannot be split, so the body is
  charged up front by its structure (:func:`json_bound`); the parsed request is then
  serialised and decoded like a protobuf body.

The decoded spans' charge stays with the lease until the receiver closes it, after the
pipeline's ``accept`` returns. When a charge cannot be had, :meth:`Lease.grow` raises
(the request alone needs more than the budget: ``OverBudget``; others hold it:
``BudgetExhausted``); after any error the caller closes the lease.

Measured (peak charge against peak RSS growth, one decode in a fresh process; the
shapes are in ``tests/collector/ingest/_decode_memory.py``): the charge is 1.2-1.7
times the memory for OTLP-typical spans, empty spans, long non-ASCII strings; 2.4-5
times for empty events and links, long ASCII strings, OTLP/JSON; up to ~10 times for a
single span of millions of empty values (each counted at the most a value can cost).

OTLP/JSON differs from protobuf's canonical JSON in one way that matters here: trace
and span ids are hex strings, not base64; :func:`parse_json_request` converts them.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable, Iterable
from sys import getsizeof
from typing import Any, Protocol

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from agentaudit.collector.identity.principals import Principal
from agentaudit.collector.ingest import wire
from agentaudit.collector.ingest.budget import Lease, OverBudget
from agentaudit.collector.ingest.otlp_decode import decode_export_request
from agentaudit.collector.model import Accepted, SpanRecord

__all__ = [
    "GZIP_MAGIC",
    "Accept",
    "Authenticate",
    "PayloadError",
    "PayloadTooLarge",
    "RecordSizer",
    "decode_export",
    "gunzip",
    "json_bound",
    "parse_json_request",
    "piece_bound",
]

GZIP_MAGIC = b"\x1f\x8b"
"""The first bytes of a gzip member. No protobuf message starts with 0x1f (field 3,
wire type 7: there is no wire type 7), so a body that does is gzip, whatever the
transport said."""

PARSE_MESSAGE = 112
"""Parser memory per message or repeated element: the largest OTLP struct but the
span's (a link, ~86 bytes with its slot in the repeated field, measured)."""
PARSE_SPAN = 192
"""Parser memory per span (~176 bytes, measured)."""
DECODED_MESSAGE = 420
"""Decoded memory per message: the most a message becomes (a link: its object, two
hex id strings, an attributes dict, its slot, ~400 bytes)."""
DECODED_SPAN = 900
"""Decoded memory per span beyond its strings' contents (:data:`_RECORD_FIXED` and
the string objects' headers)."""

_INFLATE_STEP = 1 << 20
_INPUT_STEP = 64 * 1024
_NOT_OTLP = "the body is not a valid OTLP protobuf export request"

# A record's fixed part: the object (176 bytes), its four empty dicts and lists, the
# id strings and times, its slot in the list of spans (~650 bytes); what varies is
# measured with getsizeof.
_RECORD_FIXED = 720
_EVENT_FIXED = 160
_LINK_FIXED = 320
_ENTRY_SLACK = 16
"""Per value: the allocator's rounding to 16-byte size classes."""
_INTERNED = 64
"""Per attribute name: its entry in the interpreter's table of interned strings."""


class PayloadError(ValueError):
    """The request body cannot be decoded into an export request."""


class PayloadTooLarge(PayloadError):
    """The request body is over the size limit (on the wire or decompressed)."""


class Accept(Protocol):
    """The receivers' seam: the pipeline's ``accept`` (validate, redact, make durable)."""

    def __call__(
        self, spans: list[SpanRecord], *, principal: Principal | None = None
    ) -> Accepted | None: ...


Authenticate = Callable[[str | None], "Principal | None"]
"""The receivers' other seam: ``authenticate(authorization header) -> Principal | None``
(``Authenticator.agent``; None: refused before anything is read)."""


# -- inflating -----------------------------------------------------------------------


def gunzip(data: bytes | bytearray, limit: int, lease: Lease | None = None) -> bytearray:
    """Inflate gzip ``data`` (one or more members), refusing output over ``limit``.

    The output grows at most 1 MiB at a time, each step charged to ``lease`` before it
    is made (with the 1/8 a growing bytearray may over-allocate); input is fed 64 KiB
    at a time, so no copy of the input is made either.
    """
    out = bytearray()
    view = memoryview(data)
    position = 0
    inflater = zlib.decompressobj(wbits=31)
    started = False  # the current member has been fed something
    feed: bytes | memoryview = b""
    full = False  # the last call stopped at its max_length: zlib may hold more output
    while True:
        if not feed and not full:
            if position >= len(view):
                break
            feed = view[position : position + _INPUT_STEP]
            position += _INPUT_STEP
        step = min(_INFLATE_STEP, limit + 1 - len(out))
        charge = step + step // 8
        if lease is not None:
            lease.grow(charge)
        try:
            piece = inflater.decompress(feed, step)
        except zlib.error as exc:
            raise PayloadError(f"the gzip body is corrupt: {exc}") from None
        if lease is not None:  # keep the charge for what was produced
            lease.shrink(charge - len(piece) - len(piece) // 8)
        started = True
        out += piece
        if len(out) > limit:
            raise PayloadTooLarge(f"the decompressed body is larger than {limit} bytes")
        full = len(piece) == step
        feed = inflater.unconsumed_tail
        if inflater.eof:  # a member ended; what follows it is another member
            feed = inflater.unused_data
            inflater = zlib.decompressobj(wbits=31)
            started = full = False
    if started:
        raise PayloadError("the gzip body is truncated")
    return out


# -- decoding ------------------------------------------------------------------------


def decode_export(
    body: bytes | bytearray,
    *,
    gzip: bool,
    json_body: bool,
    limit: int,
    lease: Lease,
) -> list[SpanRecord]:
    """The spans of one export request body, charging ``lease`` for the memory.

    The caller has charged ``body`` itself; the inflated copy (``gzip``) and the
    parser's memory are charged here and given back on return; the decoded spans'
    charge stays. ``json_body``: OTLP/JSON instead of protobuf. Raises
    :class:`PayloadError`, :class:`PayloadTooLarge`, and what :meth:`Lease.grow` raises.
    """
    inflated = 0
    if gzip:
        body = gunzip(body, limit, lease)
        inflated = len(body) + len(body) // 8
    try:
        spans = _decode_json(body, lease) if json_body else _decode_protobuf(body, lease)
    except RecursionError:
        raise PayloadError("attribute values are nested too deeply") from None
    del body  # the inflated copy, if any, is gone
    lease.shrink(inflated)
    return spans


def piece_bound(request: bytes, spans: int, messages: int, scope: int) -> int:
    """An upper bound of the memory parsing and decoding ``request`` allocates: a piece
    of ``spans`` spans holding at most ``messages`` messages and repeated elements, with
    a scope of ``scope`` bytes (each decoded span has its own copy of its strings).

    Strings: the parser keeps a copy; decoded, a str takes up to 4 bytes per character
    (a single astral character makes a whole string UCS-4; which bytes of a piece are
    text is not known before parsing, so every byte counts as that).
    """
    parse = len(request) + PARSE_MESSAGE * messages + PARSE_SPAN * spans
    decoded = 4 * (len(request) + scope * spans) + DECODED_MESSAGE * messages
    return parse + decoded + DECODED_SPAN * spans


def _decode_protobuf(body: bytes | bytearray, lease: Lease) -> list[SpanRecord]:
    """Parse and decode ``body`` a piece at a time (see :mod:`.wire`)."""
    spans: list[SpanRecord] = []
    sizer = RecordSizer()
    try:
        for piece in wire.pieces(body):
            _decode_piece(piece, lease, sizer, spans)
    except wire.MalformedRequest as exc:
        raise PayloadError(f"{_NOT_OTLP}: {exc}") from None
    return spans


def _decode_piece(
    piece: wire.Piece, lease: Lease, sizer: RecordSizer, spans: list[SpanRecord]
) -> None:
    lease.grow(piece.size)
    request = piece.build()
    if piece.size <= 2 * wire.CHUNK_BYTES:
        lease.grow(piece.size)  # the copy tag_hits makes
        messages = wire.tag_hits(request)
        lease.shrink(piece.size)
    else:  # a large span: count exactly (its text would look like plenty of tags)
        budget = lease.budget
        room = (budget.capacity - lease.held) // (PARSE_MESSAGE + DECODED_MESSAGE)
        messages = wire.messages(request, limit=room)
        if messages > room:
            raise OverBudget(
                f"a span of {len(request)} bytes holds over {room} values: decoding it needs "
                f"more than the collector's decode memory budget of {budget.capacity} bytes "
                "(decode_budget_bytes)"
            )
    bound = piece_bound(request, piece.spans, messages, len(piece.scope))
    lease.grow(bound)
    try:
        message = trace_service_pb2.ExportTraceServiceRequest.FromString(request)
    except DecodeError as exc:
        raise PayloadError(f"{_NOT_OTLP}: {exc}") from None
    size = 0
    for record in decode_export_request(message):
        size += sizer.size(record)
        spans.append(record)
    del message, request
    held = bound + piece.size  # becomes what the decoded spans take
    if size > held:
        lease.grow(size - held)
    else:
        lease.shrink(held - size)


def _decode_json(body: bytes | bytearray, lease: Lease) -> list[SpanRecord]:
    """Parse ``body`` whole (charged by :func:`json_bound`), then decode it as protobuf."""
    charge = json_bound(body)
    lease.grow(charge)
    request = parse_json_request(body)  # the JSON document is dropped on return
    encoded = request.SerializeToString()  # within the charge: the document's share
    del request
    size = len(encoded)
    lease.grow(size)
    lease.shrink(charge)
    spans = _decode_protobuf(encoded, lease)
    del encoded
    lease.shrink(size)
    return spans


class RecordSizer:
    """Bytes of memory decoded spans hold: what ``sys.getsizeof`` says, plus slack.

    What several spans share is counted once per sizer: the resource attributes (one
    dict per resource) and attribute names (the decoder interns them; a name is
    counted with what interning it costs, so names unique to a span are paid for too).
    Measured against the RSS growth of decoding: 1.2-1.7 times the memory for
    OTLP-typical spans and adversarial shapes alike (more for values the interpreter
    shares, such as one-character strings). ``str.__sizeof__`` and friends are called
    directly: ``getsizeof`` costs seven times as much, and this runs for every value.
    """

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._resource: object = None

    def size(self, span: SpanRecord) -> int:
        size = _RECORD_FIXED + _str_size(span.name) + self._attributes_size(span.attributes)
        if span.scope_name or span.scope_version:  # copies, one per span
            size += _str_size(span.scope_name) + _str_size(span.scope_version)
        if span.status_message or span.trace_state:
            size += _str_size(span.status_message) + _str_size(span.trace_state)
        if span.resource_attributes is not self._resource:
            self._resource = span.resource_attributes
            size += self._attributes_size(span.resource_attributes)
        for event in span.events:
            size += _EVENT_FIXED + _str_size(event.name) + self._attributes_size(event.attributes)
        for link in span.links:
            size += (
                _LINK_FIXED + _str_size(link.trace_state) + self._attributes_size(link.attributes)
            )
        return size

    def _attributes_size(self, attributes: dict[str, Any]) -> int:
        size = _dict_size(attributes) + _values_size(attributes.values(), len(attributes))
        names = self._names
        if not names.issuperset(attributes):  # names not seen yet
            new = attributes.keys() - names
            names |= new
            size += sum(map(_str_size, new)) + _INTERNED * len(new)
        return size


_GC_HEADER = getsizeof([]) - list.__sizeof__([])
_str_size = str.__sizeof__


def _dict_size(value: dict[Any, Any]) -> int:
    return _GC_HEADER + dict.__sizeof__(value)


def _values_size(values: Iterable[Any], count: int) -> int:
    size = _ENTRY_SLACK * count
    for value in values:
        kind = type(value)
        if kind is str:
            size += _str_size(value)
        elif kind is list:
            size += _GC_HEADER + list.__sizeof__(value) + _values_size(value, len(value))
        elif kind is dict:  # a kvlist: its keys are not interned
            size += _dict_size(value) + sum(map(_str_size, value))
            size += _values_size(value.values(), 2 * len(value))
        else:
            size += getsizeof(value)
    return size


# -- OTLP/JSON -----------------------------------------------------------------------

_JSON_NODE_BYTES = 80 + PARSE_MESSAGE
"""Per JSON value: the Python object ``json.loads`` makes, and a parser message."""


def json_bound(body: bytes | bytearray) -> int:
    """An upper bound of the memory ``json.loads`` and ``json_format`` need for ``body``.

    Every JSON value is a container (``{``, ``[``), an object member's key or value
    (``:``), or an array item (``,`` or the first); brackets inside strings only make the
    bound looser. Strings: a Python str takes up to 4 bytes per character (one astral
    character makes a string UCS-4), and the parser keeps a UTF-8 copy.
    """
    values = body.count(b"{") + body.count(b"[") + 2 * body.count(b":") + body.count(b",") + 1
    return 5 * len(body) + _JSON_NODE_BYTES * values


def _hex_to_base64(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return ""  # an invalid id: the span is rejected by validation, not the request


def _fix_ids(holder: Any, names: tuple[str, ...]) -> None:
    if not isinstance(holder, dict):
        return
    for name in names:
        for key in (name, _snake(name)):
            if key in holder:
                holder[key] = _hex_to_base64(holder[key])


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _items(holder: Any, name: str) -> list[Any]:
    value = holder.get(name, holder.get(_snake(name))) if isinstance(holder, dict) else None
    return value if isinstance(value, list) else []


def parse_json_request(body: bytes | bytearray) -> Any:
    """An ``ExportTraceServiceRequest`` from an OTLP/JSON body (hex ids); unbounded."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise PayloadError("the JSON body is nested too deeply") from None
    except ValueError as exc:  # includes invalid UTF-8
        raise PayloadError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError("the JSON body must be an object with resourceSpans")
    for resource_spans in _items(document, "resourceSpans"):
        for scope_spans in _items(resource_spans, "scopeSpans"):
            for span in _items(scope_spans, "spans"):
                _fix_ids(span, ("traceId", "spanId", "parentSpanId"))
                for link in _items(span, "links"):
                    _fix_ids(link, ("traceId", "spanId"))
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except RecursionError:
        raise PayloadError("the JSON body is nested too deeply") from None
    except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
        raise PayloadError(f"the JSON body is not an OTLP export request: {exc}") from None
    return request
