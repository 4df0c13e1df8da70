"""A worker process's metrics reach the collector's ``/metrics``, and survive its restart."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from agentaudit.collector.metrics import CollectorMetrics, Counter, Histogram, ProcessReport
from agentaudit.collector.workers.reports import (
    MAX_LINE,
    WorkerReports,
    format_report,
    parse_report,
)
from tests.collector._fault_harness import AGENT_HEADERS, AS_AGENT, Proc, settings, wait_for
from tests.collector._otlp import export_request, tool_attributes

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example access key id
AWS_REDACTIONS = 'agentaudit_redactions_total{rule="aws_access_key_id"}'


def _report(received: float = 0, wal_bytes: int = 0, fsyncs: int = 0) -> ProcessReport:
    metrics = CollectorMetrics()
    if received:
        metrics.received.inc(received, "grpc")
    for _ in range(fsyncs):
        metrics.fsync_seconds.observe(0.003)
    return metrics.report(wal_bytes=wal_bytes)


# -- the report and its line -----------------------------------------------------------


def test_a_report_survives_its_line() -> None:
    metrics = CollectorMetrics()
    metrics.received.inc(7, "grpc")
    metrics.received.inc(2, "http")
    metrics.redactions.inc(3, "aws_access_key_id")
    metrics.rejected.inc(1, "unauthenticated")
    metrics.export_seconds.observe(0.004)
    metrics.export_seconds.observe(30.0)  # above every bucket
    report = parse_report(format_report(metrics.report(wal_bytes=4096)))
    assert report.counters["received"] == {("grpc",): 7.0, ("http",): 2.0}
    assert report.counters["redactions"] == {("aws_access_key_id",): 3.0}
    assert report.counters["rejected"] == {("unauthenticated",): 1.0}
    counts, total = report.histograms["export_seconds"]
    assert (sum(counts), counts[-1]) == (2, 1)
    assert total == pytest.approx(30.004)
    assert report.wal_bytes == 4096


@pytest.mark.parametrize(
    "line",
    [
        "ready",
        "metrics ",
        "metrics {",
        "metrics []",
        'metrics {"counters": []}',
        'metrics {"counters": {"received": {"grpc": 1}}}',
        'metrics {"counters": {"received": [[1, 1]]}}',  # a label that is not text
        'metrics {"counters": {"received": [["grpc"]]}}',  # no amount (text as amount)
        'metrics {"counters": {"received": [["grpc", -1]]}}',
        'metrics {"counters": {"received": [["grpc", true]]}}',
        'metrics {"counters": {"received": [["grpc", NaN]]}}',
        'metrics {"counters": {"received": [["grpc", Infinity]]}}',
        'metrics {"counters": {"received": [["grpc", "7"]]}}',
        'metrics {"histograms": {"export_seconds": [[1, 2]]}}',
        'metrics {"histograms": {"export_seconds": [[1.5], 0.1]}}',
        'metrics {"histograms": {"export_seconds": [[-1], 0.1]}}',
        'metrics {"histograms": {"export_seconds": [[1], -0.1]}}',
        'metrics {"wal_bytes": -1}',
        'metrics {"wal_bytes": 1.5}',
        'metrics {"wal_bytes": false}',
        "metrics " + "[" * 100_000,  # deep nesting: refused, not a crash
    ],
)
def test_a_line_that_is_not_a_report_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="not a metrics report"):
        parse_report(line)


def test_counts_of_another_shape_are_not_added_to_an_instrument() -> None:
    counter = Counter("c_total", "test", ("protocol",))
    counter.inc(1, "grpc")
    counter.include(lambda: {("grpc",): 2.0, ("grpc", "extra"): 50.0, (): 70.0})
    assert counter.value("grpc") == 3.0
    assert 'c_total{protocol="grpc"} 3' in counter.render()
    assert "extra" not in "\n".join(counter.render())

    histogram = Histogram("h_seconds", "test", buckets=(0.1, 1.0))
    histogram.observe(0.05)
    histogram.include(lambda: ([1, 1, 1, 1], 9.0))  # four counts for three slots
    histogram.include(lambda: None)
    histogram.include(lambda: ([0, 2, 0], 1.0))
    assert histogram.totals() == ([1, 2, 0], pytest.approx(1.05))
    assert 'h_seconds_bucket{le="1"} 3' in histogram.render()


# -- the pool's side ---------------------------------------------------------------------


def test_the_pool_keeps_each_workers_latest_report_and_skips_garbage() -> None:
    reports = WorkerReports()
    stream = io.StringIO(
        "\n".join(
            [
                format_report(_report(received=5, wal_bytes=100)),
                "a line that is not a report",
                "x" * (MAX_LINE + 10),  # read in pieces, none a report
                format_report(_report(received=9, wal_bytes=300)),
            ]
        )
        + "\n"
    )
    reports.follow(1, stream)
    reports.update(2, _report(received=1, wal_bytes=50))
    total = reports.total()
    assert total.counters["received"] == {("grpc",): 10.0}  # 9 (latest of 1) + 1
    assert total.wal_bytes == 350


def test_a_restarted_worker_adds_to_what_its_predecessor_counted() -> None:
    reports = WorkerReports()
    reports.update(1, _report(received=40, wal_bytes=1000, fsyncs=3))
    reports.retire(1)  # the process died
    after_death = reports.total()
    assert after_death.counters["received"] == {("grpc",): 40.0}
    assert after_death.wal_bytes == 0  # the dead process's WAL size is not a live gauge
    reports.update(1, _report(received=2, wal_bytes=10, fsyncs=1))  # counts from zero
    total = reports.total()
    assert total.counters["received"] == {("grpc",): 42.0}
    assert sum(total.histograms["fsync_seconds"][0]) == 4
    assert total.wal_bytes == 10


def test_the_collectors_metrics_show_the_workers_total() -> None:
    reports = WorkerReports()
    metrics = CollectorMetrics()
    metrics.include(reports.total)
    metrics.received.inc(3, "http")  # received by this process
    reports.update(1, _report(received=4, fsyncs=2))
    reports.update(2, _report(received=6))
    text = metrics.render()
    assert 'agentaudit_spans_received_total{protocol="grpc"} 10' in text
    assert 'agentaudit_spans_received_total{protocol="http"} 3' in text
    assert "agentaudit_wal_fsync_seconds_count 2" in text


# -- real worker processes -----------------------------------------------------------------


def _export_on_new_connection(port: int, count: int, **overrides: Any) -> list[str]:
    """One export over a fresh connection (SO_REUSEPORT spreads connections)."""
    request, ids = export_request(count, **overrides)
    own = [("grpc.use_local_subchannel_pool", 1)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=own) as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            request, timeout=30, metadata=AS_AGENT
        )
    return ids


def _samples(proc: Proc) -> dict[str, float]:
    return {
        name: proc.metric(name)
        for name in (
            "agentaudit_spans_received_total",
            "agentaudit_worker_spans_drained_total",
            AWS_REDACTIONS,
            "agentaudit_spans_rejected_total",
            "agentaudit_export_seconds_count",
            "agentaudit_wal_fsync_seconds_count",
        )
    }


@pytest.mark.e2e
def test_workers_metrics_reach_the_collectors_metrics_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    proc = Proc(settings(tmp_path), {"workers": 2})
    try:
        api = f"http://127.0.0.1:{proc.ports['api']}"
        secret = {**tool_attributes(1), "note": f"key {AWS_KEY}"}
        sent = 0
        for _ in range(12):  # fresh connections: both workers receive (checked below)
            sent += len(_export_on_new_connection(proc.ports["grpc"], 5, attributes=secret))
        refused = httpx.post(
            f"http://127.0.0.1:{proc.ports['http']}/v1/traces",
            content=export_request(1)[0].SerializeToString(),
            headers={**AGENT_HEADERS, "authorization": "Bearer not-the-token"},
        )
        assert refused.status_code == 401
        # Reports come every 0.5 s: within 5 s /metrics shows every export.
        wait_for(lambda: _samples(proc)["agentaudit_spans_received_total"] == sent, 5.0)
        wait_for(lambda: _samples(proc)["agentaudit_worker_spans_drained_total"] == sent, 10.0)
        before = _samples(proc)
        assert before[AWS_REDACTIONS] == sent  # one key per span
        assert before["agentaudit_spans_rejected_total"] == 1  # the refused request
        assert before["agentaudit_export_seconds_count"] == 12  # acknowledged exports
        assert before["agentaudit_wal_fsync_seconds_count"] >= 1

        killed = httpx.get(f"{api}/healthz").json()["worker_pids"][0]
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: httpx.get(f"{api}/healthz").json()["worker_restarts"] == 1, 30.0)
        assert _samples(proc)["agentaudit_spans_received_total"] == sent  # nothing forgotten
        for _ in range(6):
            sent += len(_export_on_new_connection(proc.ports["grpc"], 5, attributes=secret))
        wait_for(lambda: _samples(proc)["agentaudit_spans_received_total"] == sent, 5.0)
        after = _samples(proc)
        assert after[AWS_REDACTIONS] == sent
        assert after["agentaudit_export_seconds_count"] == 12 + 6
        wal_bytes = proc.metric("agentaudit_wal_bytes")
        assert wal_bytes > 0  # NaN is not: the gauge read its workers' WAL sizes
    finally:
        stopped = proc.terminate()
    assert stopped["spans_received"] == sent  # healthz: what was drained from the workers
