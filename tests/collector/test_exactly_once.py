"""Exactly once per span, with real collector processes and clients that resend.

OTLP exporters send the same request again after UNAVAILABLE, a timeout or a cut
connection; a request made durable whose acknowledgement was lost (a crash between the
WAL fsync and the reply) therefore arrives twice. Each test kills and restarts the
collector repeatedly while such clients export, then reads both span tables with plain
SELECTs (no FINAL): every acknowledged span is there exactly once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.audit_chain import verify_chain
from tests.collector._fault_harness import (
    AGENT_TOKEN,
    AS_AGENT,
    Load,
    Proc,
    assert_exactly_once,
    settings,
    stored_counts,
    wait_for,
)
from tests.collector._otlp import export_request, tool_attributes

pytestmark = pytest.mark.e2e
CYCLES = 5


@pytest.fixture
def fixed_ports(tmp_path: Path, free_port: Callable[[], int]) -> dict[str, Any]:
    """Settings with fixed ports, so clients reach the restarted collector."""
    return settings(
        tmp_path, grpc_port=free_port(), http_port=free_port(), api_port=free_port(), batch_rows=200
    )


def _check(store_dir: Path, acked: list[str]) -> None:
    counts = stored_counts(store_dir)
    assert_exactly_once(counts["otel_traces"], acked, "otel_traces")
    assert_exactly_once(counts["tool_calls"], acked, "tool_calls")
    with Store.open(embedded_dsn(store_dir)) as store:
        assert verify_chain(store) == []


def _wait_for_more(load: Load, spans: int) -> None:
    """Until ``spans`` more spans were acknowledged."""
    goal = len(load.acked) + spans
    wait_for(lambda: len(load.acked) >= goal)


def test_repeated_sigkill_under_resending_load_stores_every_span_once(
    fixed_ports: dict[str, Any], tmp_path: Path
) -> None:
    """Five SIGKILL/restart cycles under gRPC and HTTP clients that resend unchanged."""
    proc = Proc(fixed_ports)
    load = Load(proc.ports["grpc"], clients=2, http_port=proc.ports["http"], http_clients=2)
    try:
        for _ in range(CYCLES):
            _wait_for_more(load, 400)
            time.sleep(random.uniform(0.0, 0.2))  # anywhere in a write, batch or insert
            proc.kill()
            proc = Proc(fixed_ports)  # the clients keep resending what was not acknowledged
        _wait_for_more(load, 200)
    finally:
        load.stop()
    acked = list(load.acked)
    assert not load.errors, load.errors[:5]
    assert load.resent > 0  # requests were sent again after the kills
    try:
        wait_for(lambda: proc.count("otel_traces") >= len(acked))
    finally:
        stopped = proc.terminate()
    assert stopped["pending"] == 0
    _check(tmp_path / "store", acked)


def _exporter(protocol: str, ports: dict[str, Any]) -> SpanExporter:
    """The OTel SDK's own OTLP exporter, retrying as it does by default (30 s budget)."""
    headers = {"authorization": f"Bearer {AGENT_TOKEN}"}
    if protocol == "grpc":
        return GrpcSpanExporter(
            endpoint=f"127.0.0.1:{ports['grpc_port']}", insecure=True, headers=headers, timeout=30
        )
    return HttpSpanExporter(
        endpoint=f"http://127.0.0.1:{ports['http_port']}/v1/traces", headers=headers, timeout=30
    )


def _tool_spans(count: int) -> list[ReadableSpan]:
    """Finished tool-call spans made by the OTel SDK (what an instrumented agent exports)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "exporter-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("agentaudit.tests")
    for n in range(count):
        with tracer.start_as_current_span("execute_tool send_email", attributes=tool_attributes(n)):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def _export_in_background(
    exporter: SpanExporter, spans: list[ReadableSpan]
) -> tuple[threading.Thread, list[SpanExportResult]]:
    results: list[SpanExportResult] = []
    thread = threading.Thread(target=lambda: results.append(exporter.export(spans)))
    thread.start()
    return thread, results


def test_real_otlp_exporters_resend_after_a_crash_between_fsync_and_reply(
    fixed_ports: dict[str, Any], tmp_path: Path
) -> None:
    """The SDK's gRPC and HTTP exporters, alternately: each export is made durable, then
    the collector dies before replying; the exporter retries on its own (UNAVAILABLE,
    a cut connection) and its retransmission reaches the restarted collector."""
    cycles = 6
    proc = Proc(fixed_ports, {"crash_after_accepts": 1})
    acked: list[str] = []
    for cycle in range(cycles):
        protocol = ("grpc", "http")[cycle % 2]
        exporter = _exporter(protocol, fixed_ports)
        spans = _tool_spans(25)
        export, results = _export_in_background(exporter, spans)
        wait_for(proc.crashed, timeout=30)  # durable in the WAL, never acknowledged
        last = cycle == cycles - 1
        # The retransmission is the restarted collector's first export; the next cycle's
        # export its second, which crashes it in turn.
        proc = Proc(fixed_ports, None if last else {"crash_after_accepts": 2})
        export.join(60)
        exporter.shutdown()
        assert results == [SpanExportResult.SUCCESS], (protocol, results)
        acked += [format(span.context.span_id, "016x") for span in spans]
    try:
        wait_for(lambda: proc.count("otel_traces") >= len(acked))
        # The last restart replayed the last export from its WAL and then received the
        # exporter's retransmission of it: 25 copies the writer left out.
        wait_for(lambda: proc.metric("agentaudit_spans_deduplicated_total") >= len(spans))
    finally:
        proc.terminate()
    _check(tmp_path / "store", acked)


def _received(wal_dir: Path) -> bool:
    """A worker's WAL got a record (its drain committed past the first LSN)."""
    checkpoint = wal_dir / "checkpoint.json"
    return checkpoint.exists() and json.loads(checkpoint.read_text())["committed"]["lsn"] > 1


def test_two_workers_receiving_the_same_request_store_it_once(tmp_path: Path) -> None:
    """The same request over fresh connections until both workers have received it (each
    copy between other exports, so no two copies form the same batch): the
    store-owning process drains both WALs and stores each span once."""
    proc = Proc(settings(tmp_path, workers=2, batch_rows=1000, batch_seconds=0.5))
    request, ids = export_request(9)
    own = [("grpc.use_local_subchannel_pool", 1)]
    acked: list[str] = []
    copies = 0
    try:
        while not all(_received(tmp_path / "wal" / f"worker-{n}") for n in (1, 2)):
            assert copies < 60, "the kernel never gave the second worker a connection"
            with grpc.insecure_channel(f"127.0.0.1:{proc.ports['grpc']}", options=own) as channel:
                stub = trace_service_pb2_grpc.TraceServiceStub(channel)
                for export, spans in (export_request(5), (request, ids), export_request(5)):
                    stub.Export(export, timeout=30, metadata=AS_AGENT)
                    acked += spans
            copies += 1
            time.sleep(0.6)  # the drains commit what they have
    finally:
        stopped = proc.terminate()
    assert copies >= 2
    assert stopped["spans_received"] == len(acked)  # every copy was drained...
    counts = stored_counts(tmp_path / "store")
    assert_exactly_once(counts["otel_traces"], acked, "otel_traces")  # ...and stored once
    assert_exactly_once(counts["tool_calls"], acked, "tool_calls")
