"""What the fault tests share: a collector child process, senders that resend, the checks.

* :class:`Proc` runs ``tests.collector._collector_process`` (a real collector) and can
  make it crash right after an export was made durable and before it is acknowledged.
* :class:`Load` exports like OTLP exporters do: a request that fails (UNAVAILABLE, a
  timeout, a reset connection, 503) is sent again, byte for byte, until it is
  acknowledged. Only acknowledged spans are recorded. Building a new request after a
  failure (what the first fault tests did) can never produce the duplicates a real
  exporter's retransmission does.
* :func:`stored_counts` reads both span tables with plain SELECTs (no FINAL), and
  :func:`assert_exactly_once` checks them against what was acknowledged.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from tests.collector._otlp import export_request

REPO = Path(__file__).resolve().parents[2]
AGENT_TOKEN = "fault-tests-agent-token-0123456789abcdef"
ADMIN_TOKEN = "fault-tests-responder-token-0123456789ab"
AS_AGENT = (("authorization", f"Bearer {AGENT_TOKEN}"),)
AGENT_HEADERS = {"content-type": "application/x-protobuf", "authorization": f"Bearer {AGENT_TOKEN}"}
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNKNOWN,  # a connection cut mid-call
    }
)
"""What the OTel exporters retry (their list, plus what a SIGKILLed server looks like)."""


_HOLD_WAL = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from agentaudit.collector.wal.log import Wal\n"
    "wal = Wal(Path(sys.argv[1]))\n"
    "print('held', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def hold_wal_lock(directory: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding ``directory``'s WAL lock for ``seconds`` (returns once held)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WAL, str(directory), str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def kill_leftovers() -> None:
    """SIGKILL every collector a test started and left running (a test that failed before
    its ``terminate``); its workers and detector notice and stop within seconds."""
    while Proc.started:
        proc = Proc.started.pop()
        if proc.process.poll() is None:
            proc.kill()


def settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A collector's settings for a fault test (small, frequent batches; one process
    unless a test asks for ``workers``: the crash hook runs in-process receivers)."""
    return {
        "workers": 1,
        "store": str(tmp_path / "store"),
        "wal_dir": str(tmp_path / "wal"),
        "grpc_port": 0,
        "http_port": 0,
        "api_port": 0,
        "batch_rows": 40,
        "batch_seconds": 0.02,
        "token": AGENT_TOKEN,
        "admin_token": ADMIN_TOKEN,
        **overrides,
    }


