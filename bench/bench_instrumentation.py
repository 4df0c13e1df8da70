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

PROCESSES = 7
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


def run() -> str:
    results = [_run_child() for _ in range(PROCESSES)]
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
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
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
        f"Added cost ratio agentaudit / floor: **{ratio:.2f}x** (target <= {TARGET_RATIO}x: "
        f"{verdict}); per-process ratios {', '.join(f'{x:.2f}' for x in sorted(ratios))}.",
        f"Spans dropped by the export queue in all runs: {dropped}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(run())
