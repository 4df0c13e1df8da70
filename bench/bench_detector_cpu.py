"""Detector CPU per call: the engine, the follower's reads, and what they cost the collector.

Traffic: 20 agents, 6 tools each, sessions of 2-8 calls, ~200-byte JSON arguments whose
shape and realms come extracted (as the follower delivers them: ClickHouse extracts them
from the stored JSON), a resource per call from a pool of 40 per tool, a third of the
calls after untrusted content, one or two scopes. First ten
days of it complete every agent's learning (not timed); then:

(a) the engine: :meth:`Detector.process` over steady-state traffic (baselines frozen,
    no finding), CPU time per call, median of interleaved rounds;
(b) the engine on an attack: every call of a fan-out incident hits (findings grow);
(c) the follower: the audit-chain links and the rows of new batches read from a real
    embedded store into ``Call`` objects; the process's CPU time, ClickHouse's threads
    included; (c′) of that, the rows query alone (ClickHouse and clickhouse-connect's
    conversion to Python values; the rest is building the ``Call`` objects);
(d) a checkpoint: every changed baseline saved as JSON (every 10 s), per agent;
(e) the path a detector beside its collector takes (``agentaudit up``; the detector
    process of :mod:`agentaudit.detector.host`): the collector encodes each stored batch
    (e′), the detector process decodes it into rows (e″), and the engine takes shape and
    realms from the arguments in Python (e‴), each arguments text distinct.

The collector stores tool-call spans at 135-179 µs of CPU per span (``python -m bench
ingest``, "where the cores went"); the detector's share is (e′) + (e″) + (e‴) over that
beside a collector, (a) + (c) for ``agentaudit detect --follow``.

    python -m bench detector_cpu
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agentaudit.detector.engine import Detector
from agentaudit.detector.follower import Follower, StoreSource, calls_sql
from agentaudit.detector.model import Call
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.records import BaselineLog
from agentaudit.detector.rules import RULES

NS = 1_000_000_000
DAY = 86_400 * NS
AGENTS = 20
TOOLS = ("read_ticket", "lookup_customer", "send_email", "update_ticket", "search_kb", "refund")
SETTINGS = DetectorSettings(learning_days=1, window_seconds=60)
"""Learning over a day, windows of a minute: the warm-up then covers the measured traffic."""
SLICE_CALLS = 1_200
WARMUP_SLICES = 26
ROUND_CALLS = 20_000
ROUNDS = 7
STORED_CALLS = 60_000
BATCH = 6_000  # ~0.5 s of batches at 12,000 spans/s
COLLECTOR_US = (135, 179)
"""The collector's CPU per stored span, two and one receiving processes (bench ingest)."""
SCOPES = (("tickets.read", "mail.send"), ("tickets.read",))


class Traffic:
    """An endless, reproducible stream of ordinary calls, in ``ts`` order."""

    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.ts = 1_790_000_000 * NS
        self.n = 0

    def calls(self, count: int, *, spacing_ns: int = 4 * NS) -> list[Call]:
        rng, out = self.rng, []
        while len(out) < count:
            agent = rng.randrange(AGENTS)
            session = f"s{self.n}"
            for _ in range(rng.randint(2, 8)):
                self.n += 1
                self.ts += rng.randint(1, 2 * spacing_ns)
                tool = TOOLS[rng.randrange(len(TOOLS))]
                resource = f"{tool.split('_')[-1]}:{agent}-{rng.randrange(40)}"
                arguments = json.dumps(
                    {"id": self.n, "note": "please " * rng.randint(5, 25), "to": f"c{agent}"}
                )
                untrusted = rng.random() < 0.33
                out.append(
                    Call(
                        ts_ns=self.ts,
                        trace_id=f"{self.n:032x}",
                        span_id=f"{self.n:016x}",
                        agent_id=f"agent-{agent}",
                        tool_name=tool,
                        user_id=f"user-{rng.randrange(50)}",
                        session_id=session,
                        arguments=arguments,
                        arguments_hash=f"sha256:{self.n:064x}",
                        resource_ids=(resource,),
                        source_refs=("ticket:T-1",) if untrusted else ("user:turn",),
                        source_kinds=("ticket",) if untrusted else ("user",),
                        source_trust=("untrusted",) if untrusted else ("user",),
                        untrusted_source=untrusted,
                        credential_id=f"cred-{agent}",
                        credential_scopes=SCOPES[rng.random() < 0.5],
                        received_ns=self.ts + NS,
                        # as the follower delivers them: extracted by ClickHouse
                        argument_shape="id,note,to",
                        argument_realms=(),
                    )
                )
        return out[:count]


