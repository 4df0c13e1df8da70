"""One fresh process in the peers' environment: a LangChain model-call step, bare and
instrumented by one instrumentation, interleaved round by round.

The step is what a LangChain agent does per model call: build the conversation (the
model-call step's workload, as LangChain messages), ``invoke`` a chat model on it
(LangChain's ``GenericFakeChatModel``, answering with one tool call) and ``invoke`` the
``@tool`` it asked for with that tool call. The instrumentations, each with its defaults:

* **agentaudit** - ``agentaudit.instrument(integrations=("langchain",))``: a ``chat``
  span with the prompt hash and the registered sources found in it, and one
  ``execute_tool`` span; ``count`` sources are registered before the run;
* **openinference** - ``openinference-instrumentation-langchain``'s
  ``LangChainInstrumentor`` (records message content and tool input/output);
* **openllmetry** - ``opentelemetry-instrumentation-langchain``'s
  ``LangchainInstrumentor`` (Traceloop; records content by default).

Every variant emits to the app's own TracerProvider with the SDK BatchSpanProcessor and a
null exporter. A round times a batch of bare steps and a batch of instrumented steps (in
alternating order), turning the instrumentation on and off between batches outside the
timed region; each batch ends with ``force_flush`` inside it, so the span processor's
thread is charged to the steps that made its spans (CPU time of the whole process). The
run checks that bare batches emit no span and instrumented ones emit the same number per
step. Prints one JSON line.

Runs where ``bench.bench_instrumentation`` put it (``bench._instrumentation.peerenv``):

    .bench/peers/bin/python -m bench._instrumentation.peers openinference 2000 --count 10
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["PEERS", "measure"]

PEERS = ("agentaudit", "openinference", "openllmetry")
BATCH_SECONDS = 0.05
MAX_STEPS = 500
"""Steps per batch at most: their spans fit the BatchSpanProcessor's 2,048-span queue."""


def _toggles(peer: str, provider: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """(instrument, uninstrument) for ``peer``, emitting to ``provider``."""
    if peer == "openinference":
        from openinference.instrumentation.langchain import LangChainInstrumentor

        oi = LangChainInstrumentor()
        return lambda: oi.instrument(tracer_provider=provider), oi.uninstrument
    if peer == "openllmetry":
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        ol = LangchainInstrumentor()

        def off() -> None:
            ol.uninstrument()
            # Its _uninstrument leaves BaseCallbackManager.__init__ wrapped (0.62.4: unwrap
            # by module name misses); undo the wrap so bare batches run bare.
            from langchain_core.callbacks import BaseCallbackManager

            wrapped = getattr(BaseCallbackManager.__init__, "__wrapped__", None)
            if wrapped is not None:
                BaseCallbackManager.__init__ = wrapped  # type: ignore[method-assign]

        return lambda: ol.instrument(tracer_provider=provider), off
    if peer == "agentaudit":
        import agentaudit

        return (
            lambda: agentaudit.instrument(tracer_provider=provider, integrations=("langchain",)),
            agentaudit.uninstrument,
        )
    raise ValueError(f"unknown peer {peer!r}; have {', '.join(PEERS)}")


def _langchain_step(workload: Any) -> Callable[[int], None]:
    """One LangChain step over ``workload``'s prompt number ``n`` (see the docstring)."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
    from langchain_core.tools import tool

    @tool
    def notify(to: str, subject: str) -> str:
        """Send a short notification."""
        return "sent"

    call = {"name": "notify", "args": {"to": "bob@example.com", "subject": "hello"}}
    answer = AIMessage(content="", tool_calls=[{**call, "id": "call_1"}])
    model = GenericFakeChatModel(messages=itertools.repeat(answer))
    kinds: dict[str, Callable[[str], BaseMessage]] = {
        "system": lambda text: SystemMessage(content=text),
        "user": lambda text: HumanMessage(content=text),
        "assistant": lambda text: AIMessage(content=text),
    }

    def step(number: int) -> None:
        messages = [kinds[m["role"]](m["content"]) for m in workload.prompt(number)]
        reply = model.invoke(messages)
        notify.invoke({**reply.tool_calls[0], "type": "tool_call"})

    return step


class _CountingExporter:
    """A null exporter that counts the spans it is given."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def measure(peer: str, size: int, count: int, rounds: int) -> dict[str, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import agentaudit
    from bench._instrumentation.workload import Workload

    exporter = _CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
    instrument, uninstrument = _toggles(peer, provider)
    workload = Workload(size, count)
    step = _langchain_step(workload)

    def batch(steps: int, first: int) -> tuple[float, float]:
        """CPU µs per step, spans per step."""
        before = exporter.spans
        started = time.process_time_ns()
        for number in range(first, first + steps):
            step(number)
        provider.force_flush()
        elapsed = time.process_time_ns() - started
        return elapsed / steps / 1000, (exporter.spans - before) / steps

    samples: dict[str, list[float]] = {"bare": [], "instrumented": []}
    spans: dict[str, set[float]] = {"bare": set(), "instrumented": set()}
    with agentaudit.context(agent="mail-agent", user="alice", session="sess-peers"):
        for index, text in enumerate(workload.sources):
            agentaudit.record_source(text, kind="email", ref=f"email:{index}")
        instrument()
        on = True
        batch(5, 0)  # warm-up
        took, _ = batch(5, 5)  # calibration, instrumented
        steps = max(3, min(MAX_STEPS, int(BATCH_SECONDS * 1e6 / took)))
        number = 10
        for round_number in range(rounds + 1):  # round 0 warms up both
            order = ("bare", "instrumented") if round_number % 2 else ("instrumented", "bare")
            for name in order:
                if (name == "instrumented") != on:  # BaseInstrumentor warns on a repeat
                    on = not on
                    (instrument if on else uninstrument)()
                cost, emitted = batch(steps, number)
                number += steps
                if round_number:
                    samples[name].append(cost)
                    spans[name].add(emitted)
        if on:
            uninstrument()
    provider.shutdown()
    assert spans["bare"] == {0}, f"{peer}: spans while uninstrumented: {spans['bare']}"
    assert len(spans["instrumented"]) == 1, f"{peer}: spans per step vary: {spans}"
    return {
        "peer": peer,
        "size": size,
        "count": count,
        "steps": steps,
        "spans_per_step": spans["instrumented"].pop(),
        "bare": statistics.median(samples["bare"]),
        "instrumented": statistics.median(samples["instrumented"]),
        "added": statistics.median(
            i - b for i, b in zip(samples["instrumented"], samples["bare"], strict=True)
        ),
    }


def versions() -> dict[str, str]:
    """The installed versions of what is compared."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in (
        "langchain-core",
        "opentelemetry-sdk",
        "openinference-instrumentation-langchain",
        "opentelemetry-instrumentation-langchain",
    ):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=PEERS)
    parser.add_argument("size", type=int)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    point = measure(args.peer, args.size, args.count, args.rounds)
    print(json.dumps({"point": point, "versions": versions()}))


if __name__ == "__main__":
    main()
