"""Fixtures: a real collector on a real embedded store, and every integration exporting
to it through the OTel SDK's OTLP exporter.

The frameworks' own telemetry is switched off by their documented switches before they
are imported (CrewAI's variables, ``AGNO_TELEMETRY``, the OpenAI Agents SDK's trace
processors), never by ``OTEL_SDK_DISABLED``, which would switch off the audit too:
nothing leaves the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentaudit.instrumentation import instrument

os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_DISABLE_TRACKING"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"
os.environ["AGNO_TELEMETRY"] = "false"


@pytest.fixture(autouse=True)
def _no_sdk_export() -> None:
    from agents import set_trace_processors

    set_trace_processors([])


@pytest.fixture
def collector(store: Any, tmp_path: Path) -> Iterator[Any]:
    """A running collector (OTLP receivers, WAL, writer) on the test's embedded store."""
    from agentaudit.collector.app import Collector
    from agentaudit.config import load_config

    config = load_config(
        {"wal_dir": str(tmp_path / "wal"), "grpc_port": 0, "http_port": 0, "api_port": 0,
         "batch_seconds": 0.05},
        environ={},
    )  # fmt: skip
    running = Collector(config, store=store)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def exporting(provider: TracerProvider, collector: Any) -> TracerProvider:
    """Every integration on, its spans batched and exported over OTLP/gRPC to
    ``collector`` with the agent token."""
    exporter = OTLPSpanExporter(
        endpoint=f"http://127.0.0.1:{collector.grpc_port}",  # this process or its workers
        insecure=True,
        headers={"authorization": f"Bearer {collector.config.token}"},
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrument(tracer_provider=provider)
    return provider
