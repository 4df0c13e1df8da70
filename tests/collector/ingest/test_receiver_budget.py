"""Both receivers: authenticate before reading, inflate and decode within the budget.

The budget's ``peak`` shows what a request made the receiver read, inflate or decode:
every byte is charged before it is allocated, so a peak of 0 means nothing was read.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from agentaudit.collector.identity.principals import AGENT, Authenticator, Principal
from agentaudit.collector.ingest.budget import MemoryBudget
from agentaudit.collector.ingest.receiver_grpc import GrpcReceiver
from agentaudit.collector.ingest.receiver_http import build_otlp_http_app
from agentaudit.collector.model import Accepted, SpanRecord
from agentaudit.collector.serving.server import HttpServer
from tests.collector._otlp import export_request
from tests.collector.ingest._decode_memory import SHAPES

pytestmark = pytest.mark.usefixtures("clean_env")

MiB = 1 << 20
TOKEN = "agent-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"content-type": "application/x-protobuf"}
GZIP = {**PROTOBUF, "content-encoding": "gzip"}


def gzip_bomb(size: int) -> bytes:
    """gzip of ``size`` zero bytes: ~1 KB per MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    step = bytes(MiB)
    return b"".join(compressor.compress(step) for _ in range(size // MiB)) + compressor.flush()


class Inbox:
    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self.principals: list[Principal | None] = []
        self.lock = threading.Lock()

    def __call__(self, spans: list[SpanRecord], *, principal: Principal | None = None) -> Accepted:
        with self.lock:
            self.spans += spans
            self.principals.append(principal)
        return Accepted(len(spans))


class Receivers:
    def __init__(self, budget: MemoryBudget, limit: int) -> None:
        self.budget = budget
        self.inbox = Inbox()
        authenticate = Authenticator(agent_token=TOKEN, admin_token=None).agent
        self.grpc = GrpcReceiver(
            self.inbox,
            host="127.0.0.1",
            port=0,
            authenticate=authenticate,
            max_message_bytes=limit,
            budget=budget,
        )
        app = build_otlp_http_app(
            self.inbox, authenticate=authenticate, max_bytes=limit, budget=budget
        )
        self.http = HttpServer(app, host="127.0.0.1", port=0, what="t", flag="--t")
        self.url = f"http://127.0.0.1:{self.http.port}/v1/traces"
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc.port}")

    def export(self, message: bytes, **options: Any) -> bytes:
        """One gRPC Export call with the raw ``message``."""
        call = self.channel.unary_unary(EXPORT)
        return bytes(call(message, timeout=30, **options))

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url, content=body, headers=headers, timeout=30)


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    started = Receivers(MemoryBudget(64 * MiB, wait=0.2), limit=8 * MiB)
    started.grpc.start()
    started.http.start()
    yield started
    started.channel.close()
    started.grpc.stop(0)
    started.http.stop()


def test_unauthenticated_bombs_are_refused_before_anything_is_read(receivers: Receivers) -> None:
    bomb = gzip_bomb(64 * MiB)
    assert len(bomb) < 100_000
    for metadata in (None, (("authorization", "Bearer wrong"),)):
        with pytest.raises(grpc.RpcError) as refused:
            receivers.export(bomb, metadata=metadata)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as refused:  # compressed by gRPC itself
        receivers.export(bytes(4 * MiB), compression=grpc.Compression.Gzip)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    for headers in (GZIP, {**GZIP, "authorization": "Bearer wrong"}):
        assert receivers.post(bomb, headers).status_code == 401
    assert receivers.budget.peak == 0  # not a byte read, inflated or parsed
    assert receivers.inbox.principals == []


def test_real_exporters_with_gzip(receivers: Receivers) -> None:
    grpc_exporter = GrpcExporter(
        endpoint=f"127.0.0.1:{receivers.grpc.port}",
        insecure=True,
        headers=AUTH,
        compression=grpc.Compression.Gzip,
        timeout=10,
    )
    http_exporter = HttpExporter(
        endpoint=receivers.url,
        headers=dict(AUTH),
        compression=HttpCompression.Gzip,
        timeout=10,
    )
    for exporter in (grpc_exporter, http_exporter):
        memory = _Capture()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        with provider.get_tracer("t").start_as_current_span("execute_tool send_email") as span:
            span.set_attribute("gen_ai.tool.call.arguments", '{"to": "bob"}' * 1000)
        provider.shutdown()
        assert exporter.export(memory.spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert [s.name for s in receivers.inbox.spans] == ["execute_tool send_email"] * 2
    assert receivers.inbox.principals == [Principal(AGENT)] * 2
    assert receivers.budget.peak > 0
    assert receivers.budget.in_use == 0


class _Capture:
    def __init__(self) -> None:
        self.spans: list[Any] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans += spans
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


def test_deflate_is_refused_by_grpc_itself(receivers: Receivers) -> None:
    request, _ = export_request(2)
    with pytest.raises(grpc.RpcError) as refused:
        receivers.export(
            request.SerializeToString(), metadata=AUTH, compression=grpc.Compression.Deflate
        )
    assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert receivers.inbox.spans == []


def test_authenticated_bombs_stop_at_the_limit(receivers: Receivers) -> None:
    bomb = gzip_bomb(1024 * MiB)
    with pytest.raises(grpc.RpcError) as refused:
        receivers.export(bomb, metadata=AUTH)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than" in (refused.value.details() or "")
    reply = receivers.post(bomb, {**GZIP, "authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 413
    assert receivers.budget.peak < 12 * MiB  # the 8 MiB limit, and one step
    assert receivers.budget.in_use == 0


def test_an_export_needing_more_than_the_whole_budget_is_refused(receivers: Receivers) -> None:
    empty_spans, _ = SHAPES["empty_spans"](4 * MiB)  # decoded, 2 million spans: ~2 GB
    packed = gzip.compress(empty_spans)
    with pytest.raises(grpc.RpcError) as refused:
        receivers.export(packed, metadata=AUTH)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "decode_budget_bytes" in (refused.value.details() or "")
    reply = receivers.post(packed, {**GZIP, "authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 413
    assert "decode_budget_bytes" in status_pb2.Status.FromString(reply.content).message
    assert receivers.budget.peak <= receivers.budget.capacity
    assert receivers.budget.in_use == 0
    assert receivers.inbox.spans == []


def test_a_budget_held_by_other_exports_is_retryable_backpressure(receivers: Receivers) -> None:
    request, _ = export_request(50)
    body = request.SerializeToString()
    others = receivers.budget.lease()
    others.grow(receivers.budget.capacity - 64 * 1024)
    with pytest.raises(grpc.RpcError) as refused:
        receivers.export(body, metadata=AUTH)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    details = dict(refused.value.trailing_metadata())  # type: ignore[attr-defined]
    status = status_pb2.Status.FromString(details["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert info.retry_delay.seconds == 1
    reply = receivers.post(body, {**PROTOBUF, "authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "1"
    others.close()
    receivers.export(body, metadata=AUTH)
    assert receivers.post(body, {**PROTOBUF, "authorization": f"Bearer {TOKEN}"}).is_success
    assert len(receivers.inbox.spans) == 100
    assert receivers.budget.in_use == 0


def test_undecodable_grpc_messages_are_invalid_argument(receivers: Receivers) -> None:
    for message in (b"\xff\xff\xff", b"\x0a\x05\x12\x03\x13\x00\x14", b"\x1f\x8b\x08\x00junk"):
        with pytest.raises(grpc.RpcError) as refused:
            receivers.export(message, metadata=AUTH)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert receivers.budget.in_use == 0
