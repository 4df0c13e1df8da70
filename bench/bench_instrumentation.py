"""The agent-side cost: the model-call step, the tool call alone, and burst losses.

**The model-call step** (what an agent pays per model call, issue 15): ``record_prompt``
of a fresh prompt of 2 / 20 / 200 KB, with 1, 10 or 100 registered sources, then one
``@audited_tool`` call, through the app's own TracerProvider with the SDK
BatchSpanProcessor (and with agentaudit's AuditSpanProcessor), against a floor doing the
same work with C-speed primitives (:mod:`bench._instrumentation.step`). One fresh process
per prompt size, ``STEP_PROCESSES`` times; medians over processes of per-process medians.
Target: agentaudit's added cost (over the bare step) at most 1.3x the floor's.

**The same step in LangChain** against OpenInference and OpenLLMetry, each instrumenting
it in a fresh process of the peers' own environment (:mod:`bench._instrumentation.peers`,
created by :mod:`bench._instrumentation.peerenv` from the package index).

**The tool call alone**, compared in the same process, interleaved round by round:

* **bare** - the undecorated function;
* **floor** - a plain OTel span with the same number and kinds of attributes, through the
  same span processor (agentaudit's AuditSpanProcessor, a null exporter);
* **agentaudit** - the ``@audited_tool`` call inside ``context(user, session, agent)``
  and ``credential(...)``, after a 2 KB prompt containing one registered source was
  recorded (so the span carries prompt hash and source arrays).

Each child process reports the median over rounds; the section reports the median over
``PROCESSES`` fresh processes.

    python -m bench instrumentation                 # write docs/benchmarks.md section
    python bench/bench_instrumentation.py --child   # one process, JSON on stdout
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROCESSES = 5
STEP_SIZES = (2_000, 20_000, 200_000)
"""Characters of prompt text (its canonical JSON is slightly larger; the table says)."""
STEP_COUNTS = (1, 10, 100)
STEP_PROCESSES = 3
STEP_ROUNDS = 12
PEER_PROCESSES = 3
PEER_ROUNDS = 10
PEER_SOURCES = 10
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
                started = time.process_time_ns()  # CPU: robust to other work on the box
                for _ in range(CALLS_PER_ROUND):
                    func("bob@example.com", "hello")
                samples[name].append((time.process_time_ns() - started) / CALLS_PER_ROUND / 1000)
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


def _run_step(size: int) -> list[dict[str, Any]]:
    counts = ",".join(map(str, STEP_COUNTS))
    args = [str(size), "--counts", counts, "--rounds", str(STEP_ROUNDS)]
    done = subprocess.run(
        [sys.executable, "-m", "bench._instrumentation.step", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=1200,
        cwd=Path(__file__).resolve().parent.parent,
    )
    points: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])["points"]
    return points


def _added_ratio(point: dict[str, Any], floor: str) -> float:
    return float((point["ours"] - point["bare"]) / (point[floor] - point["bare"]))


def _step_section() -> tuple[list[str], dict[tuple[int, int, str], dict[str, float]]]:
    """The model-call step grid, and per (size, sources, processor) its medians."""
    runs: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
    for _ in range(STEP_PROCESSES):
        for size in STEP_SIZES:
            for point in _run_step(size):
                runs.setdefault((size, point["count"], point["processor"]), []).append(point)
    names = {"batch": "app's BatchSpanProcessor", "audit": "agentaudit AuditSpanProcessor"}
    cells: dict[tuple[int, int, str], dict[str, float]] = {}
    for key, points in runs.items():
        cell = {
            name: statistics.median(p[name] for p in points)
            for name in ("prompt_bytes", "bare", "floor", "floor_ascii", "unmatched", "ours")
        }
        cell["ratio"] = statistics.median(_added_ratio(p, "floor") for p in points)
        cell["ratio_ascii"] = statistics.median(_added_ratio(p, "floor_ascii") for p in points)
        cell["ratio_unmatched"] = statistics.median(_added_ratio(p, "unmatched") for p in points)
        cells[key] = cell
    rows: list[str] = []
    over: list[str] = []
    for size in STEP_SIZES:
        for count in STEP_COUNTS:
            batch, audit = cells[size, count, "batch"], cells[size, count, "audit"]
            rows.append(
                f"| {batch['prompt_bytes'] / 1000:.1f} KB | {count} "
                f"| {batch['floor']:.1f} | {batch['ours']:.1f} | **{batch['ratio']:.2f}x** "
                f"| {batch['ratio_ascii']:.2f}x "
                f"| {audit['floor']:.1f} | {audit['ours']:.1f} | **{audit['ratio']:.2f}x** "
                f"| {audit['ratio_ascii']:.2f}x |"
            )
            for processor, cell in (("batch", batch), ("audit", audit)):
                if cell["ratio"] > TARGET_RATIO:
                    over.append(
                        f"{cell['prompt_bytes'] / 1000:.1f} KB with {count} source(s), "
                        f"{names[processor]}: {cell['ratio']:.2f}x "
                        f"({cell['ours'] - cell['floor']:.0f} µs over the floor)"
                    )
    worst = max(cell["ratio"] for cell in cells.values())
    worst_ascii = max(cell["ratio_ascii"] for cell in cells.values())
    verdict = "meets" if worst <= TARGET_RATIO else "MISSES"
    own_small = [
        cell["ours"] - cell["unmatched"]
        for (size, _, _), cell in cells.items()
        if size == min(STEP_SIZES)
    ]
    own_large = [
        cell["ours"] - cell["unmatched"]
        for (size, _, _), cell in cells.items()
        if size == max(STEP_SIZES)
    ]
    bare = [cell["bare"] for cell in cells.values()]
    lines = [
        "### The model-call step",
        "",
        "Per step: `record_prompt` of a fresh prompt (every message starts with the step",
        "number; messages of 2,000 characters, the first one quoting registered source 0),",
        "then one `@audited_tool` call, inside `context(agent, user, session)` +",
        "`credential(...)`; sources are 320-character emails registered with",
        "`record_source`. Floor: the same work with C-speed primitives - canonical JSON by",
        "the C `json` encoder (`sort_keys`, compact separators, `ensure_ascii=False`),",
        "SHA-256, one `source in prompt` test per registered source over that JSON, and two",
        "plain OTel spans with the same attributes as ours (the tool's arguments JSON and",
        "hash computed per call, by the same encoder and SHA-256). Each variant through the same",
        "TracerProvider and span processor (null exporter): the app's own SDK",
        "BatchSpanProcessor (defaults), or agentaudit's AuditSpanProcessor. CPU µs per step",
        "of the whole process (span processor thread included: every batch of steps ends",
        f"with `force_flush` inside its timing), median of {STEP_ROUNDS} interleaved rounds",
        f"per process, median over {STEP_PROCESSES} fresh processes per prompt size.",
        "Ratio: agentaudit's added cost over the bare step (building the prompt, calling",
        "the undecorated tool: "
        f"{min(bare):.1f}-{max(bare):.1f} µs) divided by the floor's, median of the "
        "per-process ratios.",
        "",
        "| prompt (JSON) | sources | floor µs | agentaudit µs | ratio | ratio, ASCII floor "
        "| floor µs | agentaudit µs | ratio | ratio, ASCII floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| | | *app's* | *BatchSpanProcessor* | | | *agentaudit* | *AuditSpanProcessor* | | |",
        *rows,
        "",
        "ASCII floor: the same floor with the C encoder's ASCII mode where it writes the",
        "same text (no `\\u` escape in its output; 2-2.5x faster on long strings), as",
        "agentaudit encodes a prompt whose strings are all ASCII (this workload's are):",
        "a stricter floor than the issue's `ensure_ascii=False` one "
        f"(worst ratio to it {worst_ascii:.2f}x).",
        "",
        f"Worst ratio to the floor: **{worst:.2f}x** (target <= {TARGET_RATIO}x: {verdict}).",
        *(["Over the target: " + "; ".join(over) + "."] if over else []),
        "agentaudit minus the floor without its substring tests (the same floor with the",
        "found sources known in advance), per step: "
        f"{min(own_small):+.0f} to {max(own_small):+.0f} µs at 2 KB, where it is the Python",
        "work the floor does not do (context and credential lookups, the walk over the",
        "prompt's strings that finds its parts and checks that the C encoder's output is",
        "RFC 8785, matching, the prompt record, the tool call's bookkeeping); "
        f"{min(own_large):+.0f} to {max(own_large):+.0f} µs",
        "at 200 KB, where the encoder's ASCII mode saves more than that work costs. The",
        "floor's substring tests grow as prompt × sources, agentaudit's matching as the",
        "prompt alone (see *Source matching alone*), so with many sources agentaudit costs",
        "less than its floor.",
        "",
    ]
    return lines, cells


def _run_peer(python: Path, peer: str, size: int) -> dict[str, Any]:
    args = [peer, str(size), "--count", str(PEER_SOURCES), "--rounds", str(PEER_ROUNDS)]
    done = subprocess.run(
        [str(python), "-m", "bench._instrumentation.peers", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=1200,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _peers_section(cells: dict[tuple[int, int, str], dict[str, float]]) -> list[str]:
    """agentaudit, OpenInference and OpenLLMetry on one LangChain step, in their own env."""
    from bench._instrumentation import peerenv
    from bench._instrumentation.peers import PEERS

    python = peerenv.ensure()
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    versions: dict[str, str] = {}
    for _ in range(PEER_PROCESSES):
        for size in STEP_SIZES:
            for peer in PEERS:
                answer = _run_peer(python, peer, size)
                versions = answer["versions"]
                runs.setdefault((peer, size), []).append(answer["point"])
    med = {
        key: {
            name: statistics.median(p[name] for p in points)
            for name in ("bare", "instrumented", "added", "spans_per_step")
        }
        for key, points in runs.items()
    }
    rows = []
    worst = 0.0
    for size in STEP_SIZES:
        ours = med["agentaudit", size]["added"]
        oi = med["openinference", size]["added"]
        ol = med["openllmetry", size]["added"]
        worst = max(worst, ours / oi)
        bare = statistics.median(med[peer, size]["bare"] for peer in PEERS)
        rows.append(
            f"| {size // 1000} KB | {bare:.0f} | {ours:.0f} | {oi:.0f} | {ol:.0f} "
            f"| **{ours / oi:.2f}x** | {ours / ol:.2f}x |"
        )
    verdict = "below" if worst < 1 else "NOT below"
    pinned = ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
    return [
        "### The same step in LangChain: agentaudit, OpenInference, OpenLLMetry",
        "",
        "One LangChain step: build the conversation as LangChain messages (the workload",
        "above), `invoke` a chat model (`GenericFakeChatModel`, answering with one tool",
        "call) and `invoke` the `@tool` with that call. Added cost = CPU µs per step",
        "instrumented minus bare, in the same process, interleaved round by round",
        "(instrumentation turned on and off between batches; each batch ends with",
        "`force_flush`), app's TracerProvider + SDK BatchSpanProcessor, null exporter.",
        "agentaudit: `instrument(integrations=('langchain',))` with "
        f"{PEER_SOURCES} registered sources",
        "(a `chat` span with prompt hash and sources found, an `execute_tool` span, the",
        "tool result registered as a source); OpenInference and OpenLLMetry with their",
        "defaults (both record message content). Installed from the package index in the",
        "bench's own environment (`.bench/peers`, pins from the `peers` extra): "
        f"{pinned}. Medians over {PEER_PROCESSES} fresh processes per cell",
        f"({PEER_ROUNDS} rounds each).",
        "",
        "| prompt text | LangChain bare µs | agentaudit added µs | OpenInference added µs "
        "| OpenLLMetry added µs | agentaudit / OpenInference | agentaudit / OpenLLMetry |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"agentaudit's added cost is {verdict} OpenInference's at every prompt size "
        f"(worst {worst:.2f}x).",
        "Unlike both peers, agentaudit canonicalises and hashes the whole model input (the",
        "prompt hash the tool calls join on) and matches the registered sources in it:",
        f"work that grows with the prompt (at {max(STEP_SIZES) // 1000} KB the floor",
        "step above, C primitives and two spans, costs "
        f"{cells[max(STEP_SIZES), PEER_SOURCES, 'batch']['floor_ascii']:.0f} µs with its "
        "ASCII-mode encoder).",
        "",
    ]


def _matching_section() -> list[str]:
    """Source matching alone, in a fresh process (bench/_instrumentation/matching.py)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench._instrumentation.matching"],
        capture_output=True,
        text=True,
        check=True,
        timeout=1200,
        cwd=Path(__file__).resolve().parent.parent,
    )
    points = json.loads(done.stdout.strip().splitlines()[-1])["points"]
    counts = sorted({point["count"] for point in points})
    sizes = sorted({point["size"] for point in points})
    by = {(point["size"], point["count"]): point for point in points}
    header = " | ".join(f"{count} source{'s' if count > 1 else ''}" for count in counts)
    rows = []
    for size in sizes:
        cells = " | ".join(
            f"{by[size, count]['agentaudit']:.1f} / {by[size, count]['direct']:.1f}"
            for count in counts
        )
        rows.append(f"| {size // 1000} KB | {cells} |")
    return [
        "### Source matching alone",
        "",
        "`SourceRegistry.match` over the parts of a fresh prompt (the model-call step's",
        "workload), CPU µs per prompt, median of interleaved rounds in one fresh process:",
        "agentaudit's matcher / the same registry forced to one C substring scan per",
        "needle (the algorithm before issue 15, prompt × sources; its per-part cache never",
        "hits on a fresh prompt).",
        "",
        f"| prompt text | {header} |",
        "|---:|" + "---:|" * len(counts),
        *rows,
        "",
    ]


def run() -> str:
    load_before = os.getloadavg()[0]
    step_lines, cells = _step_section()
    step = [*step_lines, *_peers_section(cells), *_matching_section()]
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
        "## instrumentation: the model-call step, the tool call, bursts",
        "",
        "`python -m bench instrumentation` (one process of the step alone:",
        "`python -m bench._instrumentation.step 2000 --counts 1,10,100 --rounds 12`).",
        "",
        *step,
        "### The tool call alone",
        "",
        "A no-op tool with two string arguments, called in",
        "a tight loop inside `context(agent, user, session)` + `credential(...)`, after a",
        "2 KB prompt with one registered source was recorded (the span carries "
        f"{results[0]['attributes']} attributes).",
        "Floor: a plain OTel span with as many attributes of the same types, through the",
        "same span processor (AuditSpanProcessor, null exporter). Median CPU µs/call over "
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
        "",
        f"Load average (1 min) at the start and the end of this run: {load_before:.1f}, "
        f"{os.getloadavg()[0]:.1f} (the machine is shared: absolute µs vary with it, the "
        "interleaved ratios much less).",
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
