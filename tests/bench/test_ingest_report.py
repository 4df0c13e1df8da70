"""The ingest bench's per-process CPU accounting and the capacity budget it reports
(bench/_ingest/procfs.py, bench/bench_ingest.py). No benchmark runs here: the numbers
fed to the report are written by hand, and the processes counted are real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench import bench_ingest
from bench._ingest.procfs import children_cpu_seconds


def test_children_are_counted_by_the_module_they_run() -> None:
    busy = subprocess.Popen([sys.executable, "-m", "timeit", "-r", "1", "-n", "1000000000", "pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        deadline = time.monotonic() + 10
        found: dict[str, float] = {}
        while time.monotonic() < deadline:
            found = children_cpu_seconds(os.getpid())
            if found.get("timeit", 0.0) >= 0.3:
                break
            time.sleep(0.05)
        assert found["timeit"] >= 0.3
        assert found[sys.executable] < 0.3  # no -m: named by its program
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()


def _runs(**values: float) -> list[dict[str, float]]:
    return [dict(values) for _ in range(3)]


def test_the_store_owning_process_share_of_the_cores() -> None:
    e2e = {
        ("replay", 1, "off"): _runs(store_us=160.0, receivers_us=0.0, rate=8_000.0),
        ("replay", 2, "off"): _runs(store_us=80.0, receivers_us=60.0, rate=11_500.0),
        ("replay", 2, "on"): _runs(store_us=999.0, receivers_us=999.0, rate=1.0),
        ("sdk", 2, "off"): _runs(store_us=999.0, receivers_us=999.0, rate=1.0),
    }
    rows = [line for line in bench_ingest._per_process(e2e, 2) if line.startswith("| ")]
    assert rows[1:] == ["| 1 | 160 | 0 | 1.28 of 2 |", "| 2 | 80 | 60 | 0.92 of 2 |"]


def test_the_capacity_budget_subtracts_the_senders_and_the_floor() -> None:
    e2e = {("replay", 2, "off"): _runs(clients_us=3.0, collector_us=154.0)}
    (text,) = bench_ingest._capacity_budget(e2e, budget=40.0, floor_us=20.0)
    assert "leaves 37 µs of collector CPU per span" in text
    assert "alone takes 20 µs of it, which leaves 17 µs" in text
    assert "they take 134 µs now" in text


def _latency(p99s: list[float]) -> list[dict[str, float]]:
    return [{"achieved": 5_000.0, "p50": 5.0, "p99": p99, "cpu": 1.5} for p99 in p99s]


def test_the_latency_verdict_is_the_collectors_own_p99_with_the_default_workers() -> None:
    """Replayed requests with 2 receiving processes (the default on 2 cores) decide; the
    SDK rows (the client's encoding included) and the 1-process rows are shown only."""
    latency = {
        ("sdk", 1): _latency([90.0, 95.0, 99.0]),
        ("sdk", 2): _latency([70.0, 75.0, 80.0]),
        ("replay", 1): _latency([70.0, 72.0, 71.0]),
        ("replay", 2): _latency([21.0, 48.0, 60.0]),
    }
    lines = bench_ingest._latency_table(latency, cores=2)
    assert "| replayed | 2 | 5,000 | 5.0 | 48.0 | 21.0, 48.0, 60.0 | 0.10 |" in lines
    assert lines[-1].endswith("(2, `workers = auto`): 48.0 ms (target ≤ 50 ms: meets).")
    latency[("replay", 2)] = _latency([51.0, 52.0, 20.0])
    assert bench_ingest._latency_table(latency, cores=2)[-1].endswith(
        "51.0 ms (target ≤ 50 ms: misses)."
    )
