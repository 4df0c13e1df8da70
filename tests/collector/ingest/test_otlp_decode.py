"""The OTLP decoder: every attribute type, events, links, scopes, clamped times.

Expected values are written out by hand, not produced by the decoder.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from agentaudit.collector.ingest.otlp_decode import MAX_TIME_NS, decode_export_request
from agentaudit.collector.model import SpanEvent, SpanLink

AnyValue, KeyValue = common_pb2.AnyValue, common_pb2.KeyValue


def _kv(key: str, **value: object) -> common_pb2.KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


ATTRIBUTES = [
    _kv("text", string_value="hello"),
    _kv("empty_text", string_value=""),
    _kv("unset"),
    _kv("zero", int_value=0),
    _kv("big", int_value=-(2**63)),
    _kv("no", bool_value=False),
    _kv("yes", bool_value=True),
    _kv("nought", double_value=0.0),
    _kv("half", double_value=0.5),
    _kv("blob", bytes_value=b"\x00\xff"),
    _kv("empty_blob", bytes_value=b""),
    _kv(
        "list",
        array_value=common_pb2.ArrayValue(
            values=[AnyValue(string_value="a"), AnyValue(int_value=1), AnyValue(string_value="")]
        ),
    ),
    _kv("empty_list", array_value=common_pb2.ArrayValue()),
    _kv(
        "map",
        kvlist_value=common_pb2.KeyValueList(
            values=[_kv("inner", string_value="x"), _kv("n", double_value=1.5)]
        ),
    ),
]
EXPECTED = {
    "text": "hello",
    "empty_text": "",
    "unset": "",
    "zero": 0,
    "big": -(2**63),
    "no": False,
    "yes": True,
    "nought": 0.0,
    "half": 0.5,
    "blob": b"\x00\xff",
    "empty_blob": b"",
    "list": ["a", 1, ""],
    "empty_list": [],
    "map": {"inner": "x", "n": 1.5},
}


RETRIES = _kv("n", int_value=2)


def _request() -> trace_service_pb2.ExportTraceServiceRequest:
    span = trace_pb2.Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name="execute_tool send_email",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=2**64 - 1,  # past 2262: clamped
        end_time_unix_nano=20,
        attributes=ATTRIBUTES,
        events=[trace_pb2.Span.Event(time_unix_nano=15, name="retry", attributes=[RETRIES])],
        links=[trace_pb2.Span.Link(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, trace_state="k=v")],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="boom"),
    )
    plain = trace_pb2.Span(trace_id=b"\x03" * 16, span_id=b"\x04" * 8, name="chat")
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource={"attributes": [_kv("service.name", string_value="agent")]},
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        scope=common_pb2.InstrumentationScope(name="agentaudit", version="1.2"),
                        spans=[span, plain],
                    )
                ],
            )
        ]
    )


def test_every_attribute_type_keeps_its_value_and_type() -> None:
    first, second = decode_export_request(_request())
    assert first.attributes == EXPECTED
    assert {k: type(v) for k, v in first.attributes.items()} == {
        k: type(v) for k, v in EXPECTED.items()
    }
    assert (first.trace_id, first.span_id, first.parent_span_id) == (
        "000102030405060708090a0b0c0d0e0f",
        "0001020304050607",
        "",
    )
    assert (first.kind, first.status_code, first.status_message) == ("Client", "Error", "boom")
    assert (first.start_ns, first.end_ns) == (MAX_TIME_NS, 20)
    assert first.events == [SpanEvent(15, "retry", {"n": 2})]
    assert first.links == [SpanLink("01" * 16, "02" * 8, "k=v", {})]
    assert (first.scope_name, first.scope_version) == ("agentaudit", "1.2")
    assert first.resource_attributes == {"service.name": "agent"}
    assert (second.name, second.events, second.links, second.attributes) == ("chat", [], [], {})
    assert (second.kind, second.status_code) == ("Unspecified", "Unset")
    assert (second.scope_name, second.scope_version) == ("agentaudit", "1.2")


def test_attribute_names_are_interned_across_spans() -> None:
    first, _ = decode_export_request(_request())
    again, _ = decode_export_request(_request())
    assert all(a is b for a, b in zip(first.attributes, again.attributes, strict=True))
