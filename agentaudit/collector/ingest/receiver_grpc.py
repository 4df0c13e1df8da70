"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

Seam: the receiver decodes each request into :class:`SpanRecord` objects and hands
them to ``accept`` (the pipeline: redact, make durable, queue for the writer) with the
principal the request authenticated as. The export is acknowledged only after
``accept`` returns, so whatever ``accept`` guarantees (durability, with the WAL) is
what an OK response means.

The receive path, in order, each step bounded before the next begins:

1. **authenticate** the ``authorization`` metadata (``authenticate``), before the
   request message is read: Export is served by a generic handler that takes the
   request as a stream of raw bytes (the wire format of a unary call is the same), so
   the handler runs with only the metadata and reads the message when it asks for it;
   a request without a principal gets UNAUTHENTICATED and its message is never read;
2. **read** the message: gRPC refuses more than ``max_message_bytes`` on the wire
   (RESOURCE_EXHAUSTED);
3. **inflate** and **decode** within the process's decode memory budget
   (:mod:`~agentaudit.collector.ingest.payload`). gRPC core's own decompression is off
   (``grpc.per_message_decompression`` = 0; it inflates without any bound before the
   handler runs), so a gzip message arrives compressed and the receiver inflates it
   itself, bounded by ``max_message_bytes``. Which messages are compressed: gRPC does
   not show the handler the ``grpc-encoding`` header or the frame's compressed flag,
   so the receiver looks at the bytes: gzip starts with 1f 8b, and no protobuf message
   starts with 0x1f (wire type 7 does not exist). gzip is the only compression the
   server enables (``grpc.compression_enabled_algorithms_bitset``); gRPC refuses a
   ``deflate`` message itself (UNIMPLEMENTED), because a zlib stream's first byte can
   also start a valid protobuf message. OTLP exporters send gzip or nothing;
4. hand the spans to the **pipeline**; the request's budget lease is released when
   it returns.

Statuses (OTLP specification): a request over ``max_message_bytes`` (on the wire or
inflated), or one whose decoding alone would need more than the whole budget, gets
RESOURCE_EXHAUSTED; an undecodable one INVALID_ARGUMENT; spans ``accept`` rejects are
reported as ``partial_success``; :class:`Backpressure` (from the pipeline, or the
budget held by other exports beyond a short wait) becomes UNAVAILABLE with a
``google.rpc.RetryInfo`` detail (OTLP exporters honour its delay); a missing or wrong
bearer token is UNAUTHENTICATED.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from agentaudit.collector.errors import Backpressure, BindError, CollectorError
from agentaudit.collector.identity.principals import Principal
from agentaudit.collector.ingest.budget import DEFAULT_CAPACITY, Lease, MemoryBudget, OverBudget
from agentaudit.collector.ingest.payload import (
    GZIP_MAGIC,
    Accept,
    Authenticate,
    PayloadError,
    PayloadTooLarge,
    decode_export,
)
from agentaudit.collector.metrics import Histogram
from agentaudit.config import DEFAULT_MAX_REQUEST_BYTES

__all__ = ["SERVER_OPTIONS", "GrpcReceiver", "retry_status_details"]

log = logging.getLogger(__name__)

STATUS_DETAILS_KEY = "grpc-status-details-bin"
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"

SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    # messages reach the handler as sent: the receiver inflates them, bounded, after
    # authentication (gRPC core would inflate them in full before the handler runs)
    ("grpc.per_message_decompression", 0),
    # identity and gzip only: gRPC itself answers UNIMPLEMENTED to anything else
    ("grpc.compression_enabled_algorithms_bitset", (1 << 0) | (1 << 2)),
)


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


def _authorization(context: Any) -> str | None:
    for key, value in context.invocation_metadata():
        if key == "authorization":
            return str(value)
    return None


class _TraceService:
    def __init__(
        self,
        accept: Accept,
        authenticate: Authenticate,
        budget: MemoryBudget,
        max_message_bytes: int,
        latency: Histogram | None,
    ) -> None:
        self._accept = accept
        self._authenticate = authenticate
        self._budget = budget
        self._limit = max_message_bytes
        self._latency = latency

    def handler(self) -> grpc.GenericRpcHandler:
        # stream-unary with raw bytes: the handler runs before the message is read
        export = grpc.stream_unary_rpc_method_handler(self.export)
        return grpc.method_handlers_generic_handler(SERVICE, {"Export": export})

    def export(self, messages: Iterator[bytes], context: Any) -> bytes:
        started = time.perf_counter()
        principal = self._authenticate(_authorization(context))
        if principal is None:
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        with self._budget.lease() as lease:
            response = self._export(messages, principal, lease, context)
        if self._latency is not None:
            self._latency.observe(time.perf_counter() - started)
        return response

    def _export(
        self, messages: Iterator[bytes], principal: Principal, lease: Lease, context: Any
    ) -> bytes:
        message = next(messages, None)
        if message is None:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request")
        try:
            lease.grow(len(message))
            spans = decode_export(
                message,
                gzip=message[:2] == GZIP_MAGIC,
                json_body=False,
                limit=self._limit,
                lease=lease,
            )
            del message
            outcome = self._accept(spans, principal=principal)
        except (PayloadTooLarge, OverBudget) as exc:
            _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except PayloadError as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Backpressure as exc:
            context.set_trailing_metadata(
                ((STATUS_DETAILS_KEY, retry_status_details(str(exc), exc.retry_after)),)
            )
            _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        except CollectorError as exc:
            _abort(context, grpc.StatusCode.INTERNAL, str(exc))
        response = trace_service_pb2.ExportTraceServiceResponse()
        if outcome is not None and outcome.rejected:
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = outcome.message
        return bytes(response.SerializeToString())


def _abort(context: Any, code: grpc.StatusCode, details: str) -> NoReturn:
    context.abort(code, details)
    raise AssertionError("context.abort returned")  # it raises


class GrpcReceiver:
    """A gRPC server for OTLP traces on ``host:port`` (port 0 picks a free port).

    ``authenticate(authorization) -> Principal | None`` decides who may export (None:
    UNAUTHENTICATED); ``budget`` is the process's decode memory budget, shared with the
    other receivers (by default one of its own, of the default size).
    """

    def __init__(
        self,
        accept: Accept,
        *,
        host: str,
        port: int,
        authenticate: Authenticate,
        workers: int = 8,
        max_message_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        budget: MemoryBudget | None = None,
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
                *SERVER_OPTIONS,
            ],
        )
        service = _TraceService(
            accept,
            authenticate,
            budget or MemoryBudget.for_process(DEFAULT_CAPACITY),
            max_message_bytes,
            latency,
        )
        self._server.add_generic_rpc_handlers((service.handler(),))
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
