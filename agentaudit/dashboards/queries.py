"""The dashboards' queries: pure functions of a Store and typed arguments.

Every query is a constant SQL text with ClickHouse server-side parameters, run through
:meth:`Store.read_only`; results come back as pandas DataFrames. Pages never call this
module directly (they go through the cached :mod:`agentaudit.dashboards.data`); the
benchmark and the tests do, to time and check the queries without a cache.

Calls are counted and listed once: the queries read every recorded side of a call
(:data:`~agentaudit.schema.calls.ALL_SIDES`: ``tool_calls`` and, for an MCP call the
caller linked, the tool server's record in ``tool_call_server_sides``), and every query
over calls folds the server's record into its caller's row (:data:`ONE_PER_CALL`, the
rule of :mod:`agentaudit.schema.calls`), so no call is lost and none counts twice.
"""

# S608: the f-strings below only splice module constants and whitelisted column names;
# every value is a server-side parameter.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

import pandas as pd

from agentaudit.dashboards.filters import (
    CLAIMED_OR_RECEIVED,
    RECEIVED_WHERE,
    TIME_WHERE,
    Filters,
    TimeRange,
    span_bucket_seconds,
)
from agentaudit.schema import attributes as A
from agentaudit.schema.calls import (
    ALL_SIDES,
    AUTH_NONE,
    AUTH_SHARED_TOKEN,
    AUTH_TOOL_SERVER_TOKEN,
    CALLS_TABLE,
    SERVER_SIDES_TABLE,
    folded_server_rows,
    one_per_call,
)
from agentaudit.store import QueryResult, Store

__all__ = [
    "SORTABLE",
    "agent_baseline",
    "agent_cadence",
    "agent_resources",
    "agent_scopes",
    "agent_tool_mix",
    "agent_window_profile",
    "agents",
    "blast_credentials",
    "blast_tools",
    "finding",
    "findings",
    "ingest_health",
    "investigate",
    "optional_table",
    "overview_activity",
    "quarantined_agents",
    "revocations",
    "session_model_calls",
    "session_tool_calls",
    "triggering_calls",
    "unasked_calls",
]

SORTABLE: Final = ("ts", "received_at", "agent_id", "user_id", "session_id", "tool_name", "status")
APPROVAL: Final = (
    "multiIf(approval_verified = 1, 'verified', approval_status IN ('', 'none'), 'none', "
    "'claimed') AS approval"
)
"""Verified (a signed grant the collector checked for exactly this call), claimed (the
agent's runtime says so) or none."""
SENT_BY: Final = (
    f"multiIf(authentication = '{AUTH_TOOL_SERVER_TOKEN}', "
    "concat(authenticated_agent, ' (tool server)'), "
    "authenticated_agent != '', authenticated_agent, "
    f"authentication = '{AUTH_SHARED_TOKEN}', '(shared token)', "
    f"authentication = '{AUTH_NONE}', '(open mode)', '') AS sent_by"
)
"""Who sent the span, as the collector authenticated it (never what the span claims)."""
_CALL_COLUMNS: Final = (
    f"ts, received_at, agent_id, user_id, session_id, tool_name, status, {APPROVAL}, "
    f"approval_status, {SENT_BY}, agent_mismatch, untrusted_source, source_refs, resource_ids, "
    "credential_id, substring(arguments, 1, 300) AS arguments, trace_id"
)
UNAPPROVED_UNTRUSTED: Final = "untrusted_source = 1 AND approval_status = 'none'"
ONE_PER_CALL: Final = one_per_call(TIME_WHERE)
"""One row per call over the window ``{since}``..``{until}``: a tool server's row folded
into its caller's row is left out (both stay in ``tool_calls``)."""


def _frame(result: QueryResult) -> pd.DataFrame:
    return pd.DataFrame.from_records(result.rows, columns=list(result.columns))


