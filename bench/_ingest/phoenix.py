"""Arize Phoenix, side by side with the collector: the same requests, the same senders.

Phoenix (``arize-phoenix``, pinned to :data:`VERSION`) is installed from the package
index into its own virtual environment (:mod:`.environment`, reused once built) and run
as a real server, its own process: ``python -m phoenix.server.main serve`` with its
SQLite database in a fresh temporary working directory (``PHOENIX_WORKING_DIR``), on
free ports (``PHOENIX_PORT`` for the UI, REST, GraphQL and OTLP/HTTP ``/v1/traces``,
``PHOENIX_GRPC_PORT`` for OTLP/gRPC), telemetry off.

It is fed by the ingest bench's own sender processes (:mod:`.clients`, ``replay``):
:data:`SENDERS` processes, each sending the requests the OpenTelemetry SDK's encoder
built before the clock from the same spans the collector gets (:mod:`.workload`), in
requests of 512 spans, over OTLP/HTTP (``/v1/traces``, whose receiver answers
backpressure with 503, which the senders retry; Phoenix's gRPC servicer has none, decodes
span by span through a thread pool, and ran at the same rate within the noise with
``--grpc``: 82 against 67-86 spans/s at load 7-9). The clock starts
when the senders go and stops when every span is *queryable*, defined as for the
collector: the server's own query API counts them all (here Phoenix's GraphQL
``recordCount`` summed over its projects, polled every :data:`POLL_SECONDS`; for the
collector ``SELECT count() FROM agentaudit.otel_traces`` through its admin API). Phoenix
ingests ~100-150 spans/s on these cores and takes 10-35 s to start, so one fresh server
takes :data:`RUNS` rounds of :data:`SENDERS` × :data:`SPANS_PER_SENDER` spans (~20-30 s
each; a round counts the spans beyond those already stored); a round not done after
:data:`DEADLINE_SECONDS` reports the spans queryable by then and ends the measurement.
Phoenix's CPU time (its process tree, from ``/proc``) over the same window gives its
CPU µs per span; that includes its idle work (~10% of a core) and answering the count
queries (~7 ms each), a few per cent of the total.

    python -m bench._ingest.phoenix [--runs N] [--spans-per-sender N] [--grpc] [--floor]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._envs import Environment
from bench._ingest.clients import go, start_clients
from bench._ingest.procfs import family_cpu_seconds, load_average

__all__ = [
    "DEADLINE_SECONDS",
    "REQUIREMENT",
    "RUNS",
    "SENDERS",
    "SPANS_PER_SENDER",
    "VERSION",
    "PhoenixError",
    "PhoenixResult",
    "PhoenixRun",
    "PhoenixServer",
    "count_query",
    "measure",
    "server_command",
    "server_env",
    "span_count",
    "try_measure",
]

VERSION = "20.26.1"
"""The Phoenix release measured (the newest on the package index when this was written)."""
REQUIREMENT = f"arize-phoenix=={VERSION}"
SENDERS = 3
SPANS_PER_SENDER = 1_024  # two requests of 512 each; a round of 3,072 spans: ~20-30 s
RUNS = 3
DEADLINE_SECONDS = 90.0  # a round takes ~20 s on a quiet machine, 45 s at load 9
POLL_SECONDS = 0.25
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
COUNT_QUERY = "{ projects { edges { node { name recordCount } } } }"


class PhoenixError(RuntimeError):
    """Phoenix could not be installed, started or queried; the message says what failed."""


def server_env(
    workdir: Path, http_port: int, grpc_port: int, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a Phoenix server: ``base`` (our own environment by default)
    without its OpenTelemetry, Phoenix and Python-path settings, plus Phoenix's own."""
    source = os.environ if base is None else base
    dropped = ("OTEL_", "PHOENIX_", "AGENTAUDIT_")
    env = {
        key: value
        for key, value in source.items()
        if not key.startswith(dropped) and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        {
            "PHOENIX_WORKING_DIR": str(workdir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(http_port),
            "PHOENIX_GRPC_PORT": str(grpc_port),
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_LOG_MIGRATIONS": "false",
        }
    )
    return env


def server_command(python: Path) -> list[str]:
    """Phoenix's ``phoenix serve``, run by the interpreter of its environment."""
    return [str(python), "-m", "phoenix.server.main", "serve"]


def count_query(base_url: str) -> urllib.request.Request:
    """The GraphQL request for the number of spans Phoenix can answer queries about."""
    return urllib.request.Request(  # noqa: S310 - a local server
        f"{base_url}/graphql",
        data=json.dumps({"query": COUNT_QUERY}).encode(),
        headers={"content-type": "application/json"},
    )


def span_count(reply: Mapping[str, Any]) -> int:
    """The spans stored in every project, from the reply to :data:`COUNT_QUERY`."""
    if reply.get("errors"):
        raise PhoenixError(f"Phoenix's GraphQL API answered: {reply['errors']}")
    edges = reply["data"]["projects"]["edges"]
    return sum(int(edge["node"]["recordCount"]) for edge in edges)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PhoenixServer:
    """``phoenix serve`` in its own process, on free ports, over a fresh working directory."""

    def __init__(self, python: Path, workdir: Path) -> None:
        self.http_port, self.grpc_port = _free_port(), _free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.log = workdir / "phoenix.log"
        data = workdir / "phoenix"
        data.mkdir()
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                server_command(python),
                cwd=workdir,
                env=server_env(data, self.http_port, self.grpc_port),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def otlp_http(self) -> str:
        return f"{self.base_url}/v1/traces"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def _get(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.base_url}{path}", timeout=30) as reply:  # noqa: S310
            return str(reply.read().decode())

    def _log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PhoenixError(
                    f"phoenix serve exited {self.process.returncode}:\n{self._log_tail()}"
                )
            try:
                self._get("/healthz")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise PhoenixError(
            f"phoenix serve did not answer within {START_TIMEOUT:.0f} s:\n{self._log_tail()}"
        )

    def count(self) -> int:
        with urllib.request.urlopen(count_query(self.base_url), timeout=30) as reply:  # noqa: S310
            return span_count(json.load(reply))

    def cpu_seconds(self) -> float:
        return family_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)


