"""collector.ingest.wire: pieces decode to what the whole request decodes to; counts bound."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from agentaudit.collector.ingest import wire
from agentaudit.collector.ingest.otlp_decode import decode_export_request
from agentaudit.collector.model import SpanRecord
from tests.collector._otlp import export_request

Request = trace_service_pb2.ExportTraceServiceRequest


def whole(body: bytes) -> list[SpanRecord]:
    return list(decode_export_request(Request.FromString(body)))


def in_pieces(body: bytes) -> list[SpanRecord]:
    return [
        span
        for piece in wire.pieces(body)
        for span in decode_export_request(Request.FromString(piece.build()))
    ]


def count_messages(message: Any) -> int:
    """Messages and repeated scalar elements below ``message``, from the parsed form."""
    total = 0
    for field, value in message.ListFields():
        if field.message_type is not None:
            children = list(value) if field.is_repeated else [value]
            total += sum(1 + count_messages(child) for child in children)
        elif field.is_repeated:
            total += len(value)
    return total


def _ld(number: int, payload: bytes) -> bytes:
    return wire._varint_bytes(number << 3 | 2) + wire._varint_bytes(len(payload)) + payload


def test_many_spans_are_split_and_decode_the_same() -> None:
    request, ids = export_request(600)
    body = request.SerializeToString()
    parts = list(wire.pieces(body))
    assert len(parts) > 5
    assert sum(p.spans for p in parts) == 600
    assert all(p.size - 22 <= len(p.build()) <= p.size for p in parts)
    assert in_pieces(body) == whole(body)
    assert [s.span_id for s in in_pieces(body)] == ids


def test_resources_scopes_and_unknown_fields_in_any_order() -> None:
    first, _ = export_request(3)
    second, _ = export_request(4)
    rs = second.resource_spans[0]
    rs.schema_url = "https://example.com/schema"
    rs.scope_spans[0].scope.name = "lib"
    rs.scope_spans[0].scope.attributes.add(key="scope.k", value=common_pb2.AnyValue(int_value=7))
    rs.scope_spans.add().spans.extend(first.resource_spans[0].scope_spans[0].spans)
    first.resource_spans.extend(second.resource_spans)
    body = first.SerializeToString()
    # the scope and resource after the spans, an unknown field between two spans,
    # a second resource field (merged), an unknown top-level field
    span_a, span_b = (
        s.SerializeToString() for s in first.resource_spans[0].scope_spans[0].spans[:2]
    )
    scope = common_pb2.InstrumentationScope(name="late-scope", version="2").SerializeToString()
    scope_spans = _ld(2, span_a) + wire._varint_bytes(99 << 3) + b"\x05" + _ld(2, span_b)
    scope_spans += _ld(1, scope)
    resource_a = resource_pb2.Resource(
        attributes=[common_pb2.KeyValue(key="a", value=common_pb2.AnyValue(string_value="1"))]
    ).SerializeToString()
    resource_b = resource_pb2.Resource(
        attributes=[common_pb2.KeyValue(key="b", value=common_pb2.AnyValue(string_value="2"))]
    ).SerializeToString()
    resource_spans = _ld(1, resource_a) + _ld(2, scope_spans) + _ld(1, resource_b)
    body += _ld(1, resource_spans) + _ld(77, b"ignored")
    decoded = in_pieces(body)
    assert decoded == whole(body)
    late = decoded[-2:]
    assert [s.scope_name for s in late] == ["late-scope", "late-scope"]
    assert late[0].resource_attributes == {"a": "1", "b": "2"}


def test_a_large_span_is_a_piece_of_its_own() -> None:
    big, _ = export_request(1, attributes={"text": "x" * (3 * wire.CHUNK_BYTES)})
    small, _ = export_request(5)
    big.resource_spans[0].scope_spans[0].spans.extend(small.resource_spans[0].scope_spans[0].spans)
    body = big.SerializeToString()
    assert [p.spans for p in wire.pieces(body)] == [1, 5]
    assert in_pieces(body) == whole(body)


def test_message_counts() -> None:
    request, _ = export_request(3)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.events.add(name="e").attributes.add(key="k", value=common_pb2.AnyValue(bool_value=True))
    span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    body = request.SerializeToString()
    exact = count_messages(request)
    assert wire.messages(body, limit=10**9) == exact
    assert wire.tag_hits(body) >= exact
    assert wire.messages(body, limit=10) == 11  # stops just past the limit


def test_malformed_requests() -> None:
    good = export_request(1)[0].SerializeToString()
    for body in (
        good[:-3],
        b"\x0a\xff\xff",
        b"\x0b\x00",
        b"\x00\x01",
        b"\x0a\x05\x12\x03\x13\x00\x14",
    ):
        with pytest.raises(wire.MalformedRequest):
            list(wire.pieces(body))
    nested = b""
    for _ in range(wire.MAX_DEPTH):  # AnyValue{array_value{values: ...}}
        nested = _ld(5, _ld(1, nested))
    span = _ld(9, _ld(1, b"k") + _ld(2, nested))
    body = _ld(1, _ld(2, _ld(2, span)))
    with pytest.raises(wire.MalformedRequest, match="nested too deeply"):
        wire.messages(body, limit=10**9)


# -- properties ----------------------------------------------------------------------

_text = st.text(max_size=12)
_scalars = st.one_of(
    _text.map(lambda v: common_pb2.AnyValue(string_value=v)),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: common_pb2.AnyValue(int_value=v)),
    st.booleans().map(lambda v: common_pb2.AnyValue(bool_value=v)),
    st.floats(allow_nan=False).map(lambda v: common_pb2.AnyValue(double_value=v)),
    st.binary(max_size=8).map(lambda v: common_pb2.AnyValue(bytes_value=v)),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(
            lambda vs: common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=vs))
        ),
        st.lists(st.tuples(_text, inner), max_size=3).map(
            lambda kvs: common_pb2.AnyValue(
                kvlist_value=common_pb2.KeyValueList(
                    values=[common_pb2.KeyValue(key=k, value=v) for k, v in kvs]
                )
            )
        ),
    ),
    max_leaves=6,
)
_attributes = st.lists(
    st.tuples(_text, _values).map(lambda kv: common_pb2.KeyValue(key=kv[0], value=kv[1])),
    max_size=4,
)
_spans = st.builds(
    lambda ids, name, attributes, events, links: trace_pb2.Span(
        trace_id=ids[:16],
        span_id=ids[16:],
        name=name,
        attributes=attributes,
        events=[trace_pb2.Span.Event(name=n, attributes=a) for n, a in events],
        links=[
            trace_pb2.Span.Link(trace_id=ids[:16], span_id=ids[16:], attributes=a) for a in links
        ],
    ),
    st.binary(min_size=24, max_size=24),
    _text,
    _attributes,
    st.lists(st.tuples(_text, _attributes), max_size=2),
    st.lists(_attributes, max_size=2),
)
_requests = st.lists(
    st.builds(
        lambda attributes, scopes: trace_pb2.ResourceSpans(
            resource=resource_pb2.Resource(attributes=attributes),
            scope_spans=[
                trace_pb2.ScopeSpans(scope=common_pb2.InstrumentationScope(name=name), spans=spans)
                for name, spans in scopes
            ],
        ),
        _attributes,
        st.lists(st.tuples(_text, st.lists(_spans, max_size=4)), max_size=3),
    ),
    max_size=3,
).map(lambda resource_spans: Request(resource_spans=resource_spans))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests)
def test_pieces_decode_like_the_whole_and_counts_bound(request: Any) -> None:
    body = request.SerializeToString()
    assert in_pieces(body) == whole(body)
    exact = count_messages(request)
    assert wire.messages(body, limit=10**9) == exact
    assert wire.tag_hits(body) >= exact


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests, st.data())
def test_damaged_requests_decode_the_same_or_are_refused(request: Any, data: Any) -> None:
    body = bytearray(request.SerializeToString())
    if body:
        for _ in range(data.draw(st.integers(1, 3))):
            body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    try:
        expected = whole(bytes(body))
    except Exception:
        expected = None
    refusal = ""
    try:
        got = in_pieces(bytes(body))
    except wire.MalformedRequest as exc:
        refusal = str(exc)
    except Exception as exc:  # a piece the parser refuses
        refusal = repr(exc)
    if refusal:  # refused only where the parser refuses too, or for a group
        assert expected is None or "wire type" in refusal
    elif expected is not None:
        assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_are_pieces_or_malformed(body: bytes) -> None:
    with contextlib.suppress(wire.MalformedRequest):
        for piece in wire.pieces(body):
            assert piece.spans > 0
            assert len(piece.build()) <= piece.size
