"""Dashboard page latency over a store holding 10 million ``tool_calls`` rows.

Seeds a temporary embedded (chdb) store once with vectorised Arrow batches (numpy +
pyarrow, ``Store.insert_arrow``): N ``tool_calls`` rows over the last 7 days from 200
agents, 5,000 users, N/20 sessions, 50 tools, 100,000 resources; 10 % prompted by
untrusted content, 70 % unapproved; one row in ten is the tool server's side of the
call in the row before it (an MCP call: ``call_side`` ``client`` then ``server``, which
the queries fold into one call); plus N/4 ``chat`` spans in ``otel_traces`` in the same
traces.
Then times, uncached, the data-module queries each page runs (in the order the page
runs them), and the full AppTest render of each page with the Streamlit cache cleared.

    python -m bench dashboards
    AGENTAUDIT_BENCH_DASHBOARD_ROWS=1000000 python -m bench dashboards   # quicker
    AGENTAUDIT_BENCH_DASHBOARD_STORE=/tmp/bench-store python -m bench dashboards  # keep/reuse
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from agentaudit.collector.writer.table_schemas import OTEL_TRACES, TOOL_CALLS
from agentaudit.dashboards import queries as q
from agentaudit.dashboards.examples import EXAMPLES
from agentaudit.dashboards.filters import Filters, TimeRange
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations

ROWS = int(os.environ.get("AGENTAUDIT_BENCH_DASHBOARD_ROWS", "10000000"))
CHUNK = 1_000_000
RUNS = 11
RENDER_RUNS = 5
BUDGET_S = 1.5
AGENTS, USERS, TOOLS, RESOURCES = 200, 5_000, 50, 100_000
DAYS = 7
NS = 1_000_000_000


def _names(prefix: str, count: int) -> pa.Array:
    return pa.array([f"{prefix}{i:06d}" for i in range(count)], pa.string())


def _take(names: pa.Array, index: np.ndarray) -> pa.Array:
    return names.take(pa.array(index))


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    text = pc.cast(pa.array(values), pa.string())
    padded = pc.utf8_lpad(text, width=9, padding="0")
    return pc.binary_join_element_wise(prefix, padded, "")


def _lists(values: pa.Array, per_row: int, rows: int) -> pa.Array:
    offsets = pa.array(np.arange(0, rows * per_row + 1, per_row, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def _empty_maps(rows: int, item_type: pa.DataType | None = None) -> pa.Array:
    offsets = pa.array(np.zeros(rows + 1, dtype=np.int32))
    items = pa.array([], item_type or pa.string())
    return pa.MapArray.from_arrays(offsets, pa.array([], pa.string()), items)


def _const(value: str, rows: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), rows)


class _Names:
    agents = _names("agent-", AGENTS)
    users = _names("user-", USERS)
    tools = _names("tool_", TOOLS)
    resources = _names("res:obj-", RESOURCES)
    kinds = pa.array(["user", "email", "web", "tool_result"])
    trust = pa.array(["user", "untrusted"])
    approvals = pa.array(["none", "human", "policy"])
    statuses = pa.array(["ok", "error", "blocked"])


def _tool_calls(start: int, rows: int, now_ns: int, rng: np.random.Generator) -> pa.Table:
    n = _Names
    row = np.arange(start, start + rows, dtype=np.int64)
    session = row // 20
    agent = (session * 7919) % AGENTS
    user = (session * 104729) % USERS
    ts = now_ns - rng.integers(0, DAYS * 86400 * NS, rows)
    tool = (agent * 3 + rng.integers(0, 5, rows)) % TOOLS
    # Rows ...0 call a tool server whose own row is ...1 (rows and CHUNK are multiples of 10).
    server = row % 10 == 1
    call_row = np.where(server, row - 1, row)
    tool = np.where(server, np.roll(tool, 1), tool)
    untrusted = (rng.random(rows) < 0.10).astype(np.uint8)
    approval = np.where(rng.random(rows) < 0.7, 0, rng.integers(1, 3, rows))
    status = np.where(rng.random(rows) < 0.97, 0, rng.integers(1, 3, rows))
    resource = rng.integers(0, RESOURCES, rows)
    credential = agent * 1000 + (ts // (86400 * NS)) % 1000
    session_ids = _ids("sess-", session)
    trace_ids = _ids("trace-", session)
    refs = pa.array(
        np.stack([np.full(rows, "user:turn"), np.where(untrusted == 1, "email:msg", "doc:kb")], 1)
        .ravel()
        .astype(object),
        pa.string(),
    )
    ref_trust = np.stack([np.zeros(rows, np.int64), untrusted.astype(np.int64)], 1).ravel()
    ref_kind = np.stack([np.zeros(rows, np.int64), np.where(untrusted == 1, 1, 3)], 1).ravel()
    scopes = pa.array(np.tile(np.array(["res.read", "res.write", "admin.all"], object), rows))
    arguments = pc.binary_join_element_wise(
        '{"target":"',
        _take(n.resources, resource),
        '","note":"row ',
        pc.cast(pa.array(row), pa.string()),
        ' please handle this request today"}',
        "",
    )
    prompt = _ids("sha256:prompt", row // 2)
    columns = {
        "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
        "duration_ns": pa.array(rng.integers(1_000_000, 500_000_000, rows), pa.uint64()),
        "trace_id": trace_ids,
        "span_id": _ids("span-", row),
        "parent_span_id": pc.if_else(pa.array(server), _ids("span-", row - 1), _const("", rows)),
        "service_name": pc.if_else(
            pa.array(server), _const("tool-server", rows), _take(n.agents, agent)
        ),
        "agent_id": _take(n.agents, agent),
        "agent_name": _take(n.agents, agent),
        "user_id": _take(n.users, user),
        "session_id": session_ids,
        "conversation_id": session_ids,
        "tool_name": _take(n.tools, tool),
        "tool_call_id": _ids("call_", call_row),
        "tool_type": _const("function", rows),
        "framework": _const("langchain", rows),
        "arguments": arguments,
        "arguments_hash": _ids("sha256:args", call_row),
        "result_hash": _ids("sha256:result", row),
        "prompt_hash": prompt,
        "source_refs": _lists(refs, 2, rows),
        "source_kinds": _lists(_take(n.kinds, ref_kind), 2, rows),
        "source_trust": _lists(_take(n.trust, ref_trust), 2, rows),
        "source_hashes": _lists(pa.repeat("sha256:src", 2 * rows), 2, rows),
        "untrusted_source": pa.array(untrusted, pa.uint8()),
        "resource_ids": _lists(_take(n.resources, resource), 1, rows),
        "approval_status": _take(n.approvals, approval),
        "approver": _const("", rows),
        "credential_id": _ids("cred-", credential),
        "credential_scopes": _lists(scopes, 3, rows),
        "credential_expires_at": pa.array((ts // NS + 3600).astype(np.uint32), pa.uint32()),
        "decision": _const("allowed", rows),
        "status": _take(n.statuses, status),
        "error_type": _const("", rows),
        "attributes": _empty_maps(rows),
        "resource_attributes": _empty_maps(rows),
        "redactions": _empty_maps(rows, pa.uint32()),
        "received_at": pa.array(ts + NS, pa.timestamp("ns", tz="UTC")),
        "batch_id": _ids("batch-", row // 5000),
        "authenticated_agent": _const("", rows),
        "authentication": _const("shared_token", rows),
        "agent_mismatch": pa.array(np.zeros(rows, np.uint8)),
        "approval_verified": pa.array(np.zeros(rows, np.uint8)),
        "approval_grant_id": _const("", rows),
        "call_side": pa.array(
            np.where(server, "server", np.where(row % 10 == 0, "client", "local")).astype(object),
            pa.string(),
        ),
    }
    return pa.Table.from_arrays([columns[f.name] for f in TOOL_CALLS], schema=TOOL_CALLS)


def _chat_spans(start: int, rows: int, now_ns: int, rng: np.random.Generator) -> pa.Table:
    """One chat span per two tool calls' prompt (every other prompt hash)."""
    row = np.arange(start, start + rows, dtype=np.int64) * 2
    session = row // 20
    keys = [
        A.GEN_AI_OPERATION_NAME,
        A.GEN_AI_REQUEST_MODEL,
        A.PROMPT_HASH,
        A.SESSION_ID,
        A.GEN_AI_AGENT_ID,
        A.SOURCE_REFS,
        A.SOURCE_TRUST,
    ]
    values = [
        pa.repeat(A.OPERATION_CHAT, rows),
        pa.repeat("gpt-4o", rows),
        _ids("sha256:prompt", row // 2),
        _ids("sess-", session),
        _take(_Names.agents, (session * 7919) % AGENTS),
        pa.repeat('["user:turn","email:msg"]', rows),
        pa.repeat('["user","untrusted"]', rows),
    ]
    interleaved = pa.concat_arrays([v.cast(pa.string()) for v in values]).take(
        pa.array((np.arange(rows)[:, None] + np.arange(len(keys))[None, :] * rows).ravel())
    )
    offsets = pa.array(np.arange(0, rows * len(keys) + 1, len(keys), dtype=np.int32))
    attributes = pa.MapArray.from_arrays(offsets, pa.array(keys * rows), interleaved)
    ts = now_ns - rng.integers(0, DAYS * 86400 * NS, rows)
    empty_ns = pa.ListArray.from_arrays(
        pa.array(np.zeros(rows + 1, np.int32)), pa.array([], pa.timestamp("ns", tz="UTC"))
    )
    empty_str = pa.ListArray.from_arrays(
        pa.array(np.zeros(rows + 1, np.int32)), pa.array([], pa.string())
    )
    empty_maps = pa.ListArray.from_arrays(pa.array(np.zeros(rows + 1, np.int32)), _empty_maps(0))
    columns = {
        "Timestamp": pa.array(ts, pa.timestamp("ns", tz="UTC")),
        "TraceId": _ids("trace-", session),
        "SpanId": _ids("chat-", row),
        "ParentSpanId": _const("", rows),
        "TraceState": _const("", rows),
        "SpanName": _const("chat gpt-4o", rows),
        "SpanKind": _const("Client", rows),
        "ServiceName": _take(_Names.agents, (session * 7919) % AGENTS),
        "ResourceAttributes": _empty_maps(rows),
        "ScopeName": _const("agentaudit", rows),
        "ScopeVersion": _const("0.1.0", rows),
        "SpanAttributes": attributes,
        "Duration": pa.array(rng.integers(1_000_000, 2_000_000_000, rows), pa.uint64()),
        "StatusCode": _const("Unset", rows),
        "StatusMessage": _const("", rows),
        "Events.Timestamp": empty_ns,
        "Events.Name": empty_str,
        "Events.Attributes": empty_maps,
        "Links.TraceId": empty_str,
        "Links.SpanId": empty_str,
        "Links.TraceState": empty_str,
        "Links.Attributes": empty_maps,
    }
    return pa.Table.from_arrays([columns[f.name] for f in OTEL_TRACES], schema=OTEL_TRACES)


def seed(store: Store, rows: int) -> dict[str, float]:
    """Insert ``rows`` tool calls and rows/4 chat spans; return timings in seconds."""
    apply_migrations(store)
    rng = np.random.default_rng(42)
    now_ns = time.time_ns()
    generate = insert = 0.0
    for start in range(0, rows, CHUNK):
        count = min(CHUNK, rows - start)
        t0 = time.perf_counter()
        calls = _tool_calls(start, count, now_ns, rng)
        chats = _chat_spans(start // 4, count // 4, now_ns, rng)
        t1 = time.perf_counter()
        store.insert_arrow("agentaudit.tool_calls", calls)
        store.insert_arrow("agentaudit.otel_traces", chats)
        insert += time.perf_counter() - t1
        generate += t1 - t0
    return {"generate": generate, "insert": insert}


def _pages(store: Store) -> dict[str, Callable[[int], Any]]:
    """Per page: the data-module queries it runs, in order, for a typical view.

    Run ``i`` uses its own agent, user, session, resource, credential, search text and
    window end, so ClickHouse's query condition cache cannot answer a repeated filter.
    """

    def window(label: str, i: int) -> TimeRange:
        return TimeRange.parse(
            label, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=i)
        )

    def agent(i: int) -> str:
        return f"agent-{(7 + 13 * i) % AGENTS:06d}"

    def overview(label: str) -> Callable[[int], Any]:
        def page(i: int) -> None:
            span = window(label, i)
            q.unasked_calls(store, span)
            q.overview_activity(store, span)
            q.findings(store, states=("open", "escalated"), limit=50)
            q.optional_table(store, "quarantine")
            q.ingest_health(store)

        return page

    def investigate(make: Callable[[int], Filters]) -> Callable[[int], Any]:
        return lambda i: q.investigate(store, make(i))

    def session(i: int) -> None:
        calls = q.session_tool_calls(store, session=f"sess-{42 + 997 * i:09d}")
        q.session_model_calls(
            store,
            trace_ids=sorted(set(calls["trace_id"])),
            prompt_hashes=sorted(set(calls["prompt_hash"])),
        )

    def agent_profile(i: int) -> None:
        span = window("24h", i)
        q.agents(store, span)
        q.agent_tool_mix(store, agent(i), span)
        q.agent_cadence(store, agent(i), span)
        q.agent_resources(store, agent(i), span)
        q.agent_scopes(store, agent(i), span)
        q.agent_baseline(store, agent(i))
        q.agent_window_profile(store, agent(i), span)

    def blast(i: int) -> None:
        span = window("7d", i)
        q.agents(store, span)
        q.blast_tools(store, agent(i), span)
        q.blast_credentials(store, agent(i), span)

    examples = list(EXAMPLES.values())
    return {
        "Overview (24 h)": overview("24h"),
        "Overview (7 d, all rows)": overview("7d"),
        "Investigate (24 h, no filter)": investigate(lambda i: Filters(**_last_day(i))),
        "Investigate (7 d, agent)": investigate(lambda i: Filters(window="7d", agent=agent(i))),
        "Investigate (7 d, user + untrusted)": investigate(
            lambda i: Filters(
                window="7d", user=f"user-{(123 + 31 * i) % USERS:06d}", untrusted=True
            )
        ),
        "Investigate (7 d, session)": investigate(
            lambda i: Filters(window="7d", session=f"sess-{4242 + 7919 * i:09d}")
        ),
        "Investigate (7 d, resource)": investigate(
            lambda i: Filters(window="7d", resource=f"res:obj-{(4242 + 577 * i) % RESOURCES:06d}")
        ),
        "Investigate (7 d, credential)": investigate(
            lambda i: Filters(window="7d", credential=f"cred-{7003 + 1000 * i:09d}")
        ),
        "Investigate (24 h, text in arguments)": investigate(
            lambda i: Filters(**_last_day(i), q=f"ROW {4343434 + 7919 * i} please")
        ),
        "Investigate (7 d, text in arguments)": investigate(
            lambda i: Filters(window="7d", q=f"ROW {4242424 + 7919 * i} please")
        ),
        "Session forensics": session,
        "Agent profile (24 h vs 30 d)": agent_profile,
        "Blast radius (7 d)": blast,
        "Revoke (history)": lambda i: q.revocations(store),
        "SQL (saved query)": lambda i: store.investigate(examples[i % len(examples)]),
    }


def _last_day(i: int) -> dict[str, str]:
    """The 24 h ending ``i`` seconds ago, as explicit since/until filters."""
    end = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=i)
    return {"since": (end - dt.timedelta(hours=24)).isoformat(), "until": end.isoformat()}


