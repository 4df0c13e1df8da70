"""OTLP/HTTP receiver: encodings, statuses, limits, auth, and hostile input."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentaudit.collector.errors import Backpressure
from agentaudit.collector.identity.principals import AGENT, Authenticator, Principal
from agentaudit.collector.ingest.budget import MemoryBudget
from agentaudit.collector.ingest.payload import (
    PayloadError,
    PayloadTooLarge,
    decode_export,
    gunzip,
)
from agentaudit.collector.ingest.pipeline import validate
from agentaudit.collector.ingest.receiver_http import build_otlp_http_app
from agentaudit.collector.model import Accepted, SpanRecord
from agentaudit.collector.serving.server import HttpServer
from agentaudit.schema import attributes as A
from tests.collector._otlp import export_request

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON_TYPE = {"content-type": "application/json"}


class Inbox:
    """The receiver's ``accept``: validates like the pipeline, keeps what it accepts."""

    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self.principals: list[Principal | None] = []
        self.saturated = False
        self.lock = threading.Lock()

    def __call__(self, spans: list[SpanRecord], *, principal: Principal | None = None) -> Accepted:
        if self.saturated:
            raise Backpressure("the write-ahead log is full", retry_after=2.5)
        valid, reasons = validate(spans)
        with self.lock:
            self.spans += valid
            self.principals.append(principal)
        message = ", ".join(f"{n} {r}" for r, n in reasons.items())
        return Accepted(len(valid), len(spans) - len(valid), message)


def _serve(inbox: Inbox, token: str | None = None, **options: Any) -> HttpServer:
    if token is None:
        authenticator = Authenticator(agent_token=None, admin_token=None, open_mode=True)
    else:
        authenticator = Authenticator(agent_token=token, admin_token=None)
    app = build_otlp_http_app(inbox, authenticate=authenticator.agent, **options)
    server = HttpServer(app, host="127.0.0.1", port=0, what="t", flag="--t")
    server.start()
    return server


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def url(inbox: Inbox) -> Iterator[str]:
    server = _serve(inbox, token=None)
    yield f"http://127.0.0.1:{server.port}/v1/traces"
    server.stop()


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=60)


def _status_message(reply: httpx.Response) -> str:
    if reply.headers["content-type"].startswith("application/x-protobuf"):
        return str(status_pb2.Status.FromString(reply.content).message)
    return str(reply.json()["message"])


# -- the happy paths -----------------------------------------------------------------


def test_real_otel_exporter_protobuf_gzip(url: str, inbox: Inbox) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "mail-agent"}))
    exporter = OTLPSpanExporter(endpoint=url, compression=Compression.Gzip)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("execute_tool send_email") as span:
        span.set_attribute(A.GEN_AI_TOOL_NAME, "send_email")
        span.set_attribute(A.SOURCE_REFS, ["email:msg-42"])
        context = span.get_span_context()
    provider.shutdown()
    [got] = inbox.spans
    assert got.trace_id == f"{context.trace_id:032x}"
    assert got.span_id == f"{context.span_id:016x}"
    assert got.attributes[A.SOURCE_REFS] == ["email:msg-42"]
    assert got.resource_attributes["service.name"] == "mail-agent"


def test_protobuf_response_is_an_export_response(url: str, inbox: Inbox) -> None:
    request, ids = export_request(3)
    reply = _post(url, request.SerializeToString(), PROTOBUF)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-protobuf"
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(reply.content)
    assert not response.HasField("partial_success")
    assert [s.span_id for s in inbox.spans] == ids


# An OTLP/JSON request as the specification writes it (cf. opentelemetry-proto
# examples/trace.json): hex ids, enum numbers, int64 as strings, base64 bytes.
OTLP_JSON = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "my.library", "version": "1.0.0"},
                    "spans": [
                        {
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "EEE19B7EC3C1B173",
                            "name": "I'm a server span",
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "kind": 2,
                            "attributes": [
                                {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                                {"key": "count", "value": {"intValue": "42"}},
                                {"key": "blob", "value": {"bytesValue": "AAEC"}},
                                {
                                    "key": "list",
                                    "value": {"arrayValue": {"values": [{"boolValue": True}]}},
                                },
                            ],
                            "links": [
                                {
                                    "traceId": "00000000000000000000000000000001",
                                    "spanId": "0000000000000002",
                                }
                            ],
                            "status": {"code": 2, "message": "bad"},
                            "someFutureField": {"ignored": True},
                        }
                    ],
                }
            ],
        }
    ]
}


