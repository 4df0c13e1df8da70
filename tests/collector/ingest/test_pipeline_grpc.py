"""gRPC statuses of the OTLP receiver: size limit, gzip, partial success, RetryInfo."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from agentaudit.collector.errors import Backpressure
from agentaudit.collector.identity.principals import Authenticator, Principal
from agentaudit.collector.ingest.pipeline import validate
from agentaudit.collector.ingest.receiver_grpc import GrpcReceiver
from agentaudit.collector.model import Accepted, SpanRecord
from tests.collector._otlp import export_request

OPEN = Authenticator(agent_token=None, admin_token=None, open_mode=True)


class Inbox:
    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self.saturated = False

    def __call__(self, spans: list[SpanRecord], *, principal: Principal | None = None) -> Accepted:
        if self.saturated:
            raise Backpressure("the write-ahead log is full", retry_after=1.5)
        valid, reasons = validate(spans)
        self.spans += valid
        return Accepted(len(valid), len(spans) - len(valid), ", ".join(reasons))


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def stub(inbox: Inbox) -> Iterator[trace_service_pb2_grpc.TraceServiceStub]:
    receiver = GrpcReceiver(
        inbox, host="127.0.0.1", port=0, authenticate=OPEN.agent, max_message_bytes=20_000
    )
    receiver.start()
    with grpc.insecure_channel(f"127.0.0.1:{receiver.port}") as channel:
        yield trace_service_pb2_grpc.TraceServiceStub(channel)
    receiver.stop(0)


def test_over_the_size_limit_is_resource_exhausted(
    stub: trace_service_pb2_grpc.TraceServiceStub, inbox: Inbox
) -> None:
    request, _ = export_request(40)
    assert request.ByteSize() > 20_000
    with pytest.raises(grpc.RpcError) as failure:
        stub.Export(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert inbox.spans == []


def test_gzip_requests_are_accepted(
    stub: trace_service_pb2_grpc.TraceServiceStub, inbox: Inbox
) -> None:
    request, ids = export_request(3)
    stub.Export(request, timeout=10, compression=grpc.Compression.Gzip)
    assert [s.span_id for s in inbox.spans] == ids


def test_invalid_spans_are_a_partial_success(
    stub: trace_service_pb2_grpc.TraceServiceStub, inbox: Inbox
) -> None:
    bad, _ = export_request(2, trace_id=b"\x00" * 16)
    good, ids = export_request(1)
    bad.resource_spans.extend(good.resource_spans)
    response = stub.Export(bad, timeout=10)
    assert response.partial_success.rejected_spans == 2
    assert "invalid_trace_id" in response.partial_success.error_message
    assert [s.span_id for s in inbox.spans] == ids


def test_backpressure_is_unavailable_with_retry_info(
    stub: trace_service_pb2_grpc.TraceServiceStub, inbox: Inbox
) -> None:
    inbox.saturated = True
    request, _ = export_request(1)
    with pytest.raises(grpc.RpcError) as failure:
        stub.Export(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    details = dict(failure.value.trailing_metadata())  # type: ignore[attr-defined]
    status = status_pb2.Status.FromString(details["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (1, 500_000_000)