@dataclass(frozen=True)
class PhoenixRun:
    """One round: spans sent, the round's spans queryable at the end, and times."""

    sent: int
    queryable: int
    seconds: float  # go -> every span queryable (or the deadline)
    acknowledged_seconds: float
    failures: int
    server_cpu: float  # CPU seconds of Phoenix's process tree over ``seconds``
    senders_cpu: float

    @property
    def rate(self) -> float:
        return self.queryable / self.seconds

    @property
    def server_us(self) -> float:
        return self.server_cpu / max(self.queryable, 1) * 1e6

    @property
    def complete(self) -> bool:
        return self.queryable >= self.sent


@dataclass(frozen=True)
class PhoenixResult:
    """Every round of one measurement, and how the environment came to be."""

    version: str
    environment: str  # where, and whether it was reused or built now (and how long it took)
    transport: str
    runs: list[PhoenixRun] = field(default_factory=list)
    seconds: float = 0.0  # the whole Phoenix part, install check and servers included

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def server_us(self) -> float:
        return statistics.median(r.server_us for r in self.runs)

    @property
    def senders_us(self) -> float:
        return statistics.median(r.senders_cpu / r.sent * 1e6 for r in self.runs)

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.runs)

    def describe(self) -> str:
        """One paragraph: what was measured, and the spread of the rounds."""
        each = ", ".join(f"{r.rate:,.0f}" for r in self.runs)
        partial = [r for r in self.runs if not r.complete]
        note = (
            f"; {len(partial)} round stopped at the {DEADLINE_SECONDS:.0f} s deadline "
            f"({', '.join(f'{r.queryable:,} of {r.sent:,}' for r in partial)} queryable)"
            if partial
            else ""
        )
        sent = self.runs[0].sent if self.runs else 0
        return (
            f"Phoenix {self.version} ({self.environment}; one fresh server, SQLite in a "
            f"fresh working directory), {len(self.runs)} rounds of {SENDERS} senders × "
            f"{sent // SENDERS:,} spans over {self.transport}: {self.rate:,.0f} spans/s "
            f"(rounds: {each}), "
            f"{self.server_us:,.0f} µs of server CPU per span, failed exports "
            f"{sum(r.failures for r in self.runs)}{note}; the Phoenix part took "
            f"{self.seconds:.0f} s."
        )


