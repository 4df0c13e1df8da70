"""Gzip bombs against a real receiving process: its memory stays within the budget.

The process is a collector worker (``python -m agentaudit.collector.workers.process``:
both receivers, the pipeline, redaction, a WAL), with the default 256 MiB decode budget
and the 64 MiB request limit. Its peak RSS is read from ``/proc/<pid>/status``
(``VmHWM``, reset through ``/proc/<pid>/clear_refs`` before each test).

Before bounded pre-auth work, the same process grew by 932 MiB under 12 of the string
bombs below (2.2 GB in the issue's measurement), and by 2.7 GB under two 4 KB gzip
bodies of empty spans; a 64 MiB body of empty spans would have needed ~20 GB.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentaudit.collector.ingest import wire
from agentaudit.collector.workers.pool import worker_spec
from agentaudit.config import load_config

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc"
)

MiB = 1 << 20
TOKEN = "memory-test-token"
LIMIT = 64 * MiB
BUDGET = 256 * MiB
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GROWTH_BOUND = BUDGET + 64 * MiB
"""What the parallel authenticated bombs may add to the process's peak RSS: the budget,
and some slack for what is not charged (threads, buffers of the servers themselves).
Measured: 252-261 MiB."""


def _ld(number: int, payload: bytes) -> bytes:
    return wire._varint_bytes(number << 3 | 2) + wire._varint_bytes(len(payload)) + payload


def request_with_string(size: int) -> bytes:
    """A valid export request of ``size`` bytes: one span, one long string attribute."""
    head = b"\x0a\x10" + b"\x01" * 16 + b"\x12\x08" + b"\x02" * 8
    text = size - 64
    value = _ld(1, b"a" * text)
    body = _ld(1, _ld(2, _ld(2, head + _ld(9, _ld(1, b"k") + _ld(2, value)))))
    return body


def empty_spans(size: int) -> bytes:
    """A valid export request of about ``size`` bytes: empty spans, 2 bytes each."""
    return _ld(1, _ld(2, b"\x12\x00" * ((size - 16) // 2)))


def gzip9(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


@dataclass
class Worker:
    process: subprocess.Popen[str]
    grpc_port: int
    http_port: int

    def status(self, key: str) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    def reset_peak(self) -> int:
        """Set VmHWM to the current RSS; return that."""
        with open(f"/proc/{self.process.pid}/clear_refs", "w") as clear:
            clear.write("5")
        return self.status("VmHWM")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    folder = tmp_path_factory.mktemp("memory")
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    config = load_config(
        {"wal_dir": str(folder / "wal"), "decode_budget_bytes": BUDGET}, environ={}
    )
    spec = worker_spec(
        config, grpc_port=ports[0], http_port=ports[1], wal_dir=folder / "wal" / "worker-1"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTAUDIT_", "OTEL_"))}
    env["AGENTAUDIT_TOKEN"] = TOKEN
    process = subprocess.Popen(
        [sys.executable, "-m", "agentaudit.collector.workers.process", spec],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    started = Worker(process, ports[0], ports[1])
    assert normal_grpc_export(started) is SpanExportResult.SUCCESS  # warm up both paths
    assert post(started, gzip9(request_with_string(4096)), authorized=True).status_code == 200
    yield started
    process.terminate()
    process.wait(30)


def normal_grpc_export(worker: Worker, timeout: float = 10) -> SpanExportResult:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("execute_tool send_email") as span:
        span.set_attribute("gen_ai.tool.name", "send_email")
    provider.shutdown()
    exporter = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{worker.grpc_port}",
        insecure=True,
        headers=(("authorization", f"Bearer {TOKEN}"),),
        compression=grpc.Compression.Gzip,
        timeout=timeout,
    )
    try:
        return exporter.export(memory.get_finished_spans())
    finally:
        exporter.shutdown()


def post(worker: Worker, body: bytes, *, authorized: bool) -> httpx.Response:
    headers = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}
    if authorized:
        headers["authorization"] = f"Bearer {TOKEN}"
    return httpx.post(worker.url, content=body, headers=headers, timeout=60)


def grpc_call(worker: Worker, message: bytes, *, authorized: bool, compress: bool) -> str:
    """One Export call; its status code name."""
    metadata = (("authorization", f"Bearer {TOKEN}"),) if authorized else None
    compression = grpc.Compression.Gzip if compress else None
    with grpc.insecure_channel(f"127.0.0.1:{worker.grpc_port}") as channel:
        try:
            channel.unary_unary(EXPORT)(
                message, metadata=metadata, compression=compression, timeout=60
            )
        except grpc.RpcError as exc:
            return str(exc.code().name)
    return "OK"


def test_unauthenticated_bombs_cost_nothing(worker: Worker) -> None:
    over = request_with_string(LIMIT + 64 * 1024)
    packed = gzip9(over)
    assert len(packed) < 100_000
    baseline = worker.reset_peak()
    codes = [grpc_call(worker, packed, authorized=False, compress=False) for _ in range(4)]
    codes += [grpc_call(worker, over, authorized=False, compress=True) for _ in range(4)]
    statuses = [post(worker, packed, authorized=False).status_code for _ in range(8)]
    assert codes == ["UNAUTHENTICATED"] * 8
    assert statuses == [401] * 8
    growth = worker.status("VmHWM") - baseline
    print(f"unauthenticated bombs: peak RSS growth {growth / MiB:.1f} MiB")
    assert growth < 8 * MiB


def test_parallel_authenticated_bombs_stay_within_the_budget(worker: Worker) -> None:
    over = request_with_string(LIMIT + 64 * 1024)  # inflates past the limit
    under = request_with_string(LIMIT - 64 * 1024)  # just under it: one 64 MiB string
    spans = empty_spans(LIMIT - 64 * 1024)  # just under it: 33 million empty spans
    kinds: dict[str, bytes] = {"over": gzip9(over), "under": gzip9(under), "spans": gzip9(spans)}
    assert all(len(packed) < 100_000 for packed in kinds.values())

    def bomb_grpc(message: bytes, compress: bool = False) -> Callable[[], str]:
        return lambda: grpc_call(worker, message, authorized=True, compress=compress)

    def bomb_http(body: bytes) -> Callable[[], str]:
        return lambda: str(post(worker, body, authorized=True).status_code)

    calls: list[tuple[str, Callable[[], str]]] = []
    for name, packed in kinds.items():
        calls += [(f"grpc-{name}", bomb_grpc(packed)), (f"http-{name}", bomb_http(packed))] * 2
    for raw in (over, under):  # compressed by gRPC itself, as an exporter does
        calls += [("grpc-compressed", bomb_grpc(raw, compress=True))] * 2
    assert len(calls) >= 12

    baseline = worker.reset_peak()
    normal: list[tuple[SpanExportResult, float]] = []

    def export_meanwhile() -> None:
        time.sleep(0.5)  # the bombs are in flight; the exporter retries UNAVAILABLE
        result = normal_grpc_export(worker, timeout=60)
        normal.append((result, time.monotonic() - started))

    exporter = threading.Thread(target=export_meanwhile)
    started = time.monotonic()
    exporter.start()
    with ThreadPoolExecutor(len(calls)) as pool:
        answers = list(pool.map(lambda call: (call[0], call[1]()), calls))
    elapsed = time.monotonic() - started
    exporter.join(90)
    growth = worker.status("VmHWM") - baseline
    print(
        f"{len(calls)} bombs answered in {elapsed:.1f} s: {sorted(answers)}; "
        f"peak RSS growth {growth / MiB:.0f} MiB over {baseline / MiB:.0f} MiB; "
        f"the normal export: {normal}"
    )
    allowed = {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "413", "503"}
    assert {code for _, code in answers} <= allowed
    assert [result for result, _ in normal] == [SpanExportResult.SUCCESS]
    assert growth < GROWTH_BOUND
    assert normal_grpc_export(worker) is SpanExportResult.SUCCESS
