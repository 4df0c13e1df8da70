"""Source matching alone: µs per fresh prompt, by prompt size and registered sources.

Side by side in one process: the registry as shipped (:mod:`agentaudit.instrumentation.
_matching` picks direct scans or gram passes by cost) and the same registry forced to one
C substring scan per needle (the algorithm before issue 15, whose cost is prompt ×
sources). Each point is the median of ``ROUNDS`` rounds, variants alternating.

    python -m bench._instrumentation.matching
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from agentaudit.instrumentation._canonical import plain_strings
from agentaudit.instrumentation._matching import TIERS, Tier
from agentaudit.instrumentation._prompt import make_source
from agentaudit.instrumentation._sources import SourceRegistry
from bench._instrumentation.workload import Workload

__all__ = ["COUNTS", "SIZES", "measure"]

SIZES = (2_000, 20_000, 200_000)
COUNTS = (1, 10, 100)
ROUNDS = 9
BATCH_SECONDS = 0.02
DIRECT: tuple[Tier, ...] = tuple((gram, stride, 10**9) for gram, stride, _ in TIERS)
"""Tiers whose gram pass never replaces direct scans."""


def _registry(workload: Workload, tiers: tuple[Tier, ...]) -> SourceRegistry:
    registry = SourceRegistry(index_tiers=tiers)
    for index, text in enumerate(workload.sources):
        source = make_source(text, kind="email", ref=f"email:msg-{index}", trust="untrusted")
        registry.add("s", source)
    return registry


def _point(size: int, count: int) -> dict[str, Any]:
    workload = Workload(size, count)
    registries = {"agentaudit": _registry(workload, TIERS), "direct": _registry(workload, DIRECT)}
    prompts = [plain_strings(workload.prompt(step)) for step in range(2)]
    for registry in registries.values():
        found = [source.ref for source in registry.match("s", prompts[0] or [])]
        assert found == ["email:msg-0"], found
    took = time.process_time()
    registries["direct"].match("s", prompts[1] or [])
    steps = max(3, int(BATCH_SECONDS / max(time.process_time() - took, 1e-6)))
    samples: dict[str, list[float]] = {name: [] for name in registries}
    for round_number in range(ROUNDS):
        names = list(registries)[:: 1 if round_number % 2 else -1]
        for name in names:
            registry = registries[name]
            started = time.process_time_ns()
            for step in range(steps):
                registry.match("s", prompts[step % 2] or [])
            samples[name].append((time.process_time_ns() - started) / steps / 1000)
    return {
        "size": size,
        "count": count,
        **{name: statistics.median(values) for name, values in samples.items()},
    }


def measure() -> list[dict[str, Any]]:
    return [_point(size, count) for size in SIZES for count in COUNTS]


if __name__ == "__main__":
    print(json.dumps({"points": measure()}))
