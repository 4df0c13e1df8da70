"""The sender processes of the ingest bench, one per simulated agent.

``python -m bench._ingest.clients MODE ENDPOINT SEED COUNT [RATE BATCH SECONDS]``

* ``sdk``: the OpenTelemetry SDK's own ``OTLPSpanExporter`` (gRPC) encodes and sends
  finished spans, in batches of :data:`~bench._ingest.workload.EXPORT_BATCH`, or paced
  at ``RATE`` spans/s in ``BATCH``-span exports for ``SECONDS`` (the latency run);
* ``replay``: the requests that encoder built before the clock are sent as they are, to
  an OTLP/gRPC ``host:port`` or an OTLP/HTTP ``http://…/v1/traces`` endpoint, so only the
  receiver's work is timed, or paced like ``sdk`` (the collector's own latency). An
  "unavailable" answer (gRPC ``UNAVAILABLE``, HTTP 503 or 429: backpressure) is retried
  with a growing pause; anything else counts as a failure.

Each process prints ``ready`` once its requests are built, waits for a line on stdin,
sends, and prints one JSON object: ``spans``, ``seconds``, ``failures``, ``latencies``.
:func:`start_clients` and :func:`go` drive them from the bench.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._ingest.procfs import cpu_seconds
from bench._ingest.workload import EXPORT_BATCH, encoded_requests, make_spans

__all__ = [
    "AGENT_TOKEN",
    "EXPORT_METHOD",
    "LATENCY_LANES",
    "Retry",
    "go",
    "is_http",
    "main",
    "sender",
    "start_clients",
]

AGENT_TOKEN = "bench-agent-token"  # noqa: S105 - a throwaway token for a local receiver
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LATENCY_LANES = 4  # concurrent exporters, so a slow export does not lower the load
RETRIES = 20
REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
RETRY_HTTP_STATUS = frozenset({429, 503})


class Retry(Exception):
    """The receiver asked to be called again later (backpressure)."""


def is_http(endpoint: str) -> bool:
    """Whether ``endpoint`` is an OTLP/HTTP URL (else an OTLP/gRPC ``host:port``)."""
    return endpoint.startswith(("http://", "https://"))


Send = Callable[[bytes], None]


def _grpc_sender(target: str) -> tuple[Send, Callable[[], None]]:
    import grpc

    channel = grpc.insecure_channel(target)
    export = channel.unary_unary(EXPORT_METHOD, response_deserializer=lambda body: body)
    metadata = (("authorization", f"Bearer {AGENT_TOKEN}"),)

    def send(body: bytes) -> None:
        try:
            export(body, timeout=30, metadata=metadata)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise Retry(str(exc.code())) from exc
            raise

    return send, channel.close


def _http_sender(url: str) -> tuple[Send, Callable[[], None]]:
    parts = urllib.parse.urlsplit(url)
    factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = factory(parts.netloc, timeout=30)
    headers = {
        "content-type": "application/x-protobuf",
        "authorization": f"Bearer {AGENT_TOKEN}",
    }

    def send(body: bytes) -> None:
        try:
            connection.request("POST", parts.path or "/", body=body, headers=headers)
            reply = connection.getresponse()
            reply.read()
        except (http.client.HTTPException, ConnectionError) as exc:
            connection.close()  # reconnects on the next request
            raise Retry(repr(exc)) from exc
        if reply.status in RETRY_HTTP_STATUS:
            raise Retry(str(reply.status))
        if reply.status != 200:
            raise RuntimeError(f"HTTP {reply.status}")

    return send, connection.close


def sender(endpoint: str) -> tuple[Send, Callable[[], None]]:
    """``send(body)`` and ``close()`` for an OTLP/gRPC or OTLP/HTTP endpoint."""
    return _http_sender(endpoint) if is_http(endpoint) else _grpc_sender(endpoint)


def _paced(
    batches: int, rate: float, size: int, export: Callable[[int, int], bool]
) -> tuple[list[float], int]:
    """Export batch ``i`` on lane ``i % LATENCY_LANES`` at its due time: an open-loop load.

    ``export(lane, i)`` sends batch ``i`` and says whether it was accepted. Returns the
    latency of every export and the number that failed.
    """
    failures = 0
    latencies: list[float] = []
    lock = threading.Lock()
    interval = size / rate
    started = time.perf_counter()

    def lane(number: int) -> None:
        nonlocal failures
        for i in range(number, batches, LATENCY_LANES):
            pause = started + i * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            t0 = time.perf_counter()
            accepted = export(number, i)
            with lock:
                latencies.append(time.perf_counter() - t0)
                failures += not accepted

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(LATENCY_LANES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures


def _report(count: int, seconds: float, failures: int, latencies: list[float]) -> None:
    print(json.dumps({"spans": count, "seconds": seconds, "failures": failures,
                      "latencies": latencies}), flush=True)  # fmt: skip


def _replay(endpoint: str, seed: int, count: int, paced: tuple[float, int, float] | None) -> None:
    """Send requests the SDK's own encoder built before the clock.

    What the receiver sees is byte for byte what ``OTLPSpanExporter`` sends; only the
    client's encoding work (~55 µs/span on these cores) is moved out of the timed window,
    so the figure is the receiver's capacity rather than the clients'. Paced, each lane
    has its own connection (as each SDK exporter has), and the latency of an export is
    the collector's answer alone: an "unavailable" answer counts as a failure there.
    """
    if paced:
        rate, size, seconds = paced
        count = int(rate * seconds)
        requests = encoded_requests(make_spans(count, seed), size)
        lanes = [sender(endpoint) for _ in range(LATENCY_LANES)]
        print("ready", flush=True)
        sys.stdin.readline()

        def export(lane: int, i: int) -> bool:
            try:
                lanes[lane][0](requests[i])
            except Exception:
                return False
            return True

        started = time.perf_counter()
        latencies, failures = _paced(len(requests), rate, size, export)
        elapsed = time.perf_counter() - started
        for _, close in lanes:
            close()
        _report(count, elapsed, failures, latencies)
        return
    requests = encoded_requests(make_spans(count, seed), EXPORT_BATCH)
    send, close = sender(endpoint)
    print("ready", flush=True)
    sys.stdin.readline()
    failures = 0
    started = time.perf_counter()
    for body in requests:
        for attempt in range(RETRIES):
            try:
                send(body)
                break
            except Retry:
                if attempt == RETRIES - 1:
                    failures += 1
                    break
                time.sleep(0.05 * (attempt + 1))
            except Exception:
                failures += 1
                break
    elapsed = time.perf_counter() - started
    close()
    _report(count, elapsed, failures, [])


def _sdk(endpoint: str, seed: int, count: int, paced: tuple[float, int, float] | None) -> None:
    """Export finished spans through the SDK's ``OTLPSpanExporter`` (gRPC).

    Paced, the latency of an export includes the SDK encoding it in this process.
    """
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    rate, size, seconds = paced or (0.0, 0, 0.0)
    if paced:
        count = int(rate * seconds)
    spans = make_spans(count, seed)
    exporters = [
        OTLPSpanExporter(
            endpoint=endpoint,
            insecure=True,
            timeout=30,
            headers={"authorization": f"Bearer {AGENT_TOKEN}"},
        )
        for _ in range(LATENCY_LANES if paced else 1)
    ]
    print("ready", flush=True)
    sys.stdin.readline()
    failures = 0
    latencies: list[float] = []
    started = time.perf_counter()
    if paced:

        def export(lane: int, i: int) -> bool:
            batch = spans[i * size : (i + 1) * size]
            return exporters[lane].export(batch) == SpanExportResult.SUCCESS

        batches = -(-len(spans) // size)
        latencies, failures = _paced(batches, rate, size, export)
    else:
        for offset in range(0, len(spans), EXPORT_BATCH):
            result = exporters[0].export(spans[offset : offset + EXPORT_BATCH])
            failures += result != SpanExportResult.SUCCESS
    elapsed = time.perf_counter() - started
    for exporter in exporters:
        exporter.shutdown()
    _report(count, elapsed, failures, latencies)


def main(argv: list[str]) -> None:
    """``sdk|replay ENDPOINT SEED COUNT [RATE BATCH SECONDS]``."""
    import logging

    logging.disable(logging.WARNING)
    mode, endpoint, seed, count = argv[0], argv[1], int(argv[2]), int(argv[3])
    paced = (float(argv[4]), int(argv[5]), float(argv[6])) if len(argv) > 4 else None
    (_replay if mode == "replay" else _sdk)(endpoint, seed, count, paced)


def start_clients(endpoint: str, tails: list[list[str]], mode: str = "sdk") -> list[Any]:
    """Start one sender process per ``SEED COUNT [...]`` tail; return once all are ready."""
    procs = [
        subprocess.Popen(
            [PYTHON, "-m", "bench._ingest.clients", mode, endpoint, *tail],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tail in tails
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            for other in procs:
                other.kill()
            raise RuntimeError("a bench client did not start")
    return procs


def go(procs: list[Any]) -> list[dict[str, Any]]:
    """Start the senders; their results, each with the CPU seconds the sender used."""
    before = [cpu_seconds(proc.pid) for proc in procs]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc, cpu in zip(procs, before, strict=True):
        result = json.loads(proc.stdout.readline())
        result["cpu"] = cpu_seconds(proc.pid) - cpu  # not reaped yet: readable
        proc.wait(60)
        results.append(result)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
