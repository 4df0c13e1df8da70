"""AuditSpanProcessor and exporter setup: fail-open, counted drops, env handling."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from agentaudit.instrumentation import AuditSpanProcessor, dropped_spans
from agentaudit.instrumentation._export import bearer_headers, build_exporter


class GatedExporter(SpanExporter):
    """Blocks every export until the gate opens (a hung collector)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.exported: list[ReadableSpan] = []
        self.entered = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.gate.wait(timeout=60)
        self.exported.extend(spans)
        return SpanExportResult.SUCCESS


class FailingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("collector down")


def _emit(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("test")
    for index in range(count):
        tracer.start_span(f"span-{index}").end()


def test_hung_collector_never_blocks_and_drops_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = GatedExporter()
    processor = AuditSpanProcessor(exporter, max_queue_size=100, max_export_batch_size=10)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    before = dropped_spans()
    _emit(provider, 10)  # one full batch: the worker takes it and hangs in export
    assert exporter.entered.wait(timeout=30)
    with caplog.at_level(logging.WARNING, logger="agentaudit.instrumentation"):
        _emit(provider, 150)  # returns although the exporter is stuck
        assert processor.dropped == 50
        assert dropped_spans() - before == 50
        exporter.gate.set()
        assert processor.force_flush(timeout_millis=30_000)
    assert len(exporter.exported) == 110
    messages = [r.getMessage() for r in caplog.records]
    assert "agentaudit dropped 1 audit span(s) (1 in total)" in messages[0]  # at once
    assert "(50 in total)" in messages[-1]  # the rest, reported by the flush
    provider.shutdown()


def test_burst_within_the_queue_is_exported_completely() -> None:
    exporter = GatedExporter()
    exporter.gate.set()
    processor = AuditSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    _emit(provider, 20_000)
    assert processor.force_flush(timeout_millis=60_000)
    assert len(exporter.exported) == 20_000
    assert processor.dropped == 0
    provider.shutdown()


def test_failed_exports_are_counted_as_dropped(caplog: pytest.LogCaptureFixture) -> None:
    processor = AuditSpanProcessor(FailingExporter(), max_export_batch_size=5)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    _emit(provider, 5)
    with caplog.at_level(logging.WARNING, logger="agentaudit.instrumentation"):
        assert processor.force_flush(timeout_millis=30_000)
    assert processor.dropped == 5
    provider.shutdown()


def test_queue_size_from_env() -> None:
    processor = AuditSpanProcessor(
        ConsoleSpanExporter(),
        environ={"OTEL_BSP_MAX_QUEUE_SIZE": "4096", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "128"},
    )
    assert (processor.max_queue_size, processor.max_export_batch_size) == (4096, 128)
    processor.shutdown()
    assert AuditSpanProcessor(ConsoleSpanExporter(), environ={}).max_queue_size == 65_536


def test_exporter_follows_otel_variables() -> None:
    assert isinstance(build_exporter({}), GrpcExporter)
    assert isinstance(
        build_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}), HttpExporter
    )
    assert isinstance(
        build_exporter(
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
            }
        ),
        HttpExporter,
    )
    assert build_exporter({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert isinstance(build_exporter({"OTEL_TRACES_EXPORTER": "console"}), ConsoleSpanExporter)


def test_bearer_token_added_unless_authorization_is_set() -> None:
    assert bearer_headers({}) is None
    assert bearer_headers({"AGENTAUDIT_TOKEN": "t"}) == {"authorization": "Bearer t"}
    assert bearer_headers({"AGENTAUDIT_TOKEN": "t", "OTEL_EXPORTER_OTLP_HEADERS": "x-a=1"}) == {
        "x-a": "1",
        "authorization": "Bearer t",
    }
    assert (
        bearer_headers(
            {"AGENTAUDIT_TOKEN": "t", "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20x"}
        )
        is None
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_a_working_export_thread() -> None:
    exporter = GatedExporter()
    exporter.gate.set()
    processor = AuditSpanProcessor(exporter, max_export_batch_size=5)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            _emit(provider, 12)
            flushed = processor.force_flush(timeout_millis=30_000)
            os.write(write_end, f"{flushed} {len(exporter.exported)}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == "True 12"
    provider.shutdown()