def _round(server: PhoenixServer, spans_per_sender: int, grpc: bool) -> PhoenixRun:
    """Fresh senders send their requests; the clock stops when Phoenix counts them all."""
    endpoint = server.otlp_grpc if grpc else server.otlp_http
    tails = [[str(seed), str(spans_per_sender)] for seed in range(SENDERS)]
    senders = start_clients(endpoint, tails, "replay")
    sent = SENDERS * spans_per_sender
    try:
        before = server.count()  # the earlier rounds' spans
        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        results = go(senders)
        acknowledged = time.perf_counter() - started
    finally:
        for proc in senders:  # done unless something failed before or while they sent
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    queryable = server.count() - before
    while queryable < sent and time.perf_counter() - started < DEADLINE_SECONDS:
        time.sleep(POLL_SECONDS)
        queryable = server.count() - before
    seconds = time.perf_counter() - started
    return PhoenixRun(
        sent=sent,
        queryable=queryable,
        seconds=seconds,
        acknowledged_seconds=acknowledged,
        failures=sum(int(r["failures"]) for r in results),
        server_cpu=server.cpu_seconds() - cpu_before,
        senders_cpu=sum(float(r["cpu"]) for r in results),
    )


def _rounds(python: Path, runs: int, spans_per_sender: int, grpc: bool) -> list[PhoenixRun]:
    """``runs`` rounds on one fresh server (its start-up takes 10-35 s on these cores).

    A round that misses the deadline ends the measurement: its spans still arriving would
    count in the next round.
    """
    done: list[PhoenixRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-phoenix-") as tmp:
        server = PhoenixServer(python, Path(tmp))
        try:
            while len(done) < runs and (not done or done[-1].complete):
                done.append(_round(server, spans_per_sender, grpc))
        finally:
            server.stop()
    return done


def measure(
    runs: int = RUNS, spans_per_sender: int = SPANS_PER_SENDER, grpc: bool = False
) -> PhoenixResult:
    """Install (or reuse) Phoenix's environment, then ``runs`` rounds on a fresh server."""
    started = time.perf_counter()
    env = Environment(REQUIREMENT.replace("==", "-"), (REQUIREMENT,))
    try:
        built = env.ensure()
    except Exception as exc:
        raise PhoenixError(f"installing {REQUIREMENT} failed: {exc}") from exc
    where = env.path.relative_to(env.root.parent)
    how = f"built now in {time.perf_counter() - started:.0f} s" if built else "reused"
    print(f"phoenix: {REQUIREMENT} in {where} ({how})", flush=True)
    done = _rounds(env.python, runs, spans_per_sender, grpc)
    return PhoenixResult(
        version=_installed_version(env.python),
        environment=f"its own environment `{where}`, {how}",
        transport="OTLP/gRPC" if grpc else "OTLP/HTTP (protobuf)",
        runs=done,
        seconds=time.perf_counter() - started,
    )


def _installed_version(python: Path) -> str:
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('arize-phoenix'))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout.strip() or VERSION


def try_measure(**kwargs: Any) -> PhoenixResult | str:
    """:func:`measure`, or why Phoenix could not be measured here (the bench goes on)."""
    try:
        return measure(**kwargs)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._ingest.phoenix")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--spans-per-sender", type=int, default=SPANS_PER_SENDER)
    parser.add_argument("--grpc", action="store_true", help="feed Phoenix over OTLP/gRPC")
    parser.add_argument(
        "--floor", action="store_true", help="also measure the floor (pre-built Arrow → store)"
    )
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}", flush=True)
    result = try_measure(runs=args.runs, spans_per_sender=args.spans_per_sender, grpc=args.grpc)
    if isinstance(result, str):
        print(f"Phoenix not measured: {result}")
        return 1
    print(result.describe())
    for run in result.runs:
        print(
            f"  round: {run.queryable:,}/{run.sent:,} queryable in {run.seconds:.1f} s "
            f"(acknowledged in {run.acknowledged_seconds:.2f} s), server CPU "
            f"{run.server_cpu:.1f} s, senders CPU {run.senders_cpu:.1f} s"
        )
    if args.floor:
        from bench._ingest.workload import EXPORT_BATCH, encoded_requests, make_spans
        from bench.bench_ingest import floor

        spans = make_spans(20_000, 1)
        requests = encoded_requests(spans, EXPORT_BATCH)
        floor_rate = statistics.median(floor(requests, len(spans))[0] for _ in range(3))
        print(
            f"floor: {floor_rate:,.0f} spans/s; Phoenix at {result.rate / floor_rate:.2%} "
            "of the floor"
        )
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
