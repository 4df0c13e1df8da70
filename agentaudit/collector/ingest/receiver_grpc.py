"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

Seam: the receiver decodes each request into :class:`SpanRecord` objects and hands
them to ``accept`` (the pipeline: redact, make durable, queue for the writer). The
export is acknowledged only after ``accept`` returns, so whatever ``accept``
guarantees (durability, with the WAL) is what an OK response means.

Statuses (OTLP specification): a request over ``max_message_bytes`` after
decompression gets RESOURCE_EXHAUSTED (from gRPC itself); spans ``accept`` rejects are
reported as ``partial_success``; :class:`Backpressure` becomes UNAVAILABLE with a
``google.rpc.RetryInfo`` detail (OTLP exporters honour its delay); a missing or wrong
bearer token is UNAUTHENTICATED. gzip request compression is handled by gRPC.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from agentaudit.collector.errors import Backpressure, BindError, CollectorError
from agentaudit.collector.ingest.model import Accepted, SpanRecord
from agentaudit.collector.ingest.otlp_decode import decode_export_request
from agentaudit.collector.metrics import Histogram
from agentaudit.collector.serving.auth import bearer_ok
from agentaudit.config import DEFAULT_MAX_REQUEST_BYTES

__all__ = ["GrpcReceiver", "retry_status_details"]

log = logging.getLogger(__name__)

Accept = Callable[[list[SpanRecord]], "Accepted | None"]
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def retry_status_details(message: str, retry_after: float) -> bytes:
    """A serialised ``google.rpc.Status`` (UNAVAILABLE) carrying a RetryInfo delay."""
    seconds = math.floor(retry_after)
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=seconds, nanos=int((retry_after - seconds) * 1e9))
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=grpc.StatusCode.UNAVAILABLE.value[0], message=message, details=[detail]
    )
    return bytes(status.SerializeToString())


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, accept: Accept, token: str | None, latency: Histogram | None) -> None:
        self._accept = accept
        self._token = token
        self._latency = latency

    def Export(self, request: Any, context: Any) -> Any:
        started = time.perf_counter()
        metadata = dict(context.invocation_metadata())
        if not bearer_ok(metadata.get("authorization"), self._token):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        spans = list(decode_export_request(request))
        try:
            outcome = self._accept(spans)
        except Backpressure as exc:
            context.set_trailing_metadata(
                ((STATUS_DETAILS_KEY, retry_status_details(str(exc), exc.retry_after)),)
            )
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except CollectorError as exc:
            context.abort(grpc.StatusCode.INTERNAL, str(exc))
        response = trace_service_pb2.ExportTraceServiceResponse()
        if outcome is not None and outcome.rejected:
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = outcome.message
        if self._latency is not None:
            self._latency.observe(time.perf_counter() - started)
        return response


class GrpcReceiver:
    """A gRPC server for OTLP traces on ``host:port`` (port 0 picks a free port)."""

    def __init__(
        self,
        accept: Accept,
        *,
        host: str,
        port: int,
        token: str | None,
        workers: int = 8,
        max_message_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        reuse_port: bool = False,
        latency: Histogram | None = None,
    ) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.so_reuseport", 1 if reuse_port else 0),
            ],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _TraceService(accept, token, latency), self._server
        )
        address = f"{_grpc_host(host)}:{port}"
        try:
            if tls_cert is not None and tls_key is not None:
                credentials = grpc.ssl_server_credentials(
                    [(_read_pem(tls_key, "--tls-key"), _read_pem(tls_cert, "--tls-cert"))]
                )
                bound = self._server.add_secure_port(address, credentials)
            else:
                bound = self._server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise BindError("OTLP/gRPC", host, port, "--grpc-port")
        self.port: int = bound

    def start(self) -> None:
        self._server.start()
        log.info("OTLP/gRPC receiver listening on port %d", self.port)

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; in-flight exports get ``grace`` seconds to finish."""
        self._server.stop(grace).wait()

    def __enter__(self) -> GrpcReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_pem(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CollectorError(f"{flag}: cannot read {path}: {exc.strerror}") from None


def _grpc_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