def test_otlp_json_with_hex_ids(url: str, inbox: Inbox) -> None:
    reply = _post(url, json.dumps(OTLP_JSON).encode(), JSON_TYPE)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {}
    [span] = inbox.spans
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.span_id == "eee19b7ec3c1b174"
    assert span.parent_span_id == "eee19b7ec3c1b173"
    assert span.kind == "Server"
    assert span.start_ns == 1544712660000000000
    assert span.status_code == "Error"
    assert span.attributes == {
        "my.span.attr": "some value",
        "count": 42,
        "blob": b"\x00\x01\x02",
        "list": [True],
    }
    assert span.links[0].trace_id == "0" * 31 + "1"
    assert span.links[0].span_id == "0" * 15 + "2"
    assert span.scope_name == "my.library"


def test_json_with_snake_case_names_and_gzip(url: str, inbox: Inbox) -> None:
    document = {
        "resource_spans": [
            {
                "scope_spans": [
                    {"spans": [{"trace_id": "ab" * 16, "span_id": "cd" * 8, "name": "x"}]}
                ]
            }
        ]
    }
    body = gzip.compress(json.dumps(document).encode())
    reply = _post(url, body, {**JSON_TYPE, "content-encoding": "gzip"})
    assert reply.status_code == 200
    assert inbox.spans[0].trace_id == "ab" * 16


def test_invalid_spans_are_a_partial_success(url: str, inbox: Inbox) -> None:
    document = json.loads(json.dumps(OTLP_JSON))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[0], "traceId": "not-hex", "spanId": "0000000000000009"})
    spans.append({**spans[0], "spanId": ""})
    reply = _post(url, json.dumps(document).encode(), JSON_TYPE)
    assert reply.status_code == 200
    partial = reply.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "invalid_trace_id" in partial["errorMessage"]
    assert "invalid_span_id" in partial["errorMessage"]
    assert len(inbox.spans) == 1


# -- statuses ------------------------------------------------------------------------


def test_wrong_content_type_is_415(url: str) -> None:
    reply = _post(url, b"{}", {"content-type": "text/plain"})
    assert reply.status_code == 415
    assert "application/x-protobuf" in reply.json()["message"]


def test_unknown_content_encoding_is_415(url: str) -> None:
    reply = _post(url, b"x", {**PROTOBUF, "content-encoding": "br"})
    assert reply.status_code == 415


@pytest.mark.parametrize(
    ("body", "headers", "fragment"),
    [
        (b"\xff\xff\xff\xff", PROTOBUF, "protobuf"),
        (b"{not json", JSON_TYPE, "not valid JSON"),
        (b'{"resourceSpans": [{"resource": 5}]}', JSON_TYPE, "not an OTLP export request"),
        (b"[1, 2]", JSON_TYPE, "must be an object"),
        (b'{"resourceSpans": "\xff\xfe"}', JSON_TYPE, "not valid JSON"),
        (b"\x1f\x8b\x08\x00garbage", {**PROTOBUF, "content-encoding": "gzip"}, "gzip"),
        (gzip.compress(b"abc")[:-6], {**PROTOBUF, "content-encoding": "gzip"}, "truncated"),
    ],
)
def test_undecodable_payloads_are_400_with_a_status(
    url: str, body: bytes, headers: dict[str, str], fragment: str
) -> None:
    reply = _post(url, body, headers)
    assert reply.status_code == 400
    assert fragment in _status_message(reply)
    assert reply.headers["content-type"].startswith(headers["content-type"])


def test_invalid_utf8_in_a_protobuf_string_is_400(url: str) -> None:
    request, _ = export_request(1)
    body = request.SerializeToString().replace(b"send_email", b"send\xffemail")
    reply = _post(url, body, PROTOBUF)
    assert reply.status_code == 400


def test_get_is_not_allowed(url: str) -> None:
    assert httpx.get(url).status_code == 405


def test_token_is_required_when_configured(inbox: Inbox) -> None:
    server = _serve(inbox, token="s3cret")
    try:
        target = f"http://127.0.0.1:{server.port}/v1/traces"
        request, _ = export_request(1)
        body = request.SerializeToString()
        assert _post(target, body, PROTOBUF).status_code == 401
        assert _post(target, body, {**PROTOBUF, "authorization": "Bearer nope"}).status_code == 401
        assert (
            _post(target, body, {**PROTOBUF, "authorization": "Bearer s3cret"}).status_code == 200
        )
        assert inbox.principals == [Principal(AGENT)]
    finally:
        server.stop()


def test_backpressure_is_503_with_retry_after(url: str, inbox: Inbox) -> None:
    inbox.saturated = True
    request, _ = export_request(1)
    reply = _post(url, request.SerializeToString(), PROTOBUF)
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "3"
    assert "full" in _status_message(reply)


# -- limits and hostile input --------------------------------------------------------