def _cpu(action: Any) -> float:
    gc.collect()
    started = time.process_time()
    action()
    return time.process_time() - started


def engine() -> tuple[Detector, Traffic, float, float, int, int]:
    """(detector, traffic, µs/call steady, µs/call attack, findings in steady state,
    baseline JSON bytes of one agent)."""
    traffic = Traffic()
    detector = Detector(SETTINGS)
    for _ in range(WARMUP_SLICES):  # two minutes of traffic every hour for a day and more
        detector.process_all(traffic.calls(SLICE_CALLS, spacing_ns=NS // 10))
        traffic.ts += 3600 * NS - SLICE_CALLS * NS // 10
    assert all(not detector.baseline(a).learning for a in detector.agents)  # type: ignore[union-attr]
    detector.take_findings()
    per_call, found = [], 0
    for _ in range(ROUNDS):
        batch = traffic.calls(ROUND_CALLS, spacing_ns=NS // 10)
        per_call.append(_cpu(lambda b=batch: detector.process_all(b)) / len(batch))
        found += len(detector.take_findings())
    size = len(json.dumps(detector.baseline("agent-0").to_json()))  # type: ignore[union-attr]
    attack = [
        Call(ts_ns=traffic.ts + i * NS // 10, trace_id=f"a{i:031x}", span_id=f"a{i:015x}",
             agent_id="agent-0", tool_name="send_email", session_id="evil",
             arguments='{"to": "x"}', arguments_hash="sha256:attack",
             resource_ids=(f"email:victim-{i}",), source_refs=("ticket:T-5512",),
             source_trust=("untrusted",), untrusted_source=True)
        for i in range(5000)
    ]  # fmt: skip
    hit = _cpu(lambda: detector.process_all(attack)) / len(attack)
    return detector, traffic, statistics.median(per_call), hit, found, size


def follower(traffic: Traffic) -> tuple[float, float, int, list[Any]]:
    """(c) and (c′) per call, a checkpoint's µs per agent, and the batches the writer
    handed over (``on_stored``) for (e)."""
    from agentaudit.collector.model import SpanRecord
    from agentaudit.collector.writer.writer import Writer
    from agentaudit.config import embedded_dsn
    from agentaudit.schema import attributes as A
    from agentaudit.store import Store
    from agentaudit.store.audit_chain import AuditChain
    from agentaudit.store.migrations import apply_migrations

    calls = traffic.calls(STORED_CALLS, spacing_ns=NS // 10)
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(embedded_dsn(Path(folder) / "store"))
        try:
            apply_migrations(store)
            handed: list[Any] = []
            writer = Writer(
                store, batch_rows=BATCH, chain=AuditChain(store), on_stored=handed.append
            )
            for c in calls:  # each received when the call says: the detector's clock
                writer.enqueue([SpanRecord(
                    trace_id=c.trace_id, span_id=c.span_id, name=f"execute_tool {c.tool_name}",
                    start_ns=c.ts_ns, end_ns=c.ts_ns + 1000,
                    attributes={
                        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
                        A.GEN_AI_TOOL_NAME: c.tool_name, A.GEN_AI_AGENT_ID: c.agent_id,
                        A.GEN_AI_TOOL_CALL_ARGUMENTS: c.arguments, A.SESSION_ID: c.session_id,
                        A.ENDUSER_ID: c.user_id, A.RESOURCE_IDS: list(c.resource_ids),
                        A.SOURCE_REFS: list(c.source_refs), A.SOURCE_TRUST: list(c.source_trust),
                        A.SOURCE_KINDS: list(c.source_kinds), A.CREDENTIAL_ID: c.credential_id,
                        A.CREDENTIAL_SCOPES: list(c.credential_scopes),
                        A.ARGUMENTS_HASH: c.arguments_hash,
                    },
                    resource_attributes={A.SERVICE_NAME: "bench"},
                )], received_ns=c.received_ns)  # fmt: skip
            writer.flush()
            whole, query = [], []
            for _ in range(3):
                reader = Follower(StoreSource(store))
                whole.append(_cpu(lambda r=reader: _drain(r)) / len(calls))
                links = store.query("SELECT batch_id FROM agentaudit.audit_chain").rows
                ids = [row[0] for row in links]
                query.append(_cpu(lambda i=ids: store.query(calls_sql(i))) / len(calls))
            save = _checkpoint(store)
        finally:
            store.close()
    return statistics.median(whole), statistics.median(query), save, handed


def handed(batches: list[Any]) -> tuple[float, float, float]:
    """(e): per call, the collector's encoding of each stored batch for its detector
    process (e′), the detector process's decoding into ``CallRow`` objects (e″), and the
    engine on them, shape and realms taken from the arguments in Python (e‴)."""
    from agentaudit.detector.channel import decode_table, encode_calls
    from agentaudit.detector.follower import handed_rows

    tables = [batch.calls for batch in batches]
    count = sum(table.num_rows for table in tables)
    assert count == STORED_CALLS, count
    blobs = [encode_calls(table) for table in tables]
    encode = [_cpu(lambda: [encode_calls(t) for t in tables]) / count for _ in range(3)]
    decode = [_cpu(lambda: [handed_rows(decode_table(b)) for b in blobs]) / count for _ in range(3)]
    rows = [row for blob in blobs for row in handed_rows(decode_table(blob))]
    detector = _saved["detector"]
    engine = _cpu(lambda: detector.process_all(rows)) / count  # once: time moves forward
    detector.take_findings()
    return statistics.median(encode), statistics.median(decode), engine


def _drain(reader: Follower) -> None:
    while reader.poll():
        pass


_saved: dict[str, Any] = {}


def _checkpoint(store: Any) -> int:
    """CPU µs to save one agent's baseline (JSON + insert), median over a full save."""
    detector = _saved["detector"]
    baselines = {a: detector.baseline(a) for a in detector.agents}
    log = BaselineLog(store)
    seconds = _cpu(lambda: log.save(baselines, {"chain": 1}))
    return int(seconds / len(baselines) * 1e6)


def run() -> str:
    from agentaudit.collector.interpreter import tune_process

    tune_process()  # the collector process's GC and GIL settings: the detector runs there
    detector, traffic, steady, hit, found, size = engine()
    _saved["detector"] = detector
    read, rows, save, batches = follower(traffic)
    encode, decode, engine_handed = handed(batches)
    total = steady + read
    total_handed = encode + decode + engine_handed
    share = [100 * total_handed * 1e6 / us for us in COLLECTOR_US]
    lines = [
        "## Detector CPU per call",
        "",
        f"{AGENTS} agents, {len(TOOLS)} tools each, ~200-byte JSON arguments, a third of the "
        "calls after untrusted content; learning completed first (not timed), with the "
        "collector process's GC settings (`tune_process`). CPU time "
        f"(`time.process_time`, all threads of the process); medians of {ROUNDS} rounds of "
        f"{ROUND_CALLS:,} calls (engine) and of 3 full reads of {STORED_CALLS:,} stored calls "
        f"in batches of {BATCH:,} (follower).",
        "",
        "| what | µs per call |",
        "|---|---:|",
        f"| (a) engine, steady state (observe, {len(RULES)} rules, learn; {found} findings, on "
        f"resources the random pool rarely draws, in {ROUNDS * ROUND_CALLS:,} calls) "
        f"| {steady * 1e6:.1f} |",
        f"| (b) engine during an attack (every call hits; the finding grows) | {hit * 1e6:.1f} |",
        f"| (c) follower: links, rows by `batch_id IN`, → `CallRow` | {read * 1e6:.1f} |",
        f"| (c′) of which the rows query (ClickHouse + conversion) | {rows * 1e6:.1f} |",
        f"| detector per stored call read from the store (`agentaudit detect --follow`): "
        f"(a) + (c) | {total * 1e6:.1f} |",
        f"| (e′) the collector encodes each stored batch for its detector process (Arrow "
        f"IPC; the store-owning process's CPU) | {encode * 1e6:.1f} |",
        f"| (e″) the detector process decodes it → `CallRow` | {decode * 1e6:.1f} |",
        f"| (e‴) the engine on those rows, shape and realms taken from the arguments in "
        f"Python (each text distinct here) | {engine_handed * 1e6:.1f} |",
        f"| **detector per stored call beside a collector (`agentaudit up`, the default): "
        f"(e′) + (e″) + (e‴)** | **{total_handed * 1e6:.1f}** |",
        "",
        f"Against the collector's {COLLECTOR_US[0]}-{COLLECTOR_US[1]} µs of CPU per stored "
        f"tool-call span (`python -m bench ingest`), the detector beside it adds "
        f"{share[1]:.0f}-{share[0]:.0f}% to the CPU a tool call costs (model spans, which "
        "the detector does not read, dilute it further), of which only (e′) runs in the "
        "store-owning process. A checkpoint (every 10 s) saves "
        f"each changed baseline in {save} µs (a {size / 1024:.0f} KB JSON here).",
        "",
        "Command: `python -m bench detector_cpu`",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
