"""Store write rate over ClickHouse's HTTP interface, and bytes on disk per row (sizing).

Writes the same pre-built Arrow batches (``bench_dashboards``' synthetic rows:
``tool_calls`` plus one ``chat`` span in ``otel_traces`` per four calls) through
``Store.insert_arrow`` with a deduplication token per batch, as the collector's writer
does, into:

* the embedded store (chdb, in this process);
* a server over HTTP: the real clickhouse-connect HTTP client against the chDB HTTP
  endpoint of ``tests/server`` (the same engine behind ClickHouse's HTTP protocol, in a
  process of its own; **not** a ClickHouse server: its HTTP layer is Python), with the
  single-server schema and with the cluster schema of ``agentaudit migrate --cluster``
  (a one-node cluster: the insert goes through the Distributed table).

Then reads ``system.parts`` of the embedded store: compressed and uncompressed bytes per
row of each table, the input of docs/server.md's sizing arithmetic.

    python -m bench server
    AGENTAUDIT_BENCH_SERVER_ROWS=100000 python -m bench server   # quicker
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa

from agentaudit.config import embedded_dsn
from agentaudit.config.dsn import parse_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import (
    apply_cluster_migrations,
    apply_migrations,
    create_databases,
)
from bench.bench_dashboards import _chat_spans, _tool_calls

ROWS = int(os.environ.get("AGENTAUDIT_BENCH_SERVER_ROWS", "400000"))
BATCH = 20_000  # the writer's default batch_rows
RUNS = 3
CLUSTER = "bench"
ROOT = Path(__file__).resolve().parent.parent


def _batches(rows: int) -> list[tuple[pa.Table, pa.Table]]:
    rng = np.random.default_rng(7)
    now_ns = time.time_ns()
    return [
        (
            _tool_calls(start, min(BATCH, rows - start), now_ns, rng),
            _chat_spans(start // 4, min(BATCH, rows - start) // 4, now_ns, rng),
        )
        for start in range(0, rows, BATCH)
    ]


def _write(store: Store, batches: list[tuple[pa.Table, pa.Table]], run: int) -> float:
    """Seconds to insert every batch (tokens unique per run, so nothing is deduplicated)."""
    t0 = time.perf_counter()
    for index, (calls, chats) in enumerate(batches):
        token = f"bench-{run}-{index}"
        store.insert_arrow("agentaudit.tool_calls", calls, dedup_token=f"{token}-calls")
        store.insert_arrow("agentaudit.otel_traces", chats, dedup_token=f"{token}-chats")
    return time.perf_counter() - t0


@contextmanager
def _endpoint(data: Path, *args: str) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.server.chdb_http_endpoint", "--data", str(data), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the chDB HTTP endpoint did not start")
        yield f"{json.loads(line)['url']}/agentaudit"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _median_rate(store: Store, batches: list[tuple[pa.Table, pa.Table]], rows: int) -> float:
    times = sorted(_write(store, batches, run) for run in range(RUNS))
    stored = int(store.query("SELECT count() FROM agentaudit.tool_calls").rows[0][0])
    if stored != RUNS * rows:  # every run's rows landed, synchronously, once
        raise RuntimeError(f"{stored} rows stored, {RUNS * rows} written")
    return rows / times[len(times) // 2]


def _parts(store: Store) -> dict[str, tuple[int, int, int]]:
    rows = store.query(
        "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes) "
        "FROM system.parts WHERE database = 'agentaudit' AND active "
        "AND table IN ('tool_calls', 'otel_traces') GROUP BY table"
    ).rows
    return {str(t): (int(r), int(d), int(u)) for t, r, d, u in rows}


def run() -> str:
    load = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="agentaudit-bench-server-"))
    try:
        batches = _batches(ROWS)
        chats = sum(len(c) for _, c in batches)
        rates: dict[str, float] = {}
        with Store.open(embedded_dsn(folder / "store")) as store:
            apply_migrations(store)
            rates["embedded (chdb, in process)"] = _median_rate(store, batches, ROWS)
            store.command("OPTIMIZE TABLE agentaudit.tool_calls FINAL")
            store.command("OPTIMIZE TABLE agentaudit.otel_traces FINAL")
            parts = _parts(store)
        with _endpoint(folder / "server") as dsn:
            create_databases(parse_dsn(dsn))
            with Store.open(dsn) as store:
                apply_migrations(store)
                rates["server over HTTP (chDB HTTP endpoint)"] = _median_rate(store, batches, ROWS)
        with _endpoint(folder / "cluster", "--cluster", CLUSTER) as dsn:
            create_databases(parse_dsn(dsn), CLUSTER)
            with Store.open(dsn) as store:
                apply_cluster_migrations(store, CLUSTER)
            with Store.open(dsn) as store:  # reopened: the layout is now the cluster's
                rates["cluster schema over HTTP (Distributed, one node)"] = _median_rate(
                    store, batches, ROWS
                )
        return _report(rates, parts, chats, load)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _report(
    rates: dict[str, float], parts: dict[str, tuple[int, int, int]], chats: int, load: float
) -> str:
    lines = [
        "## Server mode: write rate over HTTP, bytes per row (`bench/bench_server.py`)",
        "",
        f"`python -m bench server`: {ROWS:,} `tool_calls` rows and {chats:,} `otel_traces` "
        f"chat spans in {BATCH:,}-row batches, each insert with its deduplication token, "
        f"median of {RUNS} runs. The HTTP rows use the real clickhouse-connect HTTP client "
        "against the chDB HTTP endpoint of `tests/server` (ClickHouse's engine behind a "
        "Python HTTP layer, not a ClickHouse server); they bound the client side of "
        "server mode (Arrow serialisation, HTTP, one synchronous insert per batch). "
        f"Load average when the run started: {load:.2f}.",
        "",
        "| store | tool_calls rows/s (with their chat spans) |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {rate:,.0f} |" for name, rate in rates.items()]
    lines += [
        "",
        "Bytes per row on disk (embedded store after `OPTIMIZE … FINAL`; synthetic rows, "
        "~110-byte arguments, so real rows with larger arguments cost more):",
        "",
        "| table | rows | bytes on disk / row | uncompressed bytes / row |",
        "|---|---:|---:|---:|",
    ]
    for table, (rows, disk, raw) in sorted(parts.items()):
        lines.append(f"| {table} | {rows:,} | {disk / rows:,.0f} | {raw / rows:,.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
