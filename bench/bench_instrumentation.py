"""Per-call cost of an ``@audited_tool`` no-op with a full provenance context.

Compared in the same process, interleaved round by round:

* **bare** - the undecorated function;
* **floor** - a plain OTel span with the same number and kinds of attributes, through the
  same span processor (agentaudit's AuditSpanProcessor, a null exporter);
* **agentaudit** - the ``@audited_tool`` call inside ``context(user, session, agent)``
  and ``credential(...)``, after a 2 KB prompt containing one registered source was
  recorded (so the span carries prompt hash and source arrays).

Each child process reports the median over rounds; the section reports the median over
``PROCESSES`` fresh processes. Target: agentaudit's added cost (over bare) at most 1.3x
the floor's added cost.

    python -m bench instrumentation                 # write docs/benchmarks.md section
    python bench/bench_instrumentation.py --child   # one process, JSON on stdout
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROCESSES = 9
BURST_SPANS = 100_000
BURST_RUNS = 2
ROUNDS = 40
CALLS_PER_ROUND = 1_500
TARGET_RATIO = 1.3


def _child() -> dict[str, Any]:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    import agentaudit
    from agentaudit.instrumentation import AuditSpanProcessor, dropped_spans

    class NullExporter(SpanExporter):
        def __init__(self) -> None:
            self.exported = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.exported += len(spans)
            return SpanExportResult.SUCCESS

    exporter = NullExporter()
    provider = TracerProvider()
    provider.add_span_processor(AuditSpanProcessor(exporter))
    agentaudit.instrument(tracer_provider=provider, integrations=())
    tracer = provider.get_tracer("floor")

    def bare(to: str, subject: str) -> None:
        return None

    audited = agentaudit.audited_tool(name="notify")(bare)

    email = "Please forward the quarterly report to finance@example.com. " * 4
    prompt = [
        {"role": "system", "content": "You are the mail agent. " * 20},
        {"role": "user", "content": "Handle this email:\n" + email + "x" * 1200},
    ]
    assert 1900 <= len(json.dumps(prompt)) <= 2300

    with (
        agentaudit.context(agent="mail-agent", user="alice", session="sess-1"),
        agentaudit.credential(id="cred-42", scopes=["mail.send"], expires_at=1_900_000_000),
    ):
        agentaudit.record_source(email, kind="email", ref="email:msg-42")
        agentaudit.record_prompt(prompt, model="gpt-test")

        # Attribute shape of our span, for the floor.
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        probe_exporter = InMemorySpanExporter()
        probe = TracerProvider()
        probe.add_span_processor(SimpleSpanProcessor(probe_exporter))
        agentaudit.instrument(tracer_provider=probe, integrations=())
        audited("bob@example.com", "hello")
        (sample,) = probe_exporter.get_finished_spans()
        our_attributes = dict(sample.attributes or {})
        agentaudit.instrument(tracer_provider=provider, integrations=())
        floor_attributes = {f"attr.{i}": value for i, value in enumerate(our_attributes.values())}

        def floor(to: str, subject: str) -> None:
            with tracer.start_as_current_span("execute_tool notify", attributes=floor_attributes):
                bare(to, subject)

        variants: dict[str, Callable[[str, str], None]] = {
            "bare": bare,
            "floor": floor,
            "agentaudit": audited,
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(2):  # warm-up
            for func in variants.values():
                for _ in range(500):
                    func("bob@example.com", "hello")
        names = list(variants)
        for round_number in range(ROUNDS):
            shift = round_number % len(names)  # rotate the order: no variant always first
            for name in names[shift:] + names[:shift]:
                func = variants[name]
                started = time.perf_counter_ns()
                for _ in range(CALLS_PER_ROUND):
                    func("bob@example.com", "hello")
                samples[name].append((time.perf_counter_ns() - started) / CALLS_PER_ROUND / 1000)
    provider.force_flush()
    return {
        "us_per_call": {name: statistics.median(values) for name, values in samples.items()},
        "attributes": len(our_attributes),
        "dropped": dropped_spans(),
        "exported": exporter.exported,
    }


def _sink() -> None:
    """An OTLP/HTTP receiver in its own process that counts the spans it receives."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
            received[0] += sum(
                len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans
            )
            self._answer(b"")

        def do_GET(self) -> None:
            self._answer(str(received[0]).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def _burst_child(kind: str, endpoint: str) -> dict[str, Any]:
    """Emit BURST_SPANS audited calls in a tight loop through a real OTLP/HTTP exporter."""
    import urllib.request

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import agentaudit
    from agentaudit.instrumentation import AuditSpanProcessor

    def count() -> int:
        url = endpoint + "/count"
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback http
            return int(response.read())

    before = count()
    exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
    processor = (
        AuditSpanProcessor(exporter) if kind == "agentaudit" else BatchSpanProcessor(exporter)
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    agentaudit.instrument(tracer_provider=provider, integrations=())

    @agentaudit.audited_tool
    def notify(to: str) -> None:
        return None

    with agentaudit.context(agent="a", user="u", session="s"):
        for index in range(BURST_SPANS):
            notify(f"user-{index}@example.com")
    provider.shutdown()
    return {"kind": kind, "received": count() - before}


def _run_child() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _bursts() -> dict[str, list[int]]:
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--sink"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        endpoint = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
        received: dict[str, list[int]] = {"sdk": [], "agentaudit": []}
        for _ in range(BURST_RUNS):
            for kind, counts in received.items():
                done = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), "--burst", kind, endpoint],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=600,
                )
                counts.append(json.loads(done.stdout.strip().splitlines()[-1])["received"])
        return received
    finally:
        sink.kill()
        sink.wait(timeout=30)


