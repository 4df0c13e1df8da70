"""Garbage-collector settings for a long-running collector process.

Ingest allocates many small containers (attribute dicts, value lists) that live until
their batch is written; with CPython's default thresholds the cyclic collector runs
full collections over all of them several times per batch, which cost more than half
the writer's time in profiles. Spans hold no reference cycles, so collecting less
often loses nothing: memory is still freed by reference counting as batches finish.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

GC_THRESHOLDS = (50_000, 20, 10)
"""Generation-0 allocations before a collection, then the usual generation ratios."""


def tune_gc() -> None:
    """Move start-up objects out of the collector's way and collect less often.

    Call once per process, after imports and start-up (a serving process, not tests).
    """
    gc.collect()
    gc.freeze()  # modules, schemas, compiled rules: never garbage, never scanned again
    gc.set_threshold(*GC_THRESHOLDS)
