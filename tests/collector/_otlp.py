"""Build real OTLP export requests (protobuf messages) for receiver and fault tests."""

from __future__ import annotations

import itertools
import os
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from agentaudit.schema import attributes as A

_counter = itertools.count(1)
_salt = os.urandom(4).hex()


def _value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, list):
        return common_pb2.AnyValue(
            array_value=common_pb2.ArrayValue(values=[_value(v) for v in value])
        )
    return common_pb2.AnyValue(string_value=str(value))


def tool_attributes(n: int) -> dict[str, Any]:
    """About fifteen attributes of a tool-call span."""
    return {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: "send_email",
        A.GEN_AI_TOOL_CALL_ID: f"call_{n}",
        A.GEN_AI_TOOL_CALL_ARGUMENTS: '{"to":"bob@example.com","body":"hi"}',
        A.GEN_AI_AGENT_ID: "agent-1",
        A.ENDUSER_ID: "user-1",
        A.SESSION_ID: f"sess-{n % 7}",
        A.FRAMEWORK: "function",
        A.PROMPT_HASH: "sha256:" + "a" * 64,
        A.SOURCE_REFS: ["email:msg-42"],
        A.SOURCE_KINDS: ["email"],
        A.SOURCE_TRUST: [A.TRUST_UNTRUSTED],
        A.RESOURCE_IDS: ["mailbox:bob"],
        A.APPROVAL_STATUS: A.APPROVAL_NONE,
        A.CREDENTIAL_ID: "cred-9",
        A.ARGUMENTS_HASH: "sha256:" + "d" * 64,
    }


def new_ids() -> tuple[bytes, bytes]:
    """A fresh (trace id, span id) pair, unique across processes of one test run."""
    n = next(_counter)
    trace = bytes.fromhex(f"{_salt}{n:024x}")
    return trace, bytes.fromhex(f"{_salt[:4]}{n:012x}")


def export_request(count: int, **overrides: Any) -> tuple[Any, list[str]]:
    """A request with ``count`` tool-call spans, and their span ids (hex)."""
    spans = []
    ids = []
    for _ in range(count):
        trace_id, span_id = new_ids()
        n = int.from_bytes(span_id[2:], "big")
        attributes = overrides.get("attributes", tool_attributes(n))
        spans.append(
            trace_pb2.Span(
                trace_id=overrides.get("trace_id", trace_id),
                span_id=span_id,
                name="execute_tool send_email",
                kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=1_700_000_000_000_000_000 + n,
                end_time_unix_nano=1_700_000_000_100_000_000 + n,
                attributes=[
                    common_pb2.KeyValue(key=k, value=_value(v)) for k, v in attributes.items()
                ],
            )
        )
        ids.append(span_id.hex())
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource={
                    "attributes": [common_pb2.KeyValue(key=A.SERVICE_NAME, value=_value("svc"))]
                },
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    )
    return request, ids