Timing = tuple[float, float, float]
"""Wall-clock p50 and p95, and the median CPU seconds of the process (all threads)."""


def _time(action: Callable[[int], Any], runs: int) -> Timing:
    action(runs)  # warm-up: first touch of the columns' marks and caches
    samples, cpu = [], []
    for i in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        action(i)
        samples.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, statistics.median(cpu)


def _render_pages(store: Store) -> dict[str, Timing]:
    """Full AppTest runs of each page (Streamlit cache cleared before every run)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from agentaudit.config import Config
    from agentaudit.dashboards import register_config, register_store
    from agentaudit.dashboards._ui import USER_KEY
    from agentaudit.dashboards.auth import RESPONDER, User, hash_password
    from agentaudit.dashboards.server import APP_PATH

    user = User("bench", RESPONDER)
    users = {"bench": {"role": RESPONDER, "password_hash": hash_password("bench")}}
    register_store(store)
    register_config(Config(clickhouse_url=store.dsn.raw, sections={"dashboard": {"users": users}}))
    # Each run asks for other rows (its own window, session or agent), as above.
    pages: dict[str, Callable[[int], dict[str, str]]] = {
        "overview": lambda i: {"window": f"{1440 + i}m"},
        "investigate": _last_day,
        "session": lambda i: {"session": f"sess-{77 + 997 * i:09d}"},
        "agent": lambda i: {"agent": f"agent-{(11 + 13 * i) % AGENTS:06d}"},
        "blast_radius": lambda i: {"agent": f"agent-{(17 + 13 * i) % AGENTS:06d}", "window": "7d"},
        "revoke": lambda i: {},
        "sql": lambda i: {},
    }
    results = {}
    for page, query in pages.items():

        def render(
            i: int, page: str = page, query: Callable[[int], dict[str, str]] = query
        ) -> None:
            st.cache_data.clear()
            at = AppTest.from_file(str(APP_PATH), default_timeout=120)
            at.session_state[USER_KEY] = user
            for key, value in query(i).items():
                at.query_params[key] = value
            if page != "overview":  # one script run: the page's url path is its file stem
                at.switch_page(f"views/{page}.py")
            at.run()
            if not any(t.value for t in at.title):
                raise RuntimeError(f"{page}: nothing rendered")
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].value}")

        results[page] = _time(render, RENDER_RUNS)
    register_store(None)
    register_config(None)
    return results


def run() -> str:
    keep = os.environ.get("AGENTAUDIT_BENCH_DASHBOARD_STORE")
    directory = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="agentaudit-bench-"))
    try:
        store = Store.open(f"chdb://{directory.resolve()}")
        try:
            existing = 0
            if keep:
                apply_migrations(store)
                existing = store.query("SELECT count() FROM agentaudit.tool_calls").rows[0][0]
            record = directory / "bench-seed.json"
            if existing != ROWS:
                if existing:
                    store.command("TRUNCATE TABLE agentaudit.tool_calls")
                    store.command("TRUNCATE TABLE agentaudit.otel_traces")
                seeded = seed(store, ROWS)
                record.write_text(json.dumps(seeded))
            else:  # a kept store: report how long seeding it took
                seeded = json.loads(record.read_text())
            count = store.query("SELECT count() FROM agentaudit.tool_calls").rows[0][0]
            spans = store.query("SELECT count() FROM agentaudit.otel_traces").rows[0][0]
            page_times = {name: _time(page, RUNS) for name, page in _pages(store).items()}
            renders = _render_pages(store)
        finally:
            store.close()
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    return _report(count, spans, seeded, page_times, renders)


def _report(
    count: int,
    spans: int,
    seeded: dict[str, float],
    page_times: dict[str, Timing],
    renders: dict[str, Timing],
) -> str:
    lines = [
        "## Dashboards",
        "",
        "`python -m bench dashboards`: page latency over an embedded (chdb) store with "
        f"{count:,} `tool_calls` rows and {spans:,} `otel_traces` chat spans (7 days, "
        f"{AGENTS} agents, {USERS:,} users, {count // 20:,} sessions). Budget: every page "
        f"under {BUDGET_S} s at p95.",
        "",
    ]
    if seeded["insert"]:
        total = seeded["generate"] + seeded["insert"]
        lines += [
            f"Seeding: {total:.0f} s ({seeded['generate']:.0f} s generating Arrow batches with "
            f"numpy/pyarrow, {seeded['insert']:.0f} s in `Store.insert_arrow`, "
            f"{count / seeded['insert']:,.0f} rows/s).",
            "",
        ]
    lines += [
        f"Data-module queries per page, uncached ({RUNS} runs after a warm-up):",
        "",
        "| page (view) | p50 | p95 | CPU (median) | within budget |",
        "|---|---:|---:|---:|---|",
    ]
    for name, (p50, p95, cpu) in page_times.items():
        ok = "yes" if p95 < BUDGET_S else "**no**"
        lines.append(
            f"| {name} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | {cpu * 1000:.0f} ms | {ok} |"
        )
    lines += [
        "",
        f"AppTest full page render (one script run: router + page + queries + element tree; "
        f"`st.cache_data` cleared before each of {RENDER_RUNS} runs):",
        "",
        "| page | p50 | p95 | CPU (median) | within budget |",
        "|---|---:|---:|---:|---|",
    ]
    for name, (p50, p95, cpu) in renders.items():
        ok = "yes" if p95 < BUDGET_S else "**no**"
        lines.append(
            f"| {name} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | {cpu * 1000:.0f} ms | {ok} |"
        )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines += [
        "",
        f"Load average at the end of the run: {load} (2 cores, shared with other work). "
        "CPU is the process's CPU time (all threads, ClickHouse included) per page: it "
        "does not grow with the machine's load, and on an idle 2-core machine a page's "
        "wall time lies between CPU/2 and CPU.",
    ]
    return "\n".join(lines)