def test_body_over_the_limit_is_413(inbox: Inbox) -> None:
    server = _serve(inbox, token=None, max_bytes=10_000)
    try:
        target = f"http://127.0.0.1:{server.port}/v1/traces"
        request, _ = export_request(30)
        body = request.SerializeToString()
        assert len(body) > 10_000
        assert _post(target, body, PROTOBUF).status_code == 413
        packed = gzip.compress(body)
        assert len(packed) < 10_000  # small on the wire, over the limit once inflated
        assert _post(target, packed, {**PROTOBUF, "content-encoding": "gzip"}).status_code == 413
        small, _ = export_request(1)
        assert _post(target, small.SerializeToString(), PROTOBUF).status_code == 200
    finally:
        server.stop()


def test_gzip_bomb_is_413_without_inflating_it(url: str) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    bomb = b"".join(compressor.compress(chunk) for _ in range(1024)) + compressor.flush()
    assert len(bomb) < 2 << 20  # 1 GiB of zeros in about 1 MiB
    reply = _post(url, bomb, {**PROTOBUF, "content-encoding": "gzip"})
    assert reply.status_code == 413
    request, _ = export_request(1)
    assert _post(url, request.SerializeToString(), PROTOBUF).status_code == 200


def test_ten_thousand_attributes_are_rejected_as_a_span(url: str, inbox: Inbox) -> None:
    attributes = {f"k{i}": "v" for i in range(10_000)}
    request, _ = export_request(1, attributes=attributes)
    reply = _post(url, request.SerializeToString(), PROTOBUF)
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(reply.content)
    assert reply.status_code == 200
    assert response.partial_success.rejected_spans == 1
    assert "too_many_attributes" in response.partial_success.error_message


def test_a_10mb_value_is_rejected_as_a_span(url: str, inbox: Inbox) -> None:
    request, _ = export_request(1, attributes={A.GEN_AI_TOOL_CALL_ARGUMENTS: "x" * 10_000_000})
    good, ids = export_request(1)
    request.resource_spans.extend(good.resource_spans)
    reply = _post(url, request.SerializeToString(), PROTOBUF)
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_spans == 1
    assert "value_too_large" in response.partial_success.error_message
    assert [s.span_id for s in inbox.spans] == ids


def test_deeply_nested_json_arguments_are_kept_as_text(url: str, inbox: Inbox) -> None:
    nested = "[" * 50_000 + "]" * 50_000
    request, _ = export_request(1, attributes={A.GEN_AI_TOOL_CALL_ARGUMENTS: nested})
    reply = _post(url, request.SerializeToString(), PROTOBUF)
    assert reply.status_code == 200
    assert inbox.spans[0].attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS] == nested


def test_deeply_nested_values_are_400(url: str) -> None:
    depth = 5_000
    value = (
        '{"kvlistValue":{"values":[{"key":"k","value":' * depth
        + '{"stringValue":"leaf"}'
        + "}]}}" * depth
    )
    ids = f'"traceId":"{"ab" * 16}","spanId":"{"cd" * 8}"'
    span = f'{{{ids},"attributes":[{{"key":"a","value":{value}}}]}}'
    body = f'{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}'.encode()
    assert _post(url, body, JSON_TYPE).status_code == 400
    deep_json = b'{"resourceSpans": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert _post(url, deep_json, JSON_TYPE).status_code == 400
    request, _ = export_request(1)
    assert _post(url, request.SerializeToString(), PROTOBUF).status_code == 200


# -- decoders under fuzzing ----------------------------------------------------------


_FUZZ_BUDGET = MemoryBudget(1 << 30)


def _decodes_or_refuses(body: bytes, *, json_body: bool) -> None:
    with _FUZZ_BUDGET.lease() as lease, contextlib.suppress(PayloadError):
        decode_export(body, gzip=False, json_body=json_body, limit=1 << 20, lease=lease)
    assert _FUZZ_BUDGET.in_use == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_protobuf_decoder(body: bytes) -> None:
    _decodes_or_refuses(body, json_body=False)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
_otlp_keys = st.sampled_from(
    ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "attributes", "links", "key",
     "value", "stringValue", "intValue", "kvlistValue", "values", "arrayValue", "bytesValue"]
)  # fmt: skip
_otlp_like = st.recursive(
    st.text(max_size=40) | st.integers() | st.booleans(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_otlp_keys, inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(_json_values, _otlp_like).map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=512)
)
def test_fuzz_json_decoder(body: bytes) -> None:
    _decodes_or_refuses(body, json_body=True)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1024))
def test_fuzz_gunzip(body: bytes) -> None:
    with contextlib.suppress(PayloadError):
        gunzip(b"\x1f\x8b" + body, 10_000)


def test_gunzip_limit_and_multiple_members() -> None:
    assert gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), 10) == b"abcd"
    with pytest.raises(PayloadTooLarge):
        gunzip(gzip.compress(b"x" * 11), 10)
    assert base64.b64encode(b"\x00\x01\x02") == b"AAEC"
