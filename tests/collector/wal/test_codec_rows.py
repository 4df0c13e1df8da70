"""The WAL's ``R`` encoding: span fields as marshal rows, and the records written before it."""

from __future__ import annotations

import marshal
import math
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.collector.wal.codec import CodecError, decode_spans, encode_spans

_RESOURCE = {"service.name": "svc", "blob": b"\x00\xff"}
_WRITTEN = SpanRecord(
    "ab" * 16,
    "cd" * 8,
    "tool",
    1_700_000_000_000_000_000,
    1_700_000_000_250_000_000,
    parent_span_id="ef" * 8,
    trace_state="k=v",
    kind="Client",
    status_code="Error",
    status_message="boom",
    attributes={
        "b": b"\x01",
        "\x00k": "nul",
        "big": 2**100,
        "nested": [1, {"x": [b"", 1.5]}],
        "t": True,
    },
    resource_attributes=_RESOURCE,
    scope_name="scope",
    scope_version="1.0",
    events=[SpanEvent(5, "ev", {"n": 1})],
    links=[SpanLink("12" * 16, "34" * 8, "s=1", {"l": ["x"]})],
    redactions={"email": 2},
    verified={"principal": "agent", "agent": "a1"},
)
_PLAIN = SpanRecord("ff" * 16, "ee" * 8, "plain", 1, 2, resource_attributes=_RESOURCE)
# encode_spans([_WRITTEN, _PLAIN]) by the encoder before R (the "M" document).
_M_RECORD = bytes.fromhex(
    "4dfbda01725b01000000fbfa0c736572766963652e6e616d65da03737663da04626c6f62f30200000000ff30"
    "da01735b020000005b12000000da20616261626162616261626162616261626162616261626162616261626162"
    "6162da1063646364636463646364636463646364da04746f6f6cec050000000000546cf873bc3c0100ec050000"
    "008032210af973bc3c0100da1065666566656665666566656665666566fa036b3d76da06436c69656e74da0545"
    "72726f72da04626f6f6dfbda0162f30100000001fa02006bda036e756cda036269676c07000000000000000000"
    "0000000000000004da066e65737465645b02000000e9010000007bda01785b02000000f300000000e700000000"
    "0000f83f30da01745430e900000000da0573636f7065fa03312e305b010000005b03000000e905000000da0265"
    "76fbda016e7219000000305b010000005b04000000da203132313231323132313231323132313231323132313231"
    "323132313231323132da1033343334333433343334333433343334fa03733d31fbda016c5b01000000721a0000"
    "0030fbda05656d61696ce90200000030fbda097072696e636970616cda056167656e74722f000000da02613130"
    "5b12000000da206666666666666666666666666666666666666666666666666666666666666666da1065656565"
    "656565656565656565656565da05706c61696e7219000000722c000000da007234000000da08496e7465726e61"
    "6cda05556e7365747234000000fb30721e000000723400000072340000005b000000005b00000000fb30fb3030"
)


def _rows(payload: bytes) -> list[tuple[Any, ...]]:
    assert payload[:1] == b"R"
    rows, _nested = marshal.loads(payload[1:])  # noqa: S302 - written just above
    return list(rows)


def test_records_written_before_rows_still_decode() -> None:
    decoded = decode_spans(_M_RECORD)
    assert decoded == [_WRITTEN, _PLAIN]
    assert decoded[0].resource_attributes is decoded[1].resource_attributes


def test_a_row_holds_the_span_fields_in_their_order() -> None:
    """``R`` decodes with ``SpanRecord(*row)``: a field inserted or moved in the model
    needs a new tag (this fails first)."""
    (row,) = _rows(encode_spans([_PLAIN]))
    names = [f.name for f in fields(SpanRecord)]
    assert len(row) == len(names)
    for name, value in zip(names, row, strict=True):
        assert value == getattr(_PLAIN, name), name


def test_a_row_written_before_a_field_was_added_leaves_it_at_its_default() -> None:
    (row,) = _rows(encode_spans([_WRITTEN]))
    older = b"R" + marshal.dumps(([row[:-1]], []), 4)
    (span,) = decode_spans(older)
    assert span.verified == {}
    assert span.attributes == _WRITTEN.attributes