def _query(store: Store, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    return _frame(store.read_only(sql, params))


# --- Overview -----------------------------------------------------------------------


def _activity(store: Store, params: Mapping[str, Any], step: int) -> pd.DataFrame:
    sql = (
        "SELECT grouping(tool_name) AS by_time, "
        "toStartOfInterval(ts, toIntervalSecond({step:UInt32})) AS bucket, "
        "bucket + toIntervalSecond({step:UInt32}) AS bucket_end, agent_id, tool_name, "
        "count() AS calls, countIf(status != 'ok') AS failed_or_blocked, uniq(agent_id) AS agents "
        f"FROM {ALL_SIDES} WHERE {TIME_WHERE} AND {ONE_PER_CALL} "
        "GROUP BY GROUPING SETS ((bucket, agent_id), (tool_name))"
    )
    return _query(store, sql, {**params, "step": step})


def _utc(value: Any) -> dt.datetime:
    stamp = pd.Timestamp(value)
    moment: dt.datetime = (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    ).to_pydatetime()
    return moment


def overview_activity(
    store: Store, window: TimeRange, top: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tool calls per time bucket and agent, and the top tools.

    Returns ``(series, tools)``: series has columns bucket, bucket_end, agent_id, calls
    (by bucket); tools has tool_name, calls, failed_or_blocked, agents (most-called
    first). Buckets (:func:`~agentaudit.dashboards.filters.span_bucket_seconds`) are at
    most 60 over the window, read in one scan; when the calls fill under a quarter of
    it (a burst in a long window), the scan is repeated over just their span with at
    most 60 buckets over that, so the burst is some tens of bars and not one sliver.
    """
    series_columns = ["bucket", "bucket_end", "agent_id", "calls"]
    tool_columns = ["tool_name", "calls", "failed_or_blocked", "agents"]
    step = span_bucket_seconds(window.since, window.until)
    frame = _activity(store, window.params(), step)
    if frame.empty:
        return pd.DataFrame(columns=series_columns), pd.DataFrame(columns=tool_columns)
    tools = frame[frame["by_time"] == 0][tool_columns].sort_values(
        ["calls", "tool_name"], ascending=[False, True]
    )
    series = frame[frame["by_time"] == 1]
    for _ in range(3):  # "all" narrows from 30-day buckets in a few steps
        # Every call of the window lies in [first, last): only that span is read again.
        first = max(_utc(series["bucket"].min()), window.since)
        last = min(_utc(series["bucket_end"].max()), window.until)
        finer = span_bucket_seconds(first, last)
        if finer * 4 > step:  # the calls fill most of the span already
            break
        step = finer
        refined = _activity(store, {"since": first, "until": last}, step)
        series = refined[refined["by_time"] == 1]
    series = series[series_columns].sort_values("bucket", kind="stable")
    return series.reset_index(drop=True), tools.head(top).reset_index(drop=True)


def unasked_calls(store: Store, window: TimeRange, limit: int = 50) -> pd.DataFrame:
    """Unapproved calls prompted by untrusted content, claimed or received in the window,
    most recently received first.

    The panel an injected call must not hide from: over the claimed time alone, an agent
    that backdates its spans would keep its steered calls out of every recent window.
    The OR reads every granule's four small columns (no key prunes it); the rows are few.
    """
    where = f"{CLAIMED_OR_RECEIVED} AND {UNAPPROVED_UNTRUSTED}"
    sql = (
        "SELECT ts, received_at, agent_id, user_id, session_id, tool_name, source_refs, "
        f"resource_ids, credential_id, status, trace_id FROM {ALL_SIDES} "
        f"WHERE {where} AND {one_per_call(where)} "
        "ORDER BY received_at DESC, ts DESC LIMIT {limit:UInt32}"
    )
    return _query(store, sql, {**window.params(), "limit": limit})


_LAST_HOUR: Final = "ts >= now64(9) - INTERVAL 1 HOUR"


def ingest_health(store: Store) -> dict[str, Any]:
    """Row counts (from part metadata) and the freshness of the last hour of tool calls.

    ``rows`` counts stored rows (both sides of an MCP call), ``calls_1h`` calls (once);
    the ingest figures count rows. The freshness figures only read calls whose span
    started in the last hour (the ordering key prunes the rest), so the Overview stays
    fast on a large store.
    """
    totals = store.read_only(
        f"SELECT (SELECT count() FROM {CALLS_TABLE}) "
        f"+ (SELECT count() FROM {SERVER_SIDES_TABLE}) AS rows, "
        "(SELECT count() FROM agentaudit.otel_traces) AS spans"
    ).as_dicts()[0]
    recent = store.read_only(
        f"SELECT countIf({one_per_call(_LAST_HOUR)}) AS calls_1h, "
        "max(received_at) AS last_received, "
        "countIf(received_at >= now64(3) - INTERVAL 5 MINUTE) AS last_5m, "
        "uniqExact(batch_id) AS batches_1h, "
        "avg(toUnixTimestamp64Milli(received_at) - toUnixTimestamp64Milli(ts)) AS lag_ms_1h "
        f"FROM {ALL_SIDES} WHERE {_LAST_HOUR}"
    ).as_dicts()[0]
    return {**totals, **recent}


_OPTIONAL_TABLES: Final[Mapping[str, str]] = {
    # Quarantine: newest version per agent (ReplacingMergeTree), only those still held.
    "quarantine": (
        "SELECT agent_id, since, reason, actor, revocation_id, updated_at "
        "FROM agentaudit.quarantine FINAL WHERE state = 'quarantined' "
        "ORDER BY since DESC LIMIT {limit:UInt32}"
    ),
}


def _exists(store: Store, table: str) -> bool:
    exists = store.read_only("EXISTS TABLE agentaudit.{name:Identifier}", {"name": table})
    return bool(exists.rows[0][0])


def optional_table(store: Store, table: str, limit: int = 50) -> pd.DataFrame | None:
    """Rows of a table another issue adds (quarantine); None while it is absent."""
    sql = _OPTIONAL_TABLES.get(table)
    if sql is None:
        raise ValueError(f"not an optional dashboard table: {table!r}")
    if not _exists(store, table):
        return None
    return _query(store, sql, {"limit": limit})


# --- Findings -----------------------------------------------------------------------

FINDING_COLUMNS: Final = (
    "ts", "severity", "agent_id", "rule", "summary", "action", "state", "tool_name",
    "session_id", "triaged_by", "triage_reason", "revocation_id", "score", "finding_id",
)  # fmt: skip
"""The columns of :func:`findings` (the list), in order."""
_NEWEST_FINDINGS: Final = (
    "SELECT * FROM agentaudit.findings WHERE ({agent:String} = '' OR agent_id = {agent:String})"
    " ORDER BY updated_at DESC LIMIT 1 BY finding_id"
)
"""The newest version of every finding (a triage change is a new version row)."""


def findings(
    store: Store,
    *,
    states: Sequence[str] = (),
    severities: Sequence[str] = (),
    agent: str = "",
    since: dt.datetime | None = None,
    limit: int = 200,
) -> pd.DataFrame | None:
    """The newest version of each finding, newest first; None while the table is absent.

    Filtered by current state and severity (any of the given; all when empty), agent
    and time. Columns: :data:`FINDING_COLUMNS`.
    """
    if not _exists(store, "findings"):
        return None
    sql = (
        f"SELECT {', '.join(FINDING_COLUMNS)} FROM ({_NEWEST_FINDINGS}) "
        "WHERE (empty({states:Array(String)}) OR has({states:Array(String)}, state)) "
        "AND (empty({severities:Array(String)}) OR has({severities:Array(String)}, severity)) "
        "AND ts >= {since:DateTime64(3, 'UTC')} ORDER BY ts DESC, finding_id LIMIT {limit:UInt32}"
    )
    params = {
        "agent": agent,
        "states": list(states),
        "severities": list(severities),
        "since": since or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
        "limit": limit,
    }
    return _query(store, sql, params)


def finding(store: Store, finding_id: str) -> dict[str, Any] | None:
    """Every column of a finding's newest version, or None (no such finding or table)."""
    if not _exists(store, "findings"):
        return None
    rows = store.read_only(
        "SELECT * FROM agentaudit.findings WHERE finding_id = {id:String} "
        "ORDER BY updated_at DESC LIMIT 1",
        {"id": finding_id},
    ).as_dicts()
    return rows[0] if rows else None


def triggering_calls(store: Store, calls: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """The stored tool calls named by ``(trace_id, span_id)`` pairs (an empty span id:
    every call of the trace, once each), oldest first; at most 200."""
    traces = sorted({trace for trace, _ in calls if trace})
    in_traces = "trace_id IN {traces:Array(String)}"
    sql = (
        "SELECT ts, agent_id, session_id, tool_name, status, resource_ids, approval_status, "
        "untrusted_source, trace_id, span_id, "
        f"call_side = 'server' AND (trace_id, span_id) IN ({folded_server_rows(in_traces)}) "
        f"AS folded FROM {ALL_SIDES} WHERE {in_traces} ORDER BY ts LIMIT 5000"
    )
    frame = _query(store, sql, {"traces": traces}) if traces else pd.DataFrame()
    if frame.empty:
        return frame
    exact = {(t, s) for t, s in calls if s}
    whole = {t for t, s in calls if not s}
    keep = [
        (t, s) in exact or (t in whole and not folded)
        for t, s, folded in zip(frame["trace_id"], frame["span_id"], frame["folded"], strict=True)
    ]
    return frame[keep].drop(columns=["folded"]).head(200).reset_index(drop=True)


# --- Detector baselines -------------------------------------------------------------


def agent_baseline(store: Store, agent: str) -> dict[str, Any] | None:
    """The newest saved baseline of ``agent``: ``updated_at``, ``watermark`` and
    ``baseline`` (the JSON text); None when there is none (or no table yet)."""
    if not _exists(store, "detector_baselines"):
        return None
    rows = store.read_only(
        "SELECT updated_at, watermark, baseline FROM agentaudit.detector_baselines "
        "WHERE agent_id = {agent:String} ORDER BY updated_at DESC LIMIT 1",
        {"agent": agent},
    ).as_dicts()
    return rows[0] if rows else None


# --- Investigate --------------------------------------------------------------------


def investigate(
    store: Store, filters: Filters, *, sort: str = "ts", descending: bool = True, limit: int = 1000
) -> pd.DataFrame:
    """The tool calls matching ``filters``, sorted server-side by a whitelisted column."""
    if sort not in SORTABLE:
        raise ValueError(f"cannot sort by {sort!r}; choose one of {', '.join(SORTABLE)}")
    where, params = filters.where()
    order = f"{sort} {'DESC' if descending else 'ASC'}"
    if sort != "ts":
        order += ", ts DESC"
    sql = (
        f"SELECT {_CALL_COLUMNS} FROM {ALL_SIDES} WHERE {where} "
        f"AND {one_per_call(where)} ORDER BY {order} LIMIT {{limit:UInt32}}"
    )
    return _query(store, sql, {**params, "limit": limit})


def agents(store: Store, window: TimeRange) -> list[str]:
    """The agents with calls claimed or received in the window (the pages' picker: an
    agent that backdates its spans is still offered)."""
    sql = (
        f"SELECT DISTINCT agent_id FROM {ALL_SIDES} WHERE {CLAIMED_OR_RECEIVED} "
        "ORDER BY agent_id LIMIT 1000"
    )
    return [str(row[0]) for row in store.read_only(sql, window.params()).rows]


# --- Session forensics --------------------------------------------------------------


def session_tool_calls(store: Store, *, session: str = "", trace: str = "") -> pd.DataFrame:
    """Every tool call of one session (or trace), once each, oldest first, with full
    provenance; ``call_side``, and for a call a tool server recorded too, the server's
    ``server_service`` and ``server_resource_ids``."""
    if bool(session) == bool(trace):
        raise ValueError("give exactly one of session or trace")
    column, value = ("session_id", session) if session else ("trace_id", trace)
    condition = f"{column} = {{value:String}}"
    sql = (
        "SELECT c.*, s.s_service AS server_service, s.s_resource_ids AS server_resource_ids "
        "FROM (SELECT ts, duration_ns, trace_id, span_id, parent_span_id, agent_id, user_id, "
        "session_id, tool_name, tool_call_id, framework, arguments, arguments_hash, "
        "result_hash, prompt_hash, source_refs, source_kinds, source_trust, source_hashes, "
        "untrusted_source, resource_ids, approval_status, approver, credential_id, "
        "credential_scopes, credential_expires_at, decision, status, error_type, redactions, "
        f"{APPROVAL}, approval_grant_id, {SENT_BY}, agent_mismatch, call_side "
        f"FROM {ALL_SIDES} WHERE {condition} AND {one_per_call(condition)} "
        "ORDER BY ts LIMIT 5000) AS c LEFT JOIN (SELECT trace_id AS s_trace_id, "
        "parent_span_id AS s_parent_span_id, service_name AS s_service, "
        f"resource_ids AS s_resource_ids FROM {ALL_SIDES} "
        f"WHERE (trace_id, span_id) IN ({folded_server_rows(condition)})) AS s "
        "ON c.trace_id = s.s_trace_id AND c.span_id = s.s_parent_span_id ORDER BY c.ts"
    )
    return _query(store, sql, {"value": value})


def session_model_calls(
    store: Store, *, trace_ids: Sequence[str], prompt_hashes: Sequence[str]
) -> pd.DataFrame:
    """Model-call (``chat``) spans in the given traces or with the given prompt hashes."""
    if not trace_ids and not prompt_hashes:
        return pd.DataFrame(
            columns=[
                "ts",
                "trace_id",
                "span_id",
                "name",
                "model",
                "prompt_hash",
                "source_refs",
                "source_kinds",
                "source_trust",
                "session_id",
                "agent_id",
            ]
        )
    sql = (
        "SELECT Timestamp AS ts, TraceId AS trace_id, SpanId AS span_id, SpanName AS name, "
        "SpanAttributes[{model_key:String}] AS model, "
        "SpanAttributes[{prompt_key:String}] AS prompt_hash, "
        "SpanAttributes[{refs_key:String}] AS source_refs, "
        "SpanAttributes[{kinds_key:String}] AS source_kinds, "
        "SpanAttributes[{trust_key:String}] AS source_trust, "
        "SpanAttributes[{session_key:String}] AS session_id, "
        "SpanAttributes[{agent_key:String}] AS agent_id "
        "FROM agentaudit.otel_traces "
        "WHERE TraceId IN {traces:Array(String)} "
        "AND SpanAttributes[{op_key:String}] = {chat:String} "
        "ORDER BY Timestamp LIMIT 5000"
    )
    params = {
        "model_key": A.GEN_AI_REQUEST_MODEL,
        "prompt_key": A.PROMPT_HASH,
        "refs_key": A.SOURCE_REFS,
        "kinds_key": A.SOURCE_KINDS,
        "trust_key": A.SOURCE_TRUST,
        "session_key": A.SESSION_ID,
        "agent_key": A.GEN_AI_AGENT_ID,
        "op_key": A.GEN_AI_OPERATION_NAME,
        "chat": A.OPERATION_CHAT,
        "traces": list(trace_ids),
    }
    frame = _query(store, sql, params)
    if prompt_hashes and not frame.empty:
        wanted = set(prompt_hashes)
        frame = frame[frame["prompt_hash"].isin(wanted) | frame["trace_id"].isin(list(trace_ids))]
    return frame


# --- Agent profile ------------------------------------------------------------------


def _agent_params(agent: str, window: TimeRange, baseline_days: int) -> dict[str, Any]:
    return {
        **window.params(),
        "agent": agent,
        "base_since": window.since - dt.timedelta(days=baseline_days),
    }


_BASELINE_WHERE: Final = (
    "agent_id = {agent:String} AND ts >= {base_since:DateTime64(9, 'UTC')} "
    "AND ts < {until:DateTime64(9, 'UTC')}"
)
_IN_WINDOW: Final = "ts >= {since:DateTime64(9, 'UTC')}"
_BASELINE_ONCE: Final = one_per_call(_BASELINE_WHERE)


def _window_vs_baseline(
    store: Store,
    agent: str,
    window: TimeRange,
    baseline_days: int,
    *,
    key: str,
    source: str = ALL_SIDES,
    tail: str,
) -> pd.DataFrame:
    """Calls of ``agent`` per ``key``: in the window, and in the baseline before it.

    ``key``, ``source`` and ``tail`` are fixed SQL from this module, never user input.
    """
    sql = (
        f"SELECT {key}, countIf({_IN_WINDOW}) AS window_calls, "
        f"countIf(NOT ({_IN_WINDOW})) AS baseline_calls "
        f"FROM {source} WHERE {_BASELINE_WHERE} AND {_BASELINE_ONCE} {tail}"
    )
    return _query(store, sql, _agent_params(agent, window, baseline_days))


def agent_tool_mix(
    store: Store, agent: str, window: TimeRange, baseline_days: int = 30
) -> pd.DataFrame:
    """Per tool: calls in the window and in the baseline before it."""
    return _window_vs_baseline(
        store, agent, window, baseline_days, key="tool_name",
        tail="GROUP BY tool_name ORDER BY window_calls DESC, baseline_calls DESC LIMIT 200",
    )  # fmt: skip


def agent_cadence(
    store: Store, agent: str, window: TimeRange, baseline_days: int = 30
) -> pd.DataFrame:
    """Calls per hour of day (UTC), window vs. baseline, as a share of each period."""
    return _window_vs_baseline(
        store, agent, window, baseline_days, key="toHour(ts) AS hour",
        tail="GROUP BY hour ORDER BY hour",
    )  # fmt: skip


def agent_resources(
    store: Store, agent: str, window: TimeRange, baseline_days: int = 30
) -> pd.DataFrame:
    """Resources touched in the window, with how often they were touched before it."""
    return _window_vs_baseline(
        store, agent, window, baseline_days, key="resource",
        source=f"{ALL_SIDES} ARRAY JOIN resource_ids AS resource",
        tail="GROUP BY resource HAVING window_calls > 0 ORDER BY window_calls DESC LIMIT 100",
    )  # fmt: skip


def agent_scopes(
    store: Store, agent: str, window: TimeRange, baseline_days: int = 30
) -> pd.DataFrame:
    """Credential scopes used in the window vs. the baseline."""
    return _window_vs_baseline(
        store, agent, window, baseline_days, key="scope",
        source=f"{ALL_SIDES} ARRAY JOIN credential_scopes AS scope",
        tail="GROUP BY scope ORDER BY window_calls DESC LIMIT 200",
    )  # fmt: skip


def agent_calls_claimed_elsewhere(store: Store, agent: str, window: TimeRange) -> int:
    """``agent``'s calls received in the window that claim a time outside it (backdated,
    or held back before sending): the Agent profile, over the claimed time, leaves them
    out, so the page says how many there are."""
    where = f"agent_id = {{agent:String}} AND ({RECEIVED_WHERE}) AND NOT ({TIME_WHERE})"
    sql = f"SELECT countIf({one_per_call(where)}) FROM {ALL_SIDES} WHERE {where}"
    return int(store.read_only(sql, {**window.params(), "agent": agent}).rows[0][0])


def agent_window_profile(store: Store, agent: str, window: TimeRange) -> dict[str, pd.DataFrame]:
    """The figures a detector baseline holds, measured over ``window`` for ``agent``.

    ``transitions`` (from_tool, to_tool, calls: consecutive calls in a session),
    ``resource_types`` (tool_name, resource_type, calls), ``fanout`` (tool_name,
    max_per_session, max_per_hour, resources: distinct resources touched) and
    ``cadence`` (one row: calls, active_hours, calls_per_hour_max, burst_max_per_minute).
    """
    params = {**window.params(), "agent": agent}
    where = f"agent_id = {{agent:String}} AND {TIME_WHERE}"
    where = f"{where} AND {one_per_call(where)}"
    transitions = (
        "SELECT pair.1 AS from_tool, pair.2 AS to_tool, count() AS calls FROM ("
        "SELECT arrayMap(c -> c.2, arraySort(c -> c.1, groupArray((ts, tool_name)))) AS seq "
        f"FROM {ALL_SIDES} WHERE {where} GROUP BY session_id) "
        "ARRAY JOIN arrayZip(arrayPopBack(seq), arrayPopFront(seq)) AS pair "
        "GROUP BY from_tool, to_tool ORDER BY calls DESC, from_tool, to_tool LIMIT 200"
    )
    resource_types = (
        "SELECT tool_name, splitByChar(':', resource)[1] AS resource_type, count() AS calls "
        f"FROM {ALL_SIDES} ARRAY JOIN resource_ids AS resource WHERE {where} "
        "GROUP BY tool_name, resource_type ORDER BY calls DESC LIMIT 200"
    )
    fanout = (
        "SELECT tool_name, max(per_session) AS max_per_session, max(per_hour) AS max_per_hour, "
        "max(total) AS resources FROM ("
        "SELECT tool_name, uniqExact(resource) AS per_session, 0 AS per_hour, 0 AS total "
        f"FROM {ALL_SIDES} ARRAY JOIN resource_ids AS resource WHERE {where} "
        "GROUP BY tool_name, session_id UNION ALL "
        "SELECT tool_name, 0, uniqExact(resource), 0 "
        f"FROM {ALL_SIDES} ARRAY JOIN resource_ids AS resource WHERE {where} "
        "GROUP BY tool_name, toStartOfHour(ts) UNION ALL "
        "SELECT tool_name, 0, 0, uniqExact(resource) "
        f"FROM {ALL_SIDES} ARRAY JOIN resource_ids AS resource WHERE {where} "
        "GROUP BY tool_name) GROUP BY tool_name ORDER BY max_per_session DESC LIMIT 200"
    )
    cadence = (
        "SELECT sum(c) AS calls, uniqExact(toStartOfHour(minute)) AS active_hours, "
        "max(per_hour) AS calls_per_hour_max, max(c) AS burst_max_per_minute FROM ("
        "SELECT toStartOfMinute(ts) AS minute, count() AS c, "
        "sum(count()) OVER (PARTITION BY toStartOfHour(minute)) AS per_hour "
        f"FROM {ALL_SIDES} WHERE {where} GROUP BY minute)"
    )
    return {
        "transitions": _query(store, transitions, params),
        "resource_types": _query(store, resource_types, params),
        "fanout": _query(store, fanout, params),
        "cadence": _query(store, cadence, params),
    }


# --- Blast radius -------------------------------------------------------------------


BLAST_WINDOW: Final = f"agent_id = {{agent:String}} AND {CLAIMED_OR_RECEIVED}"
"""One agent's calls claimed or received in the window: what the agent reached recently
whatever time its spans claim (the sort key's agent prefix keeps the OR cheap)."""
_BLAST_ONE_PER_CALL: Final = one_per_call(BLAST_WINDOW)
"""Folds looked up among the agent's own server records only: over the window alone the
lookup read every agent's (10 M rows, 7 d: 7.3 s against 0.73 s, docs/dashboards.md)."""


def blast_tools(store: Store, agent: str, window: TimeRange) -> pd.DataFrame:
    """Per tool of one agent: calls (once each), scopes presented, resource types and
    resources touched (as the agent and, for MCP calls, the tool server recorded them)."""
    sql = (
        f"SELECT tool_name, countIf({_BLAST_ONE_PER_CALL}) AS calls, "
        "arraySort(groupUniqArrayArray(credential_scopes)) AS scopes_presented, "
        "arraySort(groupUniqArrayArray(arrayMap(r -> splitByChar(':', r)[1], resource_ids))) "
        "AS resource_types, uniqArray(resource_ids) AS resources, "
        "arraySlice(arraySort(groupUniqArrayArray(100)(resource_ids)), 1, 20) AS sample_resources "
        f"FROM {ALL_SIDES} WHERE {BLAST_WINDOW} "
        "GROUP BY tool_name ORDER BY calls DESC LIMIT 200"
    )
    return _query(store, sql, {**window.params(), "agent": agent})


def blast_credentials(store: Store, agent: str, window: TimeRange) -> pd.DataFrame:
    """Credentials the agent presented: scopes, first/last use (the times the calls
    claim), expiry."""
    sql = (
        "SELECT credential_id, arraySort(groupUniqArrayArray(credential_scopes)) AS scopes, "
        "min(ts) AS first_used, max(ts) AS last_used, max(credential_expires_at) AS expires_at, "
        f"countIf({_BLAST_ONE_PER_CALL}) AS calls, uniq(tool_name) AS tools "
        f"FROM {ALL_SIDES} WHERE {BLAST_WINDOW} "
        "AND credential_id != '' GROUP BY credential_id ORDER BY last_used DESC LIMIT 500"
    )
    return _query(store, sql, {**window.params(), "agent": agent})


# --- Revoke and SQL -----------------------------------------------------------------


def revocations(store: Store, limit: int = 200) -> pd.DataFrame:
    """Revocations and releases (newest version of each), newest request first."""
    sql = (
        "SELECT requested_at, action, target, target_id, status, results, reason, "
        "requested_by, updated_at, id FROM agentaudit.revocations FINAL "
        "ORDER BY requested_at DESC, id LIMIT {limit:UInt32}"
    )
    return _query(store, sql, {"limit": limit})


_QUARANTINE_COLUMNS: Final = ("agent_id", "since", "reason", "actor", "revocation_id", "updated_at")


def quarantined_agents(store: Store, limit: int = 200) -> pd.DataFrame:
    """Agents quarantined now (newest version per agent), most recent first.

    Empty (with the columns) while the quarantine table does not exist yet.
    """
    frame = optional_table(store, "quarantine", limit)
    return pd.DataFrame(columns=list(_QUARANTINE_COLUMNS)) if frame is None else frame
