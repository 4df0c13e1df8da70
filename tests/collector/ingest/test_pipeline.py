"""The pipeline and the writer's WAL protocol: redaction before disk, validation,
crash-at-every-step replay without duplicates, and the composed collector."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentaudit.collector.app import Collector
from agentaudit.collector.errors import Backpressure
from agentaudit.collector.ingest.pipeline import Limits, Pipeline, validate
from agentaudit.collector.ingest.redaction import Redactor
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.writer import Writer
from agentaudit.config import embedded_dsn, load_config
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.audit_chain import AuditChain, verify_chain
from agentaudit.store.migrations import apply_migrations
from tests.collector._otlp import export_request
from tests.conftest import SpanFactory

SECRET = "AKIAIOSFODNN7EXAMPLE"


class Crash(BaseException):
    """Stands for the process dying at one step of a batch write."""


class CrashingStore(Store):
    """The real store; raises Crash right before (or after) inserting into ``table``."""

    crash_table = ""
    crash_after = False

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        hit = table.endswith(self.crash_table) if self.crash_table else False
        if hit and not self.crash_after:
            raise Crash(table)
        super().insert_arrow(table, data, dedup_token=dedup_token)
        if hit:
            raise Crash(table)


@pytest.fixture
def crashing_store(store_dir: Path) -> Iterator[CrashingStore]:
    opened = CrashingStore.open(embedded_dsn(store_dir))
    assert isinstance(opened, CrashingStore)
    try:
        apply_migrations(opened)
        yield opened
    finally:
        opened.close()


def _counts(store: Store) -> tuple[int, int, int, int]:
    row = store.query(
        "SELECT (SELECT count() FROM agentaudit.tool_calls), "
        "(SELECT uniqExact(span_id) FROM agentaudit.tool_calls), "
        "(SELECT count() FROM agentaudit.otel_traces), "
        "(SELECT count() FROM agentaudit.audit_chain)"
    ).rows[0]
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


@pytest.mark.parametrize(
    ("table", "after"),
    [
        ("otel_traces", False),
        ("otel_traces", True),
        ("tool_calls", True),
        ("audit_chain", False),
        ("audit_chain", True),
    ],
)
def test_a_crash_at_any_step_of_a_batch_replays_exactly_once(
    crashing_store: CrashingStore, tmp_path: Path, make_span: SpanFactory, table: str, after: bool
) -> None:
    wal = Wal(tmp_path / "wal")
    writer = Writer(crashing_store, batch_rows=5, wal=wal, chain=AuditChain(crashing_store))
    pipeline = Pipeline(writer, wal=wal)
    for _ in range(3):
        pipeline.accept([make_span() for _ in range(4)])
    writer.flush()  # two clean batches (5 + 5), two spans left
    pipeline.accept([make_span() for _ in range(4)])
    crashing_store.crash_table, crashing_store.crash_after = table, after
    with pytest.raises(Crash):
        writer.flush()
    wal.close()  # the process "dies": the checkpoint still says the batch is in flight
    crashing_store.crash_table = ""
    replay_wal = Wal(tmp_path / "wal")
    replayed = Writer(
        crashing_store, batch_rows=5, wal=replay_wal, chain=AuditChain(crashing_store)
    )
    replayed.flush()
    replay_wal.close()
    calls, distinct, traces, links = _counts(crashing_store)
    assert (calls, distinct, traces) == (16, 16, 16)
    assert links == 4  # 5 + 5 + 5 + 1, one link each
    assert verify_chain(crashing_store) == []


def test_redaction_happens_before_the_wal(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    wal = Wal(tmp_path / "wal")
    writer = Writer(store, wal=wal)
    redactor = Redactor.from_config({})
    pipeline = Pipeline(writer, wal=wal, redact=redactor.redact)
    span = make_span(attributes={A.GEN_AI_TOOL_CALL_ARGUMENTS: f'{{"key": "{SECRET}"}}'})
    pipeline.accept([span])
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "wal").glob("*.wal"))
    assert span.span_id.encode() in on_disk
    assert SECRET.encode() not in on_disk
    assert pipeline.metrics.redactions.value("aws_access_key_id") == 1
    writer.flush()
    wal.close()
    stored = store.query("SELECT arguments, redactions FROM agentaudit.tool_calls").rows
    assert SECRET not in stored[0][0]
    assert stored[0][1] == {"aws_access_key_id": 1}


def test_validation_rejects_bad_spans_by_reason(make_span: SpanFactory) -> None:
    spans = [
        make_span(attributes={"a": "b", "n": 10**12}),
        make_span(trace_id="0" * 32),
        make_span(span_id="xyz"),
        make_span(parent_span_id="12"),
        make_span(attributes={f"k{i}": i for i in range(11)}),
        make_span(attributes={"big": ["x" * 6, "y" * 6]}),
    ]
    valid, reasons = validate(spans, Limits(max_attributes=10, max_value_bytes=10))
    assert valid == spans[:1]
    assert reasons == {
        "invalid_trace_id": 1,
        "invalid_span_id": 1,
        "invalid_parent_span_id": 1,
        "too_many_attributes": 1,
        "value_too_large": 1,
    }


def test_a_writer_too_far_behind_is_backpressure(store: Store, make_span: SpanFactory) -> None:
    writer = Writer(store)
    pipeline = Pipeline(writer, max_pending_spans=5)
    pipeline.accept([make_span() for _ in range(6)])
    with pytest.raises(Backpressure, match="behind"):
        pipeline.accept([make_span()])
    assert pipeline.metrics.backpressure.value("writer") == 1
    outcome = pipeline.accept([make_span(trace_id="bad")])  # nothing valid: nothing queued
    assert (outcome.accepted, outcome.rejected) == (0, 1)


def _wait(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_composed_collector_serves_both_protocols_and_metrics(
    store: Store, tmp_path: Path
) -> None:
    # One process: this test composes its receivers (with workers: test_worker_metrics).
    config = load_config(
        {"workers": 1, "wal_dir": str(tmp_path / "wal"), "grpc_port": 0, "http_port": 0,
         "api_port": 0, "batch_seconds": 0.05},
        environ={},
    )  # fmt: skip
    collector = Collector(config, store=store)
    collector.start()
    try:
        assert collector.grpc is not None
        assert collector.http is not None
        assert collector.admin is not None
        # Secure by default: the collector generated both tokens on its first start.
        agent = {"authorization": f"Bearer {collector.config.token}"}
        responder = {"authorization": f"Bearer {collector.config.admin_token}"}
        provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
        provider.add_span_processor(
            SimpleSpanProcessor(
                OTLPSpanExporter(
                    endpoint=f"http://127.0.0.1:{collector.grpc.port}", insecure=True, headers=agent
                )
            )
        )
        with provider.get_tracer("t").start_as_current_span("execute_tool lookup") as span:
            span.set_attribute(A.GEN_AI_OPERATION_NAME, A.OPERATION_EXECUTE_TOOL)
            span.set_attribute(A.GEN_AI_TOOL_CALL_ARGUMENTS, f'{{"k": "{SECRET}"}}')
        provider.shutdown()
        request, _ = export_request(3)
        reply = httpx.post(
            f"http://127.0.0.1:{collector.http.port}/v1/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf", **agent},
        )
        assert reply.status_code == 200
        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc.port}") as channel:
            bad, _ = export_request(2, trace_id=b"\x00" * 16)
            response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                bad, timeout=10, metadata=tuple(agent.items())
            )
        assert response.partial_success.rejected_spans == 2
        _wait(lambda: collector.health()["tool_calls_written"] == 4)
        arguments = store.query(
            "SELECT arguments FROM agentaudit.tool_calls WHERE tool_name = 'lookup'"
        ).rows[0][0]
        assert SECRET not in arguments
        admin = f"http://127.0.0.1:{collector.admin.port}"
        assert httpx.get(f"{admin}/metrics").status_code == 401
        assert httpx.get(f"{admin}/metrics", headers=agent).status_code == 403
        metrics = httpx.get(f"{admin}/metrics", headers=responder).text
        assert 'agentaudit_spans_received_total{protocol="grpc"} 1' in metrics
        assert 'agentaudit_spans_received_total{protocol="http"} 3' in metrics
        assert 'agentaudit_spans_rejected_total{reason="invalid_trace_id"} 2' in metrics
        assert 'agentaudit_redactions_total{rule="aws_access_key_id"} 1' in metrics
        assert "agentaudit_wal_bytes " in metrics
        assert "agentaudit_batch_write_seconds_count" in metrics
        assert "agentaudit_export_seconds_bucket" in metrics
        assert collector.health()["wal_bytes"] > 0
    finally:
        collector.stop()
    assert verify_chain(store) == []


def test_an_unstorable_span_goes_to_the_dead_letter_file(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    from agentaudit.collector.writer.dead_letter import read_dead_letters

    dead = tmp_path / "dead-letter.spans"
    wal = Wal(tmp_path / "wal")
    writer = Writer(store, wal=wal, dead_letter=dead, chain=AuditChain(store))
    pipeline = Pipeline(writer, wal=wal)
    good = [make_span(), make_span()]
    poison = make_span()
    poison.trace_state = 5  # type: ignore[assignment]  # no String column takes an int
    pipeline.accept([good[0], poison, good[1]])
    writer.flush()
    wal.close()
    stored = store.query("SELECT span_id FROM agentaudit.tool_calls ORDER BY span_id").rows
    assert [r[0] for r in stored] == sorted(s.span_id for s in good)
    [line] = read_dead_letters(dead)
    assert (line.reason, line.span_id) == ("unconvertible", poison.span_id)
    assert line.span is not None
    assert line.span.trace_state == 5
    assert pipeline.metrics.rejected.value("unstorable") == 0  # the writer has no metrics here
    assert verify_chain(store) == []
    assert Wal(tmp_path / "wal").take_replay() == []  # the checkpoint moved past it


def test_a_worker_wal_left_by_an_earlier_run_is_drained(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """Run with fewer workers than before: what the missing worker acknowledged lands."""
    left = Wal(tmp_path / "wal" / "worker-3", shared=True)
    spans = [make_span() for _ in range(7)]
    left.append(spans)
    left.close()
    config = load_config(
        {"wal_dir": str(tmp_path / "wal"), "grpc_port": 0, "http_port": 0, "api_port": 0,
         "batch_seconds": 0.05},
        environ={},
    )  # fmt: skip
    collector = Collector(config, store=store)
    collector.start()
    try:
        _wait(lambda: collector.health()["tool_calls_written"] + _drained(collector) == 7)
    finally:
        collector.stop()
    ids = {row[0] for row in store.query("SELECT span_id FROM agentaudit.tool_calls").rows}
    assert ids == {span.span_id for span in spans}
    assert verify_chain(store) == []


def _drained(collector: Collector) -> int:
    assert collector.pool is not None
    return collector.pool.tool_calls_written