def test_events_and_links_are_rebuilt_on_the_spans_that_have_them() -> None:
    event, link = SpanEvent(7, "e", {"k": b"\x00"}), SpanLink("1" * 32, "2" * 16)
    spans = [
        SpanRecord("a" * 32, "1" * 16, "n", 1, 2),
        SpanRecord("a" * 32, "2" * 16, "n", 1, 2, events=[event, SpanEvent(8, "f")]),
        SpanRecord("a" * 32, "3" * 16, "n", 1, 2),
        SpanRecord("a" * 32, "4" * 16, "n", 1, 2, links=[link]),
        SpanRecord("a" * 32, "5" * 16, "n", 1, 2, events=[event], links=[link, link]),
    ]
    decoded = decode_spans(encode_spans(spans))
    assert decoded == spans
    assert all(type(e) is SpanEvent for s in decoded for e in s.events)
    assert all(type(k) is SpanLink for s in decoded for k in s.links)


def test_decoded_spans_share_what_the_encoded_ones_shared_and_nothing_more() -> None:
    shared, twin = {"service.name": "a"}, {"service.name": "a"}
    spans = [SpanRecord("a" * 32, f"{n:016x}", "n", 1, 2) for n in range(3)]
    spans[0].resource_attributes = spans[1].resource_attributes = shared
    spans[2].resource_attributes = twin
    decoded = decode_spans(encode_spans(spans))
    assert decoded == spans
    assert decoded[0].resource_attributes is decoded[1].resource_attributes
    assert decoded[2].resource_attributes is not decoded[0].resource_attributes
    for name in ("attributes", "events", "links", "redactions", "verified"):
        assert getattr(decoded[0], name) is not getattr(decoded[1], name), name


def test_nan_and_big_ints_survive() -> None:
    attributes = {"nan": math.nan, "big": -(2**200), "inf": [math.inf]}
    span = SpanRecord("a" * 32, "b" * 16, "n", 1, 2**70, attributes=attributes)
    (decoded,) = decode_spans(encode_spans([span]))
    assert math.isnan(decoded.attributes["nan"])
    assert decoded.end_ns == 2**70
    assert decoded.attributes["big"] == -(2**200)
    assert decoded.attributes["inf"] == [math.inf]


@pytest.mark.parametrize("text", [False, True], ids=["rows", "json"])
def test_a_memoryview_payload_decodes_like_bytes(text: bool) -> None:
    payload = b"\x00\x00" + encode_spans([_WRITTEN, _PLAIN], text=text)
    assert decode_spans(memoryview(payload)[2:]) == [_WRITTEN, _PLAIN]
    assert decode_spans(memoryview(_M_RECORD)) == [_WRITTEN, _PLAIN]


def test_rows_that_are_not_spans_are_refused() -> None:
    (row,) = _rows(encode_spans([_PLAIN]))
    garbage = [
        b"R",
        b"R" + marshal.dumps(3),
        b"R" + marshal.dumps(([("only a trace id",)], [])),
        b"R" + marshal.dumps(([(*row, "one field too many")], [])),
        b"R" + marshal.dumps(([row], [1])),  # events of a span that is not there
        encode_spans([_WRITTEN])[:-3],
    ]
    for payload in garbage:
        with pytest.raises(CodecError):
            decode_spans(payload)


_text = st.text(max_size=6)
_values = st.recursive(
    _text | st.binary(max_size=4) | st.booleans() | st.integers() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_maps = st.dictionaries(_text, _values, max_size=3)
_events = st.builds(SpanEvent, st.integers(0, 2**64), _text, _maps)
_links = st.builds(SpanLink, _text, _text, _text, _maps)
_spans = st.builds(
    SpanRecord,
    trace_id=_text,
    span_id=_text,
    name=_text,
    start_ns=st.integers(0, 2**64),
    end_ns=st.integers(0, 2**64),
    parent_span_id=_text,
    kind=st.sampled_from(["Internal", "Server", "Client"]),
    attributes=_maps,
    resource_attributes=_maps,
    events=st.lists(_events, max_size=2),
    links=st.lists(_links, max_size=2),
    redactions=st.dictionaries(_text, st.integers(0, 9), max_size=2),
    verified=st.dictionaries(_text, _text, max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(spans=st.lists(_spans, max_size=4), text=st.booleans())
def test_any_spans_round_trip(spans: list[SpanRecord], text: bool) -> None:
    assert decode_spans(encode_spans(spans, text=text)) == spans
