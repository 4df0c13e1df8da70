"""Fault tests with real collector processes: SIGKILL under load, store outages, a full WAL.

Exactly-once is checked on span identity: every span whose export was acknowledged
is in ``otel_traces`` and ``tool_calls`` exactly once after a restart, and no span is
stored twice, so a replay never shows as duplicate rows (even without FINAL). The load
resends a failed request unchanged, as OTLP exporters do (``_fault_harness.Load``);
repeated kill/restart cycles and the real exporters are in ``test_exactly_once.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from agentaudit.collector.errors import Backpressure
from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.model import SpanRecord
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.writer import Writer
from agentaudit.config import embedded_dsn
from agentaudit.store import Store, StoreUnavailable
from agentaudit.store.audit_chain import verify_chain
from agentaudit.store.migrations import apply_migrations
from tests.collector._fault_harness import (
    AGENT_HEADERS,
    AS_AGENT,
    Load,
    Proc,
    assert_exactly_once,
    hold_wal_lock,
    settings,
    wait_for,
)
from tests.collector._otlp import export_request
from tests.conftest import SpanFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Any]:
    return settings(tmp_path)


def _wait(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    wait_for(condition, timeout)


def _assert_exactly_once(rows: list[list[Any]], acked: list[str], what: str) -> None:
    assert_exactly_once({str(span): int(n) for span, n in rows}, acked, what)


def _assert_calls_stored_once(store: Store, acked: list[str]) -> None:
    """Every acknowledged span has exactly one ``tool_calls`` row, and no span two."""
    calls = store.query("SELECT span_id, count() FROM agentaudit.tool_calls GROUP BY span_id")
    _assert_exactly_once([list(r) for r in calls.rows], acked, "tool_calls")


def test_sigkill_under_load_loses_and_duplicates_nothing(dirs: dict[str, Any]) -> None:
    first = Proc(dirs)
    load = Load(first.ports["grpc"])
    _wait(lambda: len(load.acked) >= 1500)
    first.kill()
    load.stop()
    acked = list(load.acked)
    assert acked

    second = Proc(dirs)
    try:
        _wait(lambda: second.sql("SELECT count() FROM agentaudit.tool_calls")[0][0] >= len(acked))
        more = Load(second.ports["grpc"], clients=2)
        _wait(lambda: len(more.acked) >= 200)
        more.stop()
    finally:
        stopped = second.terminate()  # graceful drain on SIGTERM
    assert stopped["pending"] == 0
    acked += more.acked
    with Store.open(embedded_dsn(Path(dirs["store"]))) as store:
        traces = store.query(
            "SELECT SpanId, count() FROM agentaudit.otel_traces GROUP BY SpanId"
        ).rows
        calls = store.query(
            "SELECT span_id, count() FROM agentaudit.tool_calls GROUP BY span_id"
        ).rows
        _assert_exactly_once([list(r) for r in traces], acked, "otel_traces")
        _assert_exactly_once([list(r) for r in calls], acked, "tool_calls")
        assert verify_chain(store) == []


class FlakyStore(Store):
    """The real embedded store, whose writes fail while ``down`` is set (an outage)."""

    down = False
    failures = 0

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        if self.down:
            self.failures += 1
            raise StoreUnavailable("store is down (test outage)")
        super().insert_arrow(table, data, dedup_token=dedup_token)


@pytest.fixture
def flaky_store(store_dir: Path) -> Iterator[FlakyStore]:
    opened = FlakyStore.open(embedded_dsn(store_dir))
    assert isinstance(opened, FlakyStore)
    try:
        apply_migrations(opened)
        yield opened
    finally:
        opened.close()


def _count(store: Store) -> int:
    return int(store.query("SELECT count() FROM agentaudit.tool_calls").rows[0][0])


def test_store_outage_spools_to_the_wal_and_lands_after(
    flaky_store: FlakyStore, tmp_path: Path, make_span: SpanFactory
) -> None:
    wal = Wal(tmp_path / "wal")
    writer = Writer(flaky_store, batch_rows=10, batch_seconds=0.01, wal=wal)
    pipeline = Pipeline(writer, wal=wal)
    writer.start()
    flaky_store.down = True
    accepted: list[SpanRecord] = []
    for _ in range(30):
        batch = [make_span() for _ in range(5)]
        pipeline.accept(batch)  # acknowledged while the store is down
        accepted += batch
    _wait(lambda: flaky_store.failures >= 3)
    assert _count(flaky_store) == 0
    assert wal.bytes > 0
    flaky_store.down = False
    _wait(lambda: _count(flaky_store) == len(accepted))
    writer.stop()
    wal.close()
    rows = flaky_store.query("SELECT span_id, count() FROM agentaudit.tool_calls GROUP BY span_id")
    _assert_exactly_once([list(r) for r in rows.rows], [s.span_id for s in accepted], "tool_calls")
    assert writer.stats.store_errors >= 3


def test_full_wal_gives_backpressure_and_keeps_everything_acknowledged(
    flaky_store: FlakyStore, tmp_path: Path, make_span: SpanFactory
) -> None:
    wal = Wal(tmp_path / "wal", max_bytes=64 * 1024, segment_bytes=8 * 1024)
    writer = Writer(flaky_store, batch_rows=10, batch_seconds=0.01, wal=wal)
    pipeline = Pipeline(writer, wal=wal)
    writer.start()
    flaky_store.down = True
    accepted: list[SpanRecord] = []

    def fill() -> None:
        for _ in range(1000):
            batch = [make_span() for _ in range(3)]
            pipeline.accept(batch)
            accepted.extend(batch)

    with pytest.raises(Backpressure) as refused:
        fill()
    assert refused.value.retry_after > 0
    assert pipeline.metrics.backpressure.value("wal_full") == 1
    flaky_store.down = False
    _wait(lambda: _count(flaky_store) == len(accepted))
    pipeline.accept([make_span()])  # accepting again once the store caught up
    writer.stop()
    wal.close()
    assert _count(flaky_store) == len(accepted) + 1


def test_full_wal_is_retryable_for_real_otlp_clients(dirs: dict[str, Any]) -> None:
    """gRPC clients get UNAVAILABLE with RetryInfo, HTTP clients 503 + Retry-After."""
    proc = Proc(dirs, {"wal_max_bytes": 4096, "wal_segment_bytes": 2048, "no_fsync": True})
    try:
        request, _ = export_request(20)
        with grpc.insecure_channel(f"127.0.0.1:{proc.ports['grpc']}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failure:
                stub.Export(request, timeout=10, metadata=AS_AGENT)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(failure.value.trailing_metadata() or ())  # type: ignore[attr-defined]
        from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

        status = status_pb2.Status.FromString(details["grpc-status-details-bin"])
        info = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(info)
        assert info.retry_delay.seconds >= 1
        reply = httpx.post(
            f"http://127.0.0.1:{proc.ports['http']}/v1/traces",
            content=request.SerializeToString(),
            headers=AGENT_HEADERS,
        )
        assert reply.status_code == 503
        assert int(reply.headers["retry-after"]) >= 1
        small, _ = export_request(1)
        assert (
            httpx.post(
                f"http://127.0.0.1:{proc.ports['http']}/v1/traces",
                content=small.SerializeToString(),
                headers=AGENT_HEADERS,
            ).status_code
            == 200
        )
    finally:
        proc.terminate()


def _send_on_new_connections(port: int, requests: int) -> list[str]:
    """Exports over a fresh connection each (SO_REUSEPORT spreads connections)."""
    acked: list[str] = []
    for _ in range(requests):
        request, ids = export_request(5)
        own = [("grpc.use_local_subchannel_pool", 1)]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=own) as channel:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                request, timeout=30, metadata=AS_AGENT
            )
        acked += ids
    return acked


def test_workers_share_the_ports_and_every_span_lands_once(
    dirs: dict[str, Any], tmp_path: Path
) -> None:
    proc = Proc(dirs, {"workers": 2})
    try:
        load = Load(proc.ports["grpc"], clients=3)
        acked = _send_on_new_connections(proc.ports["grpc"], 60)
        _wait(lambda: len(load.acked) >= 500)
        load.stop()
        acked += load.acked
        reply = httpx.post(
            f"http://127.0.0.1:{proc.ports['http']}/v1/traces",
            content=export_request(1)[0].SerializeToString(),
            headers=AGENT_HEADERS,
        )
        assert reply.status_code == 200
    finally:
        stopped = proc.terminate()
    assert stopped["workers"] == 0, stopped  # health after stop: the workers were drained
    assert stopped["spans_received"] >= len(acked)  # all of it drained from the workers
    for number in (1, 2):  # each worker received (the kernel spread the connections)
        checkpoint = json.loads(
            (tmp_path / "wal" / f"worker-{number}" / "checkpoint.json").read_text()
        )
        assert checkpoint["committed"]["lsn"] > 1
    with Store.open(embedded_dsn(Path(dirs["store"]))) as store:
        _assert_calls_stored_once(store, acked)
        chains = store.query("SELECT uniqExact(chain_id) FROM agentaudit.audit_chain").rows[0][0]
        assert chains == 2
        assert verify_chain(store) == []


def test_a_killed_worker_is_restarted_and_loses_nothing(dirs: dict[str, Any]) -> None:
    proc = Proc(dirs, {"workers": 2})
    try:
        health = httpx.get(f"http://127.0.0.1:{proc.ports['api']}/healthz").json()
        worker_pid = health["worker_pids"][0]
        load = Load(proc.ports["grpc"], clients=4)
        _wait(lambda: len(load.acked) >= 600)
        os.kill(worker_pid, signal.SIGKILL)
        _wait(
            lambda: (
                httpx.get(f"http://127.0.0.1:{proc.ports['api']}/healthz").json()["worker_restarts"]
                == 1
            )
        )
        acked_before = len(load.acked)
        _wait(lambda: len(load.acked) >= acked_before + 300)
        load.stop()
    finally:
        stopped = proc.terminate()
    assert stopped["pending"] == 0
    with Store.open(embedded_dsn(Path(dirs["store"]))) as store:
        _assert_calls_stored_once(store, load.acked)
        assert verify_chain(store) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"  # a zombie has exited


def test_workers_stop_when_the_collector_is_killed_and_a_restart_drains_them(
    dirs: dict[str, Any],
) -> None:
    first = Proc(dirs, {"workers": 2})
    worker_pids = httpx.get(f"http://127.0.0.1:{first.ports['api']}/healthz").json()["worker_pids"]
    load = Load(first.ports["grpc"], clients=3)
    _wait(lambda: len(load.acked) >= 600)
    first.kill()  # SIGKILL: the workers are orphaned mid-load
    try:
        _wait(lambda: not any(_alive(pid) for pid in worker_pids), timeout=30)
    finally:
        for pid in worker_pids:  # never leave an orphan behind, even when this fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    load.stop()
    acked = list(load.acked)

    second = Proc(dirs, {"workers": 2})  # needs the ports and the workers' WAL locks
    try:
        _wait(lambda: second.sql("SELECT count() FROM agentaudit.tool_calls")[0][0] >= len(acked))
    finally:
        second.terminate()
    with Store.open(embedded_dsn(Path(dirs["store"]))) as store:
        _assert_calls_stored_once(store, acked)
        assert verify_chain(store) == []


def test_a_restart_waits_for_workers_of_the_killed_run_to_let_go_of_their_wals(
    dirs: dict[str, Any], tmp_path: Path, make_span: SpanFactory
) -> None:
    """A supervisor restarts a killed collector at once, while that run's orphaned workers
    still hold their WALs (they stop within ~6 s): the new workers wait for the locks
    instead of failing the start, and what the old WAL holds lands."""
    wal = tmp_path / "wal" / "worker-1"
    left = Wal(wal, shared=True)
    spans = [make_span() for _ in range(7)]
    left.append(spans)
    left.close()
    holder = hold_wal_lock(wal, 12.0)  # the orphan, still stopping (longer than a start)
    try:
        started = time.monotonic()
        proc = Proc(dirs, {"workers": 2})
        assert time.monotonic() - started >= 11.0  # it waited for the lock
    finally:
        holder.kill()
        holder.wait(10)
    try:
        _wait(lambda: proc.sql("SELECT count() FROM agentaudit.tool_calls")[0][0] >= len(spans))
    finally:
        proc.terminate()
    with Store.open(embedded_dsn(Path(dirs["store"]))) as store:
        _assert_calls_stored_once(store, [span.span_id for span in spans])
