"""Fixtures: a fresh tracer provider + in-memory exporter, the CrewAI integration on.

CrewAI's own telemetry and tracing are switched off by its documented variables before it
is imported (never ``OTEL_SDK_DISABLED``, which would switch off the audit too): no network."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_DISABLE_TRACKING"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"

from agentaudit.instrumentation import _state, configure, instrument, uninstrument
from agentaudit.schema import attributes as A


class Spans:
    """The spans a test emitted, with helpers to find them."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def of(self, operation: str) -> list[ReadableSpan]:
        return [
            s for s in self.all() if (s.attributes or {}).get(A.GEN_AI_OPERATION_NAME) == operation
        ]

    def tools(self, name: str | None = None) -> list[ReadableSpan]:
        return [
            s
            for s in self.of(A.OPERATION_EXECUTE_TOOL)
            if name is None or (s.attributes or {}).get(A.GEN_AI_TOOL_NAME) == name
        ]

    def tool(self, name: str) -> dict[str, object]:
        found = self.tools(name)
        assert len(found) == 1, f"expected one span of tool {name}, got {len(found)}"
        return dict(found[0].attributes or {})


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[TracerProvider]:
    for name in ("AGENTAUDIT_CONFIG", "AGENTAUDIT_HASH_KEY", "AGENTAUDIT_DISABLED_INTEGRATIONS"):
        monkeypatch.delenv(name, raising=False)
    configure(reset=True)
    _state.registry().clear()
    tracer_provider = TracerProvider()
    yield tracer_provider
    uninstrument()
    tracer_provider.shutdown()
    configure(reset=True)
    _state.registry().clear()


@pytest.fixture
def spans(provider: TracerProvider) -> Spans:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider, integrations=["crewai"])
    return Spans(exporter)
