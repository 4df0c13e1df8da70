"""The ingest workload: finished SDK spans and the OTLP requests the SDK encodes from them.

Every receiver measured (the collector, Phoenix) gets the same requests: the bytes the
OpenTelemetry SDK's ``OTLPSpanExporter`` would send, built before the clock starts.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["EXPORT_BATCH", "encoded_requests", "make_spans"]

EXPORT_BATCH = 512
"""Spans per export request, as the SDK's BatchSpanProcessor sends them."""


def make_spans(count: int, seed: int) -> list[Any]:
    """Finished SDK spans shaped like audited tool calls (~15 attributes each)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentaudit.schema import attributes as A

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"agent-{seed}"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for n in range(count):
        with tracer.start_as_current_span(f"execute_tool tool_{n % 12}") as span:
            span.set_attributes(
                {
                    A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
                    A.GEN_AI_TOOL_NAME: f"tool_{n % 12}",
                    A.GEN_AI_TOOL_CALL_ID: f"call_{seed}_{n}",
                    A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(
                        {
                            "to": f"user{n % 97}@example.com",
                            "subject": "quarterly report",
                            "body": "please confirm the agenda for tomorrow",
                            "n": n,
                        }
                    ),
                    A.GEN_AI_AGENT_ID: f"agent-{seed}",
                    A.ENDUSER_ID: f"user-{n % 50}",
                    A.SESSION_ID: f"sess-{n % 200}",
                    A.FRAMEWORK: "function",
                    A.PROMPT_HASH: "sha256:" + f"{n:064x}",
                    A.SOURCE_REFS: [f"email:msg-{n % 31}"],
                    A.SOURCE_KINDS: ["email"],
                    A.SOURCE_TRUST: [A.TRUST_UNTRUSTED],
                    A.RESOURCE_IDS: [f"mailbox:user{n % 97}"],
                    A.APPROVAL_STATUS: A.APPROVAL_NONE,
                    A.CREDENTIAL_ID: f"cred-{n % 9}",
                    A.ARGUMENTS_HASH: "sha256:" + f"{n * 7:064x}",
                }
            )
    provider.shutdown()
    return list(memory.get_finished_spans())


def encoded_requests(spans: list[Any], batch: int) -> list[bytes]:
    """Serialized ``ExportTraceServiceRequest``s of ``batch`` spans, by the SDK's encoder."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return [
        encode_spans(spans[i : i + batch]).SerializeToString() for i in range(0, len(spans), batch)
    ]
