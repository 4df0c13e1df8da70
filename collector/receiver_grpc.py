"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

Seam: the receiver decodes each request into :class:`SpanRecord` objects and hands
them to ``accept`` (the pipeline: redact, make durable, queue for the writer). The
export is acknowledged only after ``accept`` returns, so whatever ``accept``
guarantees (durability, with the WAL) is what an OK response means.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from agentaudit.collector.errors import Backpressure, BindError
from agentaudit.collector.spans import SpanRecord, decode_export_request

__all__ = ["GrpcReceiver"]

log = logging.getLogger(__name__)

Accept = Callable[[list[SpanRecord]], None]
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def bearer_ok(header: str | None, token: str | None) -> bool:
    """True when no token is required, or ``header`` is ``Bearer <token>``."""
    if token is None:
        return True
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, accept: Accept, token: str | None) -> None:
        self._accept = accept
        self._token = token

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        metadata = dict(context.invocation_metadata())
        if not bearer_ok(metadata.get("authorization"), self._token):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        spans = list(decode_export_request(request))
        try:
            self._accept(spans)
        except Backpressure as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return trace_service_pb2.ExportTraceServiceResponse()


class GrpcReceiver:
    """A gRPC server for OTLP traces on ``host:port`` (port 0 picks a free port)."""

    def __init__(
        self, accept: Accept, *, host: str, port: int, token: str | None, workers: int = 8
    ) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            _TraceService(accept, token), self._server
        )
        try:
            bound = self._server.add_insecure_port(f"{_grpc_host(host)}:{port}")
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


def _grpc_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
