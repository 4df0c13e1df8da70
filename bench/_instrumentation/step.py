"""One fresh process: the model-call step against its floor, interleaved round by round.

A **step** is what an agent pays per model call: ``record_prompt`` of a fresh prompt
(canonical JSON, hash, source matching, a ``chat`` span) and then one ``@audited_tool``
call, inside ``context(agent, user, session)`` + ``credential(...)``. Variants, each
building the same fresh prompt first:

* **bare** - build the prompt, call the undecorated tool;
* **floor** - the same work with C-speed primitives: canonical JSON by the C ``json``
  encoder (built once, as ``json.dumps`` would build it per call), SHA-256, one substring
  test per registered source over that JSON, and two plain OTel spans carrying the same
  attributes as ours (taken from our spans; the tool's arguments JSON and hash computed
  per call, by the same C encoder and SHA-256);
* **floor_ascii** - the floor with the C encoder's ASCII mode where its output is the
  same text (no ``\\u`` escape in it): a stricter floor, since agentaudit encodes an
  ASCII-only prompt that way;
* **unmatched** - the floor without the substring tests (the found sources' attributes
  are known in advance): what the step costs at C speed when matching is free;
* **ours** - ``agentaudit.record_prompt(prompt)`` then the ``@audited_tool`` call.

Cost is CPU time of the whole process (``time.process_time_ns``), so work a span
processor does on its own thread counts too: each batch of steps ends with
``force_flush`` inside the timed region, so every variant pays for exporting its own
spans (and never for another's).

For one prompt size, every (source count, span processor) point and every variant run in
turns, with the order rotated each round. Prints one JSON line: per point, the median
µs/step of each variant over the rounds.

    python -m bench._instrumentation.step 2000 --counts 1,10,100 --rounds 12
"""

from __future__ import annotations

import argparse
import hashlib
import json
import json.encoder
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import agentaudit
from agentaudit.instrumentation import AuditSpanProcessor
from agentaudit.schema import attributes as A
from bench._instrumentation.workload import Workload

__all__ = ["PROCESSORS", "VARIANTS", "measure"]

VARIANTS = ("bare", "floor", "floor_ascii", "unmatched", "ours")
PROCESSORS = ("batch", "audit")
"""The app's own SDK BatchSpanProcessor, and agentaudit's AuditSpanProcessor."""
BATCH_SECONDS = 0.04
"""Wall time of one variant's batch of steps in one round (calibrated per point)."""
MAX_STEPS = 900
"""Steps per batch at most: their 1,800 spans fit the BatchSpanProcessor's 2,048-span
queue, so no variant has spans dropped (a dropped span is work not done)."""
_PER_STEP = (
    A.PROMPT_HASH,
    A.SOURCE_REFS,
    A.SOURCE_KINDS,
    A.SOURCE_TRUST,
    A.SOURCE_HASHES,
    A.GEN_AI_TOOL_CALL_ARGUMENTS,
    A.ARGUMENTS_HASH,
)
"""Attributes the floor computes per step (the arguments' JSON and hash too: a tool's
arguments change from call to call); the others are the same every step (the result
of the no-op tool is None, whose hash agentaudit also computes once)."""


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _provider(kind: str) -> TracerProvider:
    provider = TracerProvider()
    exporter = NullExporter()
    provider.add_span_processor(
        BatchSpanProcessor(exporter) if kind == "batch" else AuditSpanProcessor(exporter)
    )
    return provider


def _notify(to: str, subject: str) -> None:
    return None


def _c_encoder(*, ascii_only: bool = False) -> Callable[[Any], str]:
    """What ``json.dumps(value, ensure_ascii=ascii_only, sort_keys=True,
    separators=(",", ":"))`` runs, without building the C encoder per call."""
    strings = json.encoder.encode_basestring_ascii if ascii_only else json.encoder.encode_basestring
    encoder = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, None, strings, None, ":", ",", True, False, False
    )
    return lambda value: "".join(encoder(value, 0))


_audited = agentaudit.audited_tool(name="notify")(_notify)


@dataclass
class _Registered:
    """One session with ``count`` registered sources, as the floor sees them."""

    workload: Workload
    session: str
    escaped: list[str]
    """Each source as it appears inside JSON text (the floor's needles)."""
    linkage: list[tuple[str, str, str, str]]
    """Per source: ref, kind, trust, hash."""


def _register(workload: Workload, session: str) -> _Registered:
    escaped: list[str] = []
    linkage: list[tuple[str, str, str, str]] = []
    with agentaudit.context(agent="mail-agent", user="alice", session=session):
        for index, text in enumerate(workload.sources):
            source = agentaudit.record_source(text, kind="email", ref=f"email:msg-{index}")
            escaped.append(json.dumps(text, ensure_ascii=False)[1:-1])
            linkage.append((source.ref, source.kind, source.trust, source.hash))
    return _Registered(workload, session, escaped, linkage)


def _scope(session: str) -> tuple[Any, Any]:
    return (
        agentaudit.context(agent="mail-agent", user="alice", session=session),
        agentaudit.credential(id="cred-42", scopes=["mail.send"], expires_at=1_900_000_000),
    )


