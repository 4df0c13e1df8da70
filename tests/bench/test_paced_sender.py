"""The open-loop pacing of the ingest bench's latency run (bench/_ingest/clients.py).

Both senders (the SDK's exporters and replayed requests) go through ``_paced``; what the
latency table means rests on it: every batch sent once, on its lane, not before its due
time, each export timed, failures counted.
"""

from __future__ import annotations

import threading
import time

from bench._ingest import clients


def test_every_batch_goes_once_on_its_lane_at_or_after_its_due_time() -> None:
    sent: list[tuple[int, int, float]] = []
    lock = threading.Lock()

    def export(lane: int, i: int) -> bool:
        with lock:
            sent.append((lane, i, time.perf_counter()))
        return i != 5  # one refused export

    rate, size, batches = 2_000.0, 20, 30  # a batch every 10 ms
    started = time.perf_counter()
    latencies, failures = clients._paced(batches, rate, size, export)
    assert sorted(i for _, i, _ in sent) == list(range(batches))
    assert all(lane == i % clients.LATENCY_LANES for lane, i, _ in sent)
    assert all(at >= started + i * 0.010 - 0.001 for _, i, at in sent)
    assert len(latencies) == batches
    assert failures == 1


def test_a_slow_export_does_not_hold_back_the_other_lanes() -> None:
    """Open loop: batch 0 takes 200 ms, batches 1-3 (other lanes) still leave on time."""
    left: dict[int, float] = {}

    def export(lane: int, i: int) -> bool:
        left[i] = time.perf_counter()
        if i == 0:
            time.sleep(0.2)
        return True

    started = time.perf_counter()
    latencies, failures = clients._paced(4, 1_000.0, 10, export)  # a batch every 10 ms
    assert failures == 0
    assert max(latencies) >= 0.2
    assert all(left[i] - started < 0.15 for i in (1, 2, 3))
