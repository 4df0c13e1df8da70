"""collector.receiver_grpc: a real OTel SDK exporter and a raw gRPC stub against the receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentaudit.collector.errors import Backpressure, BindError
from agentaudit.collector.identity.principals import AGENT, OPEN, Authenticator, Principal
from agentaudit.collector.ingest.receiver_grpc import GrpcReceiver
from agentaudit.collector.model import SpanRecord
from agentaudit.schema import attributes as A

# The exporter reads OTEL_EXPORTER_OTLP_* (headers, compression, ...) from the environment.
pytestmark = pytest.mark.usefixtures("clean_env")

TOKEN = "agent-token-123"


class Inbox:
    """The receiver's ``accept`` callable: collects spans, signals arrival."""

    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self.principals: list[Principal | None] = []
        self.calls = 0
        self._arrived = threading.Event()

    def __call__(self, spans: list[SpanRecord], *, principal: Principal | None = None) -> None:
        self.calls += 1
        self.spans.extend(spans)
        self.principals.append(principal)
        self._arrived.set()

    def wait(self, timeout: float = 30.0) -> None:
        assert self._arrived.wait(timeout), "no spans arrived"


def authenticator(token: str | None) -> Authenticator:
    if token is None:
        return Authenticator(agent_token=None, admin_token=None, open_mode=True)
    return Authenticator(agent_token=token, admin_token=None)


def serve(inbox: Any, token: str | None) -> Iterator[GrpcReceiver]:
    receiver = GrpcReceiver(
        inbox, host="127.0.0.1", port=0, authenticate=authenticator(token).agent, workers=2
    )
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop(grace=1.0)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def open_receiver(inbox: Inbox) -> Iterator[GrpcReceiver]:
    yield from serve(inbox, token=None)


@pytest.fixture
def token_receiver(inbox: Inbox) -> Iterator[GrpcReceiver]:
    yield from serve(inbox, token=TOKEN)