def _span_shapes(registered: _Registered) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The attributes of our chat and tool spans (minus the per-step ones) and the
    chat span's name, from one probe step."""
    exporter = InMemorySpanExporter()
    probe = TracerProvider()
    probe.add_span_processor(SimpleSpanProcessor(exporter))
    agentaudit.instrument(tracer_provider=probe, integrations=())
    context, credential = _scope(registered.session)
    with context, credential:
        agentaudit.record_prompt(registered.workload.prompt(-1), model="gpt-test")
        _audited("bob@example.com", "hello")
    chat, tool = exporter.get_finished_spans()
    assert chat.attributes is not None
    assert tool.attributes is not None
    assert tool.attributes[A.SOURCE_REFS] == ("email:msg-0",), "source 0 must be found"

    def static(span: ReadableSpan) -> dict[str, Any]:
        return {k: v for k, v in (span.attributes or {}).items() if k not in _PER_STEP}

    return static(chat), static(tool), chat.name


def _variants(
    registered: _Registered, provider: TracerProvider
) -> dict[str, Callable[[int], None]]:
    chat_static, tool_static, chat_name = _span_shapes(registered)
    tracer = provider.get_tracer("floor")
    workload = registered.workload
    escaped = registered.escaped
    linkage = registered.linkage
    encode = _c_encoder()
    encode_ascii = _c_encoder(ascii_only=True)

    def bare(step: int) -> None:
        workload.prompt(step)
        _notify("bob@example.com", "hello")

    def spans(found: list[tuple[str, str, str, str]], prompt_hash: str) -> None:
        linked: dict[str, Any] = {A.PROMPT_HASH: prompt_hash}
        if found:
            refs, kinds, trust, hashes = zip(*found, strict=True)
            linked.update(
                {
                    A.SOURCE_REFS: refs,
                    A.SOURCE_KINDS: kinds,
                    A.SOURCE_TRUST: trust,
                    A.SOURCE_HASHES: hashes,
                }
            )
        chat = tracer.start_span(
            chat_name, kind=SpanKind.CLIENT, attributes={**chat_static, **linked}
        )
        chat.end()
        arguments = {"to": "bob@example.com", "subject": "hello"}
        text = encode(arguments)
        linked[A.GEN_AI_TOOL_CALL_ARGUMENTS] = text
        linked[A.ARGUMENTS_HASH] = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        with tracer.start_as_current_span(
            "execute_tool notify", attributes={**tool_static, **linked}
        ):
            _notify(**arguments)

    def floor(step: int) -> None:
        text = encode(workload.prompt(step))
        prompt_hash = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        spans([linkage[i] for i, needle in enumerate(escaped) if needle in text], prompt_hash)

    def floor_ascii(step: int) -> None:
        """The floor with the C encoder's ASCII mode where it writes the same text (no
        ``\\u`` escape in its output), as agentaudit does for an ASCII-only prompt."""
        prompt = workload.prompt(step)
        text = encode_ascii(prompt)
        if "\\u" in text:
            text = encode(prompt)
        prompt_hash = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        spans([linkage[i] for i, needle in enumerate(escaped) if needle in text], prompt_hash)

    def unmatched(step: int) -> None:
        text = encode(workload.prompt(step))
        spans(linkage[:1], "sha256:" + hashlib.sha256(text.encode()).hexdigest())

    def ours(step: int) -> None:
        agentaudit.record_prompt(workload.prompt(step), model="gpt-test")
        _audited("bob@example.com", "hello")

    return {
        "bare": bare,
        "floor": floor,
        "floor_ascii": floor_ascii,
        "unmatched": unmatched,
        "ours": ours,
    }


@dataclass
class _Point:
    count: int
    processor: str
    registered: _Registered
    provider: TracerProvider
    variants: dict[str, Callable[[int], None]]
    steps: int = 1
    samples: dict[str, list[float]] | None = None

    def run(self, name: str, first_step: int) -> float:
        """µs per step of one batch of ``name``."""
        agentaudit.instrument(tracer_provider=self.provider, integrations=())
        func = self.variants[name]
        context, credential = _scope(self.registered.session)
        with context, credential:
            started = time.process_time_ns()
            for step in range(first_step, first_step + self.steps):
                func(step)
            self.provider.force_flush()
            elapsed = time.process_time_ns() - started
        return elapsed / self.steps / 1000


def measure(size: int, counts: Sequence[int], rounds: int) -> list[dict[str, Any]]:
    points: list[_Point] = []
    for count in counts:
        registered = _register(Workload(size, count), f"sess-{count}")
        for kind in PROCESSORS:
            provider = _provider(kind)
            points.append(_Point(count, kind, registered, provider, {}))
    for point in points:  # after every session is registered: the same registry for all
        point.variants = _variants(point.registered, point.provider)
    step = 0
    for point in points:  # warm up, then size each batch to about BATCH_SECONDS
        for name in point.variants:
            point.run(name, step)
            step += 1
        took = max(point.run("ours", step) for _ in range(3))
        point.steps = max(3, min(MAX_STEPS, int(BATCH_SECONDS * 1e6 / took)))
        point.samples = {name: [] for name in point.variants}
    names = tuple(VARIANTS)
    for round_number in range(rounds):
        shift = round_number % len(names)
        order = points[round_number % len(points) :] + points[: round_number % len(points)]
        for point in order:
            assert point.samples is not None
            for name in names[shift:] + names[:shift]:
                point.samples[name].append(point.run(name, step))
                step += point.steps
    for point in points:
        point.provider.shutdown()
    return [
        {
            "size": size,
            "count": point.count,
            "processor": point.processor,
            "steps": point.steps,
            "prompt_bytes": len(_c_encoder()(point.registered.workload.prompt(0)).encode()),
            **{name: statistics.median(values) for name, values in (point.samples or {}).items()},
        }
        for point in points
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", type=int)
    parser.add_argument("--counts", default="1,10,100")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    print(json.dumps({"points": measure(args.size, counts, args.rounds)}))


if __name__ == "__main__":
    main()
