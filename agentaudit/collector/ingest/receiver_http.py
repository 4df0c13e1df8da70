"""OTLP/HTTP receiver: ``POST /v1/traces`` with protobuf or JSON bodies, gzip or not.

Seam: like the gRPC receiver, it decodes a request into :class:`SpanRecord` objects
and calls ``accept`` (the pipeline); the response is sent only after ``accept``
returns, so a 200 means the spans are durable.

Responses follow the OTLP/HTTP specification; error bodies are a ``google.rpc.Status``
in the request's encoding (protobuf or JSON):

* 200 with ``ExportTraceServiceResponse`` (``partial_success`` when spans were rejected)
* 400 undecodable payload (bad protobuf, bad JSON, invalid UTF-8, broken gzip)
* 401 missing or wrong bearer token (when ``AGENTAUDIT_TOKEN`` is set)
* 413 body larger than ``max_bytes`` on the wire or after decompression (gzip bombs
  are cut off at the limit, never inflated in full)
* 415 content type other than ``application/x-protobuf`` / ``application/json``, or a
  content encoding other than ``gzip`` / ``identity``
* 503 with ``Retry-After`` when the pipeline applies backpressure

OTLP/JSON differs from protobuf's canonical JSON in one way that matters here: trace
and span ids are hex strings, not base64; :func:`parse_json_request` converts them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import time
import zlib
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentaudit.collector.errors import Backpressure
from agentaudit.collector.ingest.model import Accepted, SpanRecord
from agentaudit.collector.ingest.otlp_decode import decode_export_request
from agentaudit.collector.metrics import Histogram
from agentaudit.collector.serving.auth import bearer_ok
from agentaudit.config import DEFAULT_MAX_REQUEST_BYTES

__all__ = ["PayloadError", "PayloadTooLarge", "build_otlp_http_app", "gunzip", "parse_json_request"]

log = logging.getLogger(__name__)

Accept = Callable[[list[SpanRecord]], "Accepted | None"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ENCODINGS = ("", "identity", "gzip")
# google.rpc.Code numbers used in Status bodies
_INVALID_ARGUMENT, _UNAUTHENTICATED, _RESOURCE_EXHAUSTED, _UNAVAILABLE = 3, 16, 8, 14


class PayloadError(ValueError):
    """The request body cannot be decoded into an export request."""


class PayloadTooLarge(PayloadError):
    """The request body is over the size limit (on the wire or decompressed)."""


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip ``data`` (one or more members), refusing output over ``limit``."""
    out = bytearray()
    remaining = data
    while remaining:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(remaining, limit + 1 - len(out))
        except zlib.error as exc:
            raise PayloadError(f"the gzip body is corrupt: {exc}") from None
        if len(out) > limit:
            raise PayloadTooLarge(f"the decompressed body is larger than {limit} bytes")
        if not inflater.eof:
            if inflater.unconsumed_tail:  # stopped at the output limit
                raise PayloadTooLarge(f"the decompressed body is larger than {limit} bytes")
            raise PayloadError("the gzip body is truncated")
        remaining = inflater.unused_data
    return bytes(out)