def finished_spans() -> tuple[Any, ...]:
    """Real SDK spans (one tool call, one model call) captured in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({A.SERVICE_NAME: "mail-agent", "deployment.tier": 3})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("agentaudit.tests", "9.9")
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as chat:
        chat.set_attribute(A.GEN_AI_OPERATION_NAME, A.OPERATION_CHAT)
        with tracer.start_as_current_span("execute_tool send_email") as tool:
            tool.set_attribute(A.GEN_AI_OPERATION_NAME, A.OPERATION_EXECUTE_TOOL)
            tool.set_attribute(A.GEN_AI_TOOL_NAME, "send_email")
            tool.set_attribute(A.CREDENTIAL_EXPIRES_AT, 1_800_000_000)
            tool.set_attribute("test.bool", True)
            tool.set_attribute("test.double", 0.25)
            tool.set_attribute(A.SOURCE_REFS, ["email:msg-42", "user:turn-1"])
            tool.set_attribute("test.ints", [1, 2, 3])
            tool.add_event("redacted", {"count": 2})
            tool.set_status(Status(StatusCode.ERROR, "smtp down"))
    provider.shutdown()
    return tuple(memory.get_finished_spans())


def export(port: int, headers: tuple[tuple[str, str], ...] | None = None) -> SpanExportResult:
    exporter = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{port}", insecure=True, headers=headers, timeout=10
    )
    try:
        return exporter.export(finished_spans())
    finally:
        exporter.shutdown()


def test_exported_spans_arrive_decoded_with_types(
    open_receiver: GrpcReceiver, inbox: Inbox
) -> None:
    assert export(open_receiver.port) is SpanExportResult.SUCCESS
    inbox.wait()
    by_name = {span.name: span for span in inbox.spans}
    assert set(by_name) == {"chat gpt-4o", "execute_tool send_email"}
    tool, chat = by_name["execute_tool send_email"], by_name["chat gpt-4o"]

    assert tool.attributes[A.GEN_AI_TOOL_NAME] == "send_email"
    assert tool.attributes[A.CREDENTIAL_EXPIRES_AT] == 1_800_000_000
    assert type(tool.attributes[A.CREDENTIAL_EXPIRES_AT]) is int
    assert tool.attributes["test.bool"] is True
    assert tool.attributes["test.double"] == 0.25
    assert tool.attributes[A.SOURCE_REFS] == ["email:msg-42", "user:turn-1"]
    assert tool.attributes["test.ints"] == [1, 2, 3]

    assert len(tool.trace_id) == 32
    assert len(tool.span_id) == 16
    assert tool.trace_id == chat.trace_id
    assert tool.parent_span_id == chat.span_id
    assert chat.parent_span_id == ""
    assert tool.kind == "Internal"
    assert chat.kind == "Client"
    assert tool.status_code == "Error"
    assert tool.status_message == "smtp down"
    assert tool.end_ns >= tool.start_ns > 0
    assert tool.resource_attributes[A.SERVICE_NAME] == "mail-agent"
    assert tool.resource_attributes["deployment.tier"] == 3
    assert tool.scope_name == "agentaudit.tests"
    assert tool.scope_version == "9.9"
    assert [(e.name, e.attributes) for e in tool.events] == [("redacted", {"count": 2})]


def raw_request() -> Any:
    """An export request with a kvlist and bytes value (the SDK cannot set those)."""
    kv = common_pb2.KeyValue
    any_value = common_pb2.AnyValue
    nested = common_pb2.KeyValueList(
        values=[
            kv(key="n", value=any_value(int_value=7)),
            kv(
                key="inner",
                value=any_value(
                    array_value=common_pb2.ArrayValue(values=[any_value(bool_value=False)])
                ),
            ),
        ]
    )
    span = trace_pb2.Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name="execute_tool raw",
        kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=10,
        end_time_unix_nano=20,
        attributes=[
            kv(key="map", value=any_value(kvlist_value=nested)),
            kv(key="blob", value=any_value(bytes_value=b"\x00\x01")),
            kv(key="empty", value=any_value()),
        ],
    )
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )


def call(port: int, metadata: list[tuple[str, str]] | None = None) -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        return stub.Export(raw_request(), metadata=metadata, timeout=10)


def test_kvlist_and_bytes_values_decode(open_receiver: GrpcReceiver, inbox: Inbox) -> None:
    call(open_receiver.port)
    inbox.wait()
    (span,) = inbox.spans
    assert span.attributes["map"] == {"n": 7, "inner": [False]}
    assert span.attributes["blob"] == b"\x00\x01"
    assert span.attributes["empty"] == ""
    assert span.trace_id == bytes(range(16)).hex()
    assert span.kind == "Server"


def test_times_past_2262_are_clamped(open_receiver: GrpcReceiver, inbox: Inbox) -> None:
    request = raw_request()
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.start_time_unix_nano = 2**64 - 1
    span.end_time_unix_nano = 2**64 - 1
    span.events.add(time_unix_nano=2**64 - 1, name="late")
    with grpc.insecure_channel(f"127.0.0.1:{open_receiver.port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        stub.Export(request, timeout=10)
    (decoded,) = inbox.spans
    assert decoded.start_ns == decoded.end_ns == 2**63 - 1
    assert decoded.events[0].time_ns == 2**63 - 1


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        [("authorization", "Bearer wrong")],
        [("authorization", TOKEN)],
        [("authorization", f"Basic {TOKEN}")],
        [("authorization", f"Bearer {TOKEN}x")],
    ],
)
def test_missing_or_wrong_token_is_unauthenticated(
    token_receiver: GrpcReceiver, inbox: Inbox, metadata: list[tuple[str, str]] | None
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(token_receiver.port, metadata)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert inbox.calls == 0


def test_right_token_is_accepted(token_receiver: GrpcReceiver, inbox: Inbox) -> None:
    call(token_receiver.port, [("authorization", f"Bearer {TOKEN}")])
    assert inbox.calls == 1
    assert inbox.principals == [Principal(AGENT)]


def test_open_mode_passes_the_open_principal(open_receiver: GrpcReceiver, inbox: Inbox) -> None:
    call(open_receiver.port)
    assert inbox.principals == [Principal(OPEN)]


def test_exporter_with_the_token_header(token_receiver: GrpcReceiver, inbox: Inbox) -> None:
    assert export(token_receiver.port, (("authorization", f"Bearer {TOKEN}"),)) is (
        SpanExportResult.SUCCESS
    )
    assert len(inbox.spans) == 2
    assert export(token_receiver.port, (("authorization", "Bearer nope"),)) is (
        SpanExportResult.FAILURE
    )
    assert len(inbox.spans) == 2


def test_backpressure_is_unavailable() -> None:
    def refuse(spans: list[SpanRecord], *, principal: Principal | None = None) -> None:
        raise Backpressure("queue full")

    for receiver in serve(refuse, token=None):
        with pytest.raises(grpc.RpcError) as caught:
            call(receiver.port)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "queue full" in (caught.value.details() or "")


def test_port_in_use_is_a_bind_error(busy_port: int) -> None:
    with pytest.raises(BindError, match=f"127.0.0.1:{busy_port}.*--grpc-port") as caught:
        GrpcReceiver(
            Inbox(), host="127.0.0.1", port=busy_port, authenticate=authenticator(None).agent
        )
    assert caught.value.exit_code == 5


def test_address_not_on_this_host_is_a_bind_error() -> None:
    # 203.0.113.0/24 is TEST-NET-3 (RFC 5737): never assigned to a local interface.
    with pytest.raises(BindError):
        GrpcReceiver(Inbox(), host="203.0.113.255", port=0, authenticate=authenticator(None).agent)