class Proc:
    """A collector child process and its ports.

    ``crash_after_accepts = n``: the process SIGKILLs itself right after its n-th export
    was made durable (WAL fsync) and before the acknowledgement is sent.
    """

    started: ClassVar[list[Proc]] = []  # every collector a test started, for :func:`kill_leftovers`

    def __init__(self, flags: dict[str, Any], settings: dict[str, Any] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.collector._collector_process",
             json.dumps({**flags, **(settings or {})})],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("AGENTAUDIT_")},
        )  # fmt: skip
        Proc.started.append(self)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"collector did not start: {self.process.stderr.read()}")  # type: ignore[union-attr]
        self.ports: dict[str, int] = json.loads(line)

    def sql(self, query: str) -> list[list[Any]]:
        reply = httpx.post(
            f"http://127.0.0.1:{self.ports['api']}/v1/query",
            json={"sql": query},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,
        )
        reply.raise_for_status()
        rows: list[list[Any]] = reply.json()["rows"]
        return rows

    def count(self, table: str = "tool_calls") -> int:
        return int(self.sql(f"SELECT count() FROM agentaudit.{table}")[0][0])  # noqa: S608

    def metric(self, name: str) -> float:
        """The sum of a Prometheus metric's samples (all labels) on ``/metrics``."""
        reply = httpx.get(
            f"http://127.0.0.1:{self.ports['api']}/metrics",
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        reply.raise_for_status()
        total = 0.0
        for line in reply.text.splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == name or sample.startswith(name + "{"):
                total += float(value)
        return total

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def crashed(self) -> bool:
        """The process exited by SIGKILL (its own crash hook, or :meth:`kill`)."""
        return self.process.poll() == -signal.SIGKILL

    def terminate(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, out
        stopped: dict[str, Any] = json.loads(out.strip().splitlines()[-1])["stopped"]
        return stopped


def wait_for(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


class Load:
    """Clients exporting over gRPC (and HTTP), resending a failed request unchanged.

    Each client sends a request until it is acknowledged, sleeping a little after each
    failure (any retryable gRPC code, a connection error, a 5xx or 429): the same
    protobuf bytes, as the OTel exporters resend them. A request that is refused for
    good (401, 400, ...) is recorded in ``errors`` and that client stops.
    """

    def __init__(
        self,
        port: int,
        clients: int = 4,
        spans_per_request: int = 7,
        *,
        http_port: int | None = None,
        http_clients: int = 0,
    ) -> None:
        self.acked: list[str] = []
        self.errors: list[str] = []
        self.resent = 0  # requests sent again after a failure
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._size = spans_per_request
        self._threads = [
            threading.Thread(target=self._grpc, args=(port,), daemon=True) for _ in range(clients)
        ]
        if http_clients:
            assert http_port is not None
            self._threads += [
                threading.Thread(target=self._http, args=(http_port,), daemon=True)
                for _ in range(http_clients)
            ]
        for thread in self._threads:
            thread.start()

    def _acked(self, ids: list[str], attempts: int) -> None:
        with self._lock:
            self.acked.extend(ids)
            self.resent += attempts - 1

    def _failed(self, what: str) -> None:
        with self._lock:
            self.errors.append(what)

    def _pause(self) -> None:
        self._stop.wait(random.uniform(0.02, 0.1))

    def _grpc(self, port: int) -> None:
        # A channel of its own (gRPC shares connections between channels by default),
        # so each client is its own TCP connection, as separate processes would be; it
        # reconnects to a restarted collector within 0.3 s (gRPC's default backoff grows
        # to minutes, which only makes a test wait).
        own = [
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 300),
        ]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=own) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            while not self._stop.is_set():
                request, ids = export_request(self._size)
                attempts = 0
                while not self._stop.is_set():
                    attempts += 1
                    try:
                        stub.Export(request, timeout=5, metadata=AS_AGENT)
                    except grpc.RpcError as exc:
                        code = exc.code()
                        if code not in RETRYABLE:
                            self._failed(str(code))
                            return
                        self._pause()
                        continue
                    self._acked(ids, attempts)
                    break

    def _http(self, port: int) -> None:
        url = f"http://127.0.0.1:{port}/v1/traces"
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                request, ids = export_request(self._size)
                body = request.SerializeToString()
                attempts = 0
                while not self._stop.is_set():
                    attempts += 1
                    try:
                        reply = client.post(url, content=body, headers=AGENT_HEADERS)
                    except httpx.TransportError:
                        self._pause()
                        continue
                    if reply.status_code == 200:
                        self._acked(ids, attempts)
                        break
                    if reply.status_code in (429, 502, 503, 504):
                        self._pause()
                        continue
                    self._failed(f"HTTP {reply.status_code}")
                    return

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def stored_counts(store_dir: Path) -> dict[str, dict[str, int]]:
    """How many rows each span id has in each span table (plain SELECTs, no FINAL)."""
    with Store.open(embedded_dsn(store_dir)) as store:
        traces = store.query("SELECT SpanId, count() FROM agentaudit.otel_traces GROUP BY SpanId")
        calls = store.query("SELECT span_id, count() FROM agentaudit.tool_calls GROUP BY span_id")
    return {
        "otel_traces": {str(span): int(n) for span, n in traces.rows},
        "tool_calls": {str(span): int(n) for span, n in calls.rows},
    }


def assert_exactly_once(counts: dict[str, int], acked: list[str], what: str) -> None:
    """Every acknowledged span is stored, and no span is stored more than once."""
    duplicates = {span: n for span, n in counts.items() if n != 1}
    assert not duplicates, (
        f"{what}: {len(duplicates)} spans stored more than once, e.g. {list(duplicates)[:5]}"
    )
    missing = set(acked) - set(counts)
    assert not missing, (
        f"{what}: {len(missing)} acknowledged spans lost, e.g. {sorted(missing)[:5]}"
    )