def _hex_to_base64(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return ""  # an invalid id: the span is rejected by validation, not the request


def _fix_ids(holder: Any, names: tuple[str, ...]) -> None:
    if not isinstance(holder, dict):
        return
    for name in names:
        for key in (name, _snake(name)):
            if key in holder:
                holder[key] = _hex_to_base64(holder[key])


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _items(holder: Any, name: str) -> list[Any]:
    value = holder.get(name, holder.get(_snake(name))) if isinstance(holder, dict) else None
    return value if isinstance(value, list) else []


def parse_json_request(body: bytes) -> Any:
    """An ``ExportTraceServiceRequest`` from an OTLP/JSON body (hex ids)."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise PayloadError("the JSON body is nested too deeply") from None
    except ValueError as exc:  # includes invalid UTF-8
        raise PayloadError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError("the JSON body must be an object with resourceSpans")
    for resource_spans in _items(document, "resourceSpans"):
        for scope_spans in _items(resource_spans, "scopeSpans"):
            for span in _items(scope_spans, "spans"):
                _fix_ids(span, ("traceId", "spanId", "parentSpanId"))
                for link in _items(span, "links"):
                    _fix_ids(link, ("traceId", "spanId"))
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except RecursionError:
        raise PayloadError("the JSON body is nested too deeply") from None
    except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
        raise PayloadError(f"the JSON body is not an OTLP export request: {exc}") from None
    return request


def parse_protobuf_request(body: bytes) -> Any:
    """An ``ExportTraceServiceRequest`` from a protobuf body."""
    try:
        return trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError) as exc:
        raise PayloadError(f"the body is not a valid OTLP protobuf export request: {exc}") from None


def _status(content_type: str, status: int, code: int, message: str, **headers: str) -> Response:
    if content_type == PROTOBUF:
        body = status_pb2.Status(code=code, message=message).SerializeToString()
    else:
        body = json.dumps({"code": code, "message": message}).encode()
        content_type = JSON
    return Response(body, status_code=status, media_type=content_type, headers=headers)


def _response(content_type: str, outcome: Accepted | None) -> Response:
    reply = trace_service_pb2.ExportTraceServiceResponse()
    if outcome is not None and outcome.rejected:
        reply.partial_success.rejected_spans = outcome.rejected
        reply.partial_success.error_message = outcome.message
    if content_type == PROTOBUF:
        return Response(reply.SerializeToString(), media_type=PROTOBUF)
    body = json_format.MessageToJson(reply, indent=None)
    return Response(body.encode(), media_type=JSON)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    return bytes(chunks)


def _decode(content_type: str, encoding: str, body: bytes, limit: int) -> list[SpanRecord]:
    if encoding == "gzip":
        body = gunzip(body, limit)
    parse = parse_protobuf_request if content_type == PROTOBUF else parse_json_request
    request = parse(body)
    try:
        return list(decode_export_request(request))
    except RecursionError:
        raise PayloadError("attribute values are nested too deeply") from None


def build_otlp_http_app(
    accept: Accept,
    *,
    token: str | None,
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    latency: Histogram | None = None,
    reject: Callable[[str, int], None] | None = None,
) -> Starlette:
    """The OTLP/HTTP ASGI app; ``reject(reason, n)`` counts refused requests."""

    def refused(reason: str) -> None:
        if reject is not None:
            reject(reason, 1)

    async def traces(request: Request) -> Response:
        started = time.perf_counter()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not bearer_ok(request.headers.get("authorization"), token):
            refused("unauthenticated")
            return _status(content_type, 401, _UNAUTHENTICATED, "missing or invalid bearer token")
        if content_type not in (PROTOBUF, JSON):
            refused("unsupported_media_type")
            return _status(
                JSON, 415, _INVALID_ARGUMENT,
                f"unsupported content type {content_type!r}; send {PROTOBUF} or {JSON}",
            )  # fmt: skip
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in _ENCODINGS:
            refused("unsupported_encoding")
            return _status(
                content_type, 415, _INVALID_ARGUMENT,
                f"unsupported content encoding {encoding!r}; send gzip or identity",
            )  # fmt: skip
        try:
            body = await _read_body(request, max_bytes)
            spans = await run_in_threadpool(_decode, content_type, encoding, body, max_bytes)
        except PayloadTooLarge as exc:
            refused("too_large")
            return _status(content_type, 413, _RESOURCE_EXHAUSTED, str(exc))
        except PayloadError as exc:
            refused("undecodable")
            return _status(content_type, 400, _INVALID_ARGUMENT, str(exc))
        try:
            outcome = await run_in_threadpool(accept, spans)
        except Backpressure as exc:
            retry = str(max(1, math.ceil(exc.retry_after)))
            return _status(content_type, 503, _UNAVAILABLE, str(exc), **{"Retry-After": retry})
        if latency is not None:
            latency.observe(time.perf_counter() - started)
        return _response(content_type, outcome)

    return Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])