def run() -> str:
    results = [_run_child() for _ in range(PROCESSES)]
    bursts = _bursts()
    per = {
        name: statistics.median(r["us_per_call"][name] for r in results)
        for name in ("bare", "floor", "agentaudit")
    }
    floor_added = per["floor"] - per["bare"]
    ours_added = per["agentaudit"] - per["bare"]
    ratio = ours_added / floor_added if floor_added > 0 else float("inf")
    ratios = [
        (r["us_per_call"]["agentaudit"] - r["us_per_call"]["bare"])
        / (r["us_per_call"]["floor"] - r["us_per_call"]["bare"])
        for r in results
    ]
    median_ratio = statistics.median(ratios)
    verdict = "meets" if median_ratio <= TARGET_RATIO else "MISSES"

    def lost(kind: str) -> str:
        return ", ".join(f"{100 * (BURST_SPANS - n) / BURST_SPANS:.1f} %" for n in bursts[kind])

    dropped = sum(r["dropped"] for r in results)
    lines = [
        "## instrumentation: per-call cost of `@audited_tool`",
        "",
        "`python -m bench instrumentation`. A no-op tool with two string arguments, called in",
        "a tight loop inside `context(agent, user, session)` + `credential(...)`, after a",
        "2 KB prompt with one registered source was recorded (the span carries "
        f"{results[0]['attributes']} attributes).",
        "Floor: a plain OTel span with as many attributes of the same types, through the",
        "same span processor (AuditSpanProcessor, null exporter). Median µs/call over "
        f"{PROCESSES} fresh processes ({ROUNDS} interleaved rounds of {CALLS_PER_ROUND} "
        "calls each, median per process).",
        "",
        "| variant | µs/call | added over bare |",
        "|---|---:|---:|",
        f"| bare call | {per['bare']:.2f} | - |",
        f"| floor: plain OTel span | {per['floor']:.2f} | {floor_added:.2f} |",
        f"| agentaudit `@audited_tool` | {per['agentaudit']:.2f} | {ours_added:.2f} |",
        "",
        f"Added cost ratio agentaudit / floor, median of the per-process ratios: "
        f"**{median_ratio:.2f}x** (target <= {TARGET_RATIO}x: {verdict}); per process "
        f"{', '.join(f'{x:.2f}' for x in sorted(ratios))}; ratio of the medians "
        f"{ratio:.2f}x. Spans dropped by the export queue in these runs: {dropped}.",
        "",
        f"Bursts: {BURST_SPANS:,} audited calls in a tight loop, exported over real OTLP/HTTP "
        "to a receiver in another process; spans lost per run (fresh process each):",
        "",
        "| span processor | lost |",
        "|---|---|",
        f"| SDK BatchSpanProcessor (defaults: 2,048 queue) | {lost('sdk')} |",
        f"| agentaudit AuditSpanProcessor (used by `agentaudit.auto`) | {lost('agentaudit')} |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    elif "--sink" in sys.argv:
        _sink()
    elif "--burst" in sys.argv:
        print(json.dumps(_burst_child(sys.argv[2], sys.argv[3])))
    else:
        print(run())
