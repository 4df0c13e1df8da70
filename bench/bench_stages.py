"""Collector CPU by stage: where the CPU per span goes inside the collector's processes.

``bench ingest`` measures each process whole, end to end; this runs every stage of the
ingest path alone, in order, in one process, on the same spans: the ingest workload's
tool-call spans (3 clients' worth) in requests of 512 spans as the SDK's encoder built
them. The receiving stages run where the receivers run (a receiving process, or the
collector's own with ``workers = 1``); the storing stages in the store-owning process.
CPU time of the whole process (``time.process_time``: ClickHouse's threads included)
per span; medians of :data:`ROUNDS` rounds, each on freshly decoded spans and a fresh
embedded store. Not included: the gRPC server, the WAL's fsync and file writes, the
writer's threads handing batches over (``bench ingest`` has them all).

The audit chain and the sealer hash every stored row (SHA-256 of ClickHouse's
``toJSONString`` of the row, docs/evidence.md); (h′) measures the same digest over
ClickHouse's binary row form (``formatRowNoNewline('RowBinary', …)``), a format the
evidence does not use: what a binary row form would save, measured for issue 15.

    python -m bench stages
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench._ingest.workload import EXPORT_BATCH, encoded_requests, make_spans

CLIENTS = 3
SPANS_PER_CLIENT = 20_000
SPANS = CLIENTS * SPANS_PER_CLIENT
BATCH = 6_000
"""Spans per writer batch: about what 0.5 s (``batch_seconds``) holds at 12,000 spans/s."""
ROUNDS = 3
REDACTION_KEY = "bench-key-0123456789abcdef"


def _cpu(action: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.process_time()
    result = action()
    return time.process_time() - started, result


def _requests() -> list[bytes]:
    return [
        request
        for seed in range(CLIENTS)
        for request in encoded_requests(make_spans(SPANS_PER_CLIENT, seed), EXPORT_BATCH)
    ]


Stage = Callable[[str, Callable[[], Any]], Any]
"""Runs an action and adds its CPU seconds to the named stage; returns its result."""


def _round(requests: list[bytes]) -> dict[str, float]:
    """CPU seconds of each stage over all spans, in pipeline order."""
    spent: dict[str, float] = {}

    def stage(name: str, action: Callable[[], Any]) -> Any:
        seconds, result = _cpu(action)
        spent[name] = spent.get(name, 0.0) + seconds
        return result

    _store(_receive(requests, stage), stage)
    return spent


def _receive(requests: list[bytes], stage: Stage) -> list[Any]:
    """What a receiving process does; the spans as the writer reads them from the WAL."""
    from agentaudit.collector.ingest.budget import MemoryBudget
    from agentaudit.collector.ingest.payload import decode_export
    from agentaudit.collector.ingest.pipeline import validate
    from agentaudit.collector.ingest.redaction import Redactor
    from agentaudit.collector.wal.codec import decode_spans, encode_spans

    budget = MemoryBudget(1 << 30)

    def decode(body: bytes) -> Any:
        with budget.lease() as lease:
            return decode_export(body, gzip=False, json_body=False, limit=1 << 26, lease=lease)

    redactor = Redactor.from_config({}, environ={"AGENTAUDIT_REDACTION_KEY": REDACTION_KEY})
    decoded = stage("decode", lambda: [decode(body) for body in requests])
    valid = stage("validate", lambda: [validate(spans)[0] for spans in decoded])

    def redact() -> None:
        for spans in valid:
            redactor.redact(spans)

    stage("redact", redact)
    records = stage("wal_encode", lambda: [encode_spans(spans) for spans in valid])
    read = stage("wal_decode", lambda: [decode_spans(record) for record in records])
    spans = [span for spans in read for span in spans]
    assert len(spans) == SPANS, len(spans)
    return spans


def _store(spans: list[Any], stage: Stage) -> None:
    """What the store-owning process does with the spans, batch by batch; then a seal."""
    from agentaudit.collector.writer.batch import BatchBuilder
    from agentaudit.collector.writer.dedup import stored_keys
    from agentaudit.config import embedded_dsn
    from agentaudit.store import Store
    from agentaudit.store.audit_chain import AuditChain, batch_digests_sql, tool_calls_columns
    from agentaudit.store.evidence.seal import Sealer
    from agentaudit.store.migrations import apply_migrations

    builder = BatchBuilder(dead_letter=lambda spans, reason: None)
    chunks = [spans[i : i + BATCH] for i in range(0, SPANS, BATCH)]
    batches = stage(
        "build", lambda: [builder.build([(time.time_ns(), s) for s in c]) for c in chunks]
    )
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(embedded_dsn(Path(folder) / "store"))
        try:
            apply_migrations(store)
            chain = AuditChain(store)
            chain_head = ""
            for n, (chunk, batch) in enumerate(zip(chunks, batches, strict=True)):
                stage("dedup", partial(stored_keys, store, chunk))
                insert = partial(store.insert_arrow, dedup_token=f"b{n}")
                stage("insert_traces", partial(insert, "agentaudit.otel_traces", batch.traces))
                stage("insert_calls", partial(insert, "agentaudit.tool_calls", batch.calls))
                append = partial(chain.append, chain_id="bench", seq=n + 1, prev_hash=chain_head)
                chain_head = stage("chain", partial(append, batch_id=batch.batch_id)).chain_hash
            stage("seal", lambda: Sealer(store, "bench").seal(grace_seconds=0))
            where = "WHERE batch_id IN {ids:Array(String)}"
            covered = tool_calls_columns(store)
            as_json = batch_digests_sql(covered, where)
            as_binary = batch_digests_sql((), where).replace(
                "toJSONString(tuple())", f"formatRowNoNewline('RowBinary', {', '.join(covered)})"
            )
            for batch in batches:
                ids = {"ids": [batch.batch_id]}
                stage("chain_digest_json", partial(store.query, as_json, ids))
                stage("chain_digest_binary", partial(store.query, as_binary, ids))
        finally:
            store.close()


STAGES = (
    ("receiving", "decode", "(a) parse, decode (with the memory budget's accounting)"),
    ("receiving", "validate", "(b) validate"),
    ("receiving", "redact", "(c) redact (default packs)"),
    ("receiving", "wal_encode", "(d) encode for the WAL"),
    ("store-owning", "wal_decode", "(e) decode from the WAL"),
    ("store-owning", "build", "(f) build the batch: rows, Arrow tables"),
    ("store-owning", "dedup", "(g) look the spans up in the store (exactly once)"),
    ("store-owning", "insert_traces", "(h) insert `otel_traces`"),
    ("store-owning", "insert_calls", "(i) insert `tool_calls`"),
    ("store-owning", "chain", "(j) audit-chain link: hash the batch's stored rows, insert it"),
    ("store-owning", "seal", "(k) seal: hash every other table's new rows (`otel_traces` here)"),
)  # fmt: skip


def run() -> str:
    from agentaudit.collector.interpreter import tune_process

    tune_process()
    requests = _requests()
    rounds = [_round(requests) for _ in range(ROUNDS)]
    us = {name: statistics.median(r[name] for r in rounds) / SPANS * 1e6 for name in rounds[0]}
    lines = [
        "## Collector CPU by stage",
        "",
        f"{SPANS:,} tool-call spans of the ingest workload ({CLIENTS} clients' worth, "
        f"requests of {EXPORT_BATCH} as the SDK encoded them), each stage of the ingest "
        f"path run alone, in order, in one process; writer batches of {BATCH:,} spans. CPU "
        "time of the whole process (ClickHouse's threads included) per span, medians of "
        f"{ROUNDS} rounds, each on freshly decoded spans and a fresh embedded store. Not "
        "included: the gRPC server, the WAL's fsync and file writes, the hand-overs "
        "between the writer's threads (`python -m bench ingest` measures each process "
        "whole, with them).",
        "",
        "| process | stage | CPU µs per span |",
        "|---|---|---:|",
    ]
    totals: dict[str, float] = {}
    for process, name, label in STAGES:
        totals[process] = totals.get(process, 0.0) + us[name]
        lines.append(f"| {process} | {label} | {us[name]:.1f} |")
    for process, total in totals.items():
        lines.append(f"| {process} | **all of the above** | **{total:.1f}** |")
    inserts = us["insert_traces"] + us["insert_calls"]
    hashing = us["chain"] + us["seal"]
    saved = us["chain_digest_json"] - us["chain_digest_binary"]
    lines += [
        "",
        f"The inserts, (h) + (i), are {inserts:.1f} µs per span (the floor of `bench "
        f"ingest`); the evidence's hashing, (j) + (k), {hashing:.1f} µs. The chain's digest "
        f"query alone: {us['chain_digest_json']:.1f} µs per span over `toJSONString` of "
        f"each row, {us['chain_digest_binary']:.1f} µs over its binary form "
        "(`formatRowNoNewline('RowBinary', …)`, not used): a binary row form would save "
        f"about {saved:.1f} µs per span on the chain, and as much again on the seal, at "
        "the price of a new evidence format (the chain's, the seals', and every record "
        "that names a unit by its digest).",
        "",
        "Command: `python -m bench stages`",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
