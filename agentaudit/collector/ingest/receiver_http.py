"""OTLP/HTTP receiver: ``POST /v1/traces`` with protobuf or JSON bodies, gzip or not.

Seam: like the gRPC receiver, it decodes a request into :class:`SpanRecord` objects
and calls ``accept`` (the pipeline) with the principal the request authenticated as;
the response is sent only after ``accept`` returns, so a 200 means the spans are
durable.

The receive path, in order, each step bounded before the next begins:

1. **authenticate** the ``Authorization`` header (``authenticate``): a request that
   proves no principal gets 401 before a byte of its body is read;
2. check the content type and encoding (415), then **read** the body, refusing more
   than ``max_bytes`` (413: on the declared ``Content-Length`` before reading, on the
   bytes streamed while reading);
3. **inflate** (gzip) and **decode** it within the process's decode memory budget
   (:mod:`~agentaudit.collector.ingest.payload`): the body as read, the inflated bytes,
   the parser's memory and the decoded spans are all charged to the request's lease;
4. hand the spans to the **pipeline**; the lease is released when it returns.

Responses follow the OTLP/HTTP specification; error bodies are a ``google.rpc.Status``
in the request's encoding (protobuf or JSON):

* 200 with ``ExportTraceServiceResponse`` (``partial_success`` when spans were rejected)
* 400 undecodable payload (bad protobuf, bad JSON, invalid UTF-8, broken gzip)
* 401 missing or wrong bearer token
* 413 body larger than ``max_bytes`` on the wire or after decompression (gzip bombs
  are cut off at the limit, never inflated in full), or an export whose decoding alone
  would need more than the whole decode memory budget
* 415 content type other than ``application/x-protobuf`` / ``application/json``, or a
  content encoding other than ``gzip`` / ``identity``
* 503 with ``Retry-After`` when the pipeline applies backpressure, or when other
  exports hold the decode memory budget for longer than a short wait
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentaudit.collector.errors import Backpressure
from agentaudit.collector.ingest.budget import (
    DEFAULT_CAPACITY,
    BudgetExhausted,
    Lease,
    MemoryBudget,
    OverBudget,
    drop_frames,
)
from agentaudit.collector.ingest.payload import (
    Accept,
    Authenticate,
    PayloadError,
    PayloadTooLarge,
    decode_export,
)
from agentaudit.collector.metrics import Histogram
from agentaudit.collector.model import Accepted
from agentaudit.config import DEFAULT_MAX_REQUEST_BYTES

__all__ = ["build_otlp_http_app"]

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ENCODINGS = ("", "identity", "gzip")
# google.rpc.Code numbers used in Status bodies
_INVALID_ARGUMENT, _UNAUTHENTICATED, _RESOURCE_EXHAUSTED, _UNAVAILABLE = 3, 16, 8, 14


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


async def _read_body(request: Request, limit: int, lease: Lease) -> bytearray:
    """The body, at most ``limit`` bytes, each chunk charged to ``lease`` as it arrives."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        size = len(chunk) + len(chunk) // 8  # and what growing ``body`` may add
        if not lease.try_grow(size):  # wait for the budget off the event loop
            await run_in_threadpool(lease.grow, size)
        body += chunk
    return body


def build_otlp_http_app(
    accept: Accept,
    *,
    authenticate: Authenticate,
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    budget: MemoryBudget | None = None,
    latency: Histogram | None = None,
    reject: Callable[[str, int], None] | None = None,
) -> Starlette:
    """The OTLP/HTTP ASGI app; ``reject(reason, n)`` counts refused requests.

    ``budget``: the process's decode memory budget, shared with the other receivers
    (by default one of its own, of the default size).
    """
    budget = budget or MemoryBudget.for_process(DEFAULT_CAPACITY)

    def refused(reason: str) -> None:
        if reject is not None:
            reject(reason, 1)

    async def traces(request: Request) -> Response:
        started = time.perf_counter()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        principal = authenticate(request.headers.get("authorization"))
        if principal is None:  # before reading the body
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
        with budget.lease() as lease:
            try:
                body = await _read_body(request, max_bytes, lease)
                decode = functools.partial(
                    decode_export,
                    body,
                    gzip=encoding == "gzip",
                    json_body=content_type == JSON,
                    limit=max_bytes,
                )
                spans = await run_in_threadpool(decode, lease=lease)
                del body, decode
                outcome = await run_in_threadpool(
                    functools.partial(accept, spans, principal=principal)
                )
                del spans
            except (PayloadTooLarge, OverBudget) as exc:
                drop_frames(exc)  # before the lease is given back
                refused("too_large")
                return _status(content_type, 413, _RESOURCE_EXHAUSTED, str(exc))
            except PayloadError as exc:
                drop_frames(exc)
                refused("undecodable")
                return _status(content_type, 400, _INVALID_ARGUMENT, str(exc))
            except Backpressure as exc:
                drop_frames(exc)
                if isinstance(exc, BudgetExhausted):
                    refused("decode_budget")
                retry = str(max(1, math.ceil(exc.retry_after)))
                return _status(content_type, 503, _UNAVAILABLE, str(exc), **{"Retry-After": retry})
        if latency is not None:
            latency.observe(time.perf_counter() - started)
        return _response(content_type, outcome)

    return Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])
