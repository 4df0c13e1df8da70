"""Calls a tool server ran that the caller claimed to record, and never did.

A tool server's record of a call that its caller linked to its own record (the MCP
client sends its span context and tool-call id in the request ``_meta``) is stored in
``tool_call_server_sides``, not in ``tool_calls`` (:mod:`agentaudit.schema.calls`), so
``tool_calls`` has one row per call. The link is the caller's claim: a compromised or
broken agent can send it and never export its own record. The ``agentaudit.calls`` view
still counts such a call (it keeps every server record no caller row took); this module
finds them, so a responder hears of it: every server record older than a grace period
that no caller row took is a finding of rule :data:`RULE` (``unrecorded_call``, severity
``high``).

Grace (:data:`GRACE_SECONDS`, 60 s by default): the two records are exported by different
processes, in batches that arrive in any order, usually within seconds (the SDK's batch
processor flushes every few seconds; the server's record often arrives first). A caller
whose export is delayed longer than the grace (its collector down, exporter retries of up
to minutes) gives a finding that its late record then contradicts; raise the grace where
that is expected. A record is looked at once its ``received_at`` is older than the grace.

"No caller row took it" is the fold's rule, the same as the view's: no client row in the
same trace whose span is the record's parent, with the same tool, ``tool_call_id`` and
non-empty arguments hash, or another server record took that client row first (a tool
server that ran one recorded call twice).

Use (the detector's follower or its own loop, once per poll)::

    sweep = unrecorded_calls(store, after=cursor)  # cursor: None at first
    for finding in sweep.findings: ...             # persist/alert like the rules' findings
    cursor = sweep.cursor                          # keep it with the follower's position

Each record is examined once in ``received_at`` order after the cursor; a finding's id is
derived from the record (trace and span id), so re-examining a record (a cursor lost in
a crash) gives the same finding id, never a second finding.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agentaudit.detector.model import Finding, StoreHandle
from agentaudit.schema.calls import SERVER_SIDES_TABLE, folded_server_rows

__all__ = [
    "GRACE_SECONDS",
    "RULE",
    "SEVERITY",
    "Cursor",
    "Sweep",
    "unrecorded_calls",
    "unrecorded_sql",
]

RULE: Final = "unrecorded_call"
SEVERITY: Final = "high"
GRACE_SECONDS: Final = 60.0
"""How long after a server's record arrived its caller's record may still come."""
LIMIT: Final = 1000
"""Records examined per sweep at most (the next sweep goes on from the cursor)."""

Cursor = tuple[int, str, str]
"""``(received_at in ns, trace_id, span_id)`` of the last record examined."""

_COLUMNS: Final = (
    "toUnixTimestamp64Nano(ts)",
    "toUnixTimestamp64Nano(toDateTime64(received_at, 9))",
    "trace_id",
    "span_id",
    "parent_span_id",
    "service_name",
    "framework",
    "agent_id",
    "authenticated_agent",
    "user_id",
    "session_id",
    "tool_name",
    "tool_call_id",
    "arguments_hash",
    "resource_ids",
    "status",
)


@dataclass(frozen=True)
class Sweep:
    """What one call of :func:`unrecorded_calls` found, and where the next one goes on."""

    findings: list[Finding] = field(default_factory=list)
    cursor: Cursor | None = None
    examined: int = 0


def _window(after: Cursor | None, until_ns: int) -> str:
    received = "toUnixTimestamp64Nano(toDateTime64(received_at, 9))"
    window = f"{received} <= {int(until_ns)}"
    if after is not None:
        ns, trace, span = after
        window += (
            f" AND ({received}, trace_id, span_id) > ({int(ns)}, {_quote(trace)}, {_quote(span)})"
        )
    return window


def _quote(text: str) -> str:
    if not all(c in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"not a hex id: {text!r}")
    return f"'{text}'"


def unrecorded_sql(*, until_ns: int, after: Cursor | None = None, limit: int = LIMIT) -> str:
    """The server records received up to ``until_ns`` (after ``after``), oldest first,
    each with whether no caller row took it (the last column)."""
    window = _window(after, until_ns)
    # Every server record of the window's traces is weighed, so the fold's "first
    # record per client row" sees the records of earlier windows too.
    traces = f"trace_id IN (SELECT trace_id FROM {SERVER_SIDES_TABLE} WHERE {window})"  # noqa: S608
    folded = folded_server_rows(traces)
    return (
        f"SELECT {', '.join(_COLUMNS)}, "  # noqa: S608 - constants and checked hex ids
        f"(trace_id, span_id) NOT IN ({folded}) AS unrecorded "
        f"FROM {SERVER_SIDES_TABLE} WHERE {window} "
        "ORDER BY toUnixTimestamp64Nano(toDateTime64(received_at, 9)), trace_id, span_id "
        f"LIMIT {int(limit)}"
    )


def _finding(row: Sequence[Any], grace_seconds: float) -> Finding:
    (ts_ns, received_ns, trace, span, parent, service, framework, agent, sender, user,
     session, tool, call_id, arguments_hash, resources, status) = row  # fmt: skip
    server = f"{framework or 'tool'} server `{service or 'unknown'}`"
    who = f"agent {agent}" if agent else "an unnamed agent"
    if user:
        who += f" (user {user})"
    summary = (
        f"{server} ran {tool} for {who} but the caller's record of the call never arrived "
        f"within {grace_seconds:g} s; the caller claimed to record it (tool-call id "
        f"{call_id}, caller span {parent})"
    )
    key = hashlib.sha256(f"{RULE}\n{trace}\n{span}".encode()).hexdigest()[:32]
    evidence = {
        "rule": RULE,
        "about": "a tool server ran a call its caller linked to a record it never sent",
        "server_service": service,
        "server_sent_by": sender,
        "claimed_caller_span_id": parent,
        "tool_call_id": call_id,
        "arguments_hash": arguments_hash,
        "resource_ids": list(resources),
        "status": status,
        "received_ns": int(received_ns),
        "grace_seconds": grace_seconds,
        "triggering_calls": [
            {
                "trace_id": trace,
                "span_id": span,
                "ts": _iso(int(ts_ns)),
                "tool": tool,
                "table": SERVER_SIDES_TABLE,
            }
        ],
    }
    return Finding(
        ts_ns=int(ts_ns),
        agent_id=str(agent),
        rule=RULE,
        severity=SEVERITY,
        score=1.0,
        summary=summary,
        evidence=evidence,
        user_id=str(user),
        session_id=str(session),
        trace_id=str(trace),
        span_id=str(span),
        tool_name=str(tool),
        group_key=f"{RULE}:{key}",
        finding_id=key,
    )


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest:09d}Z"


def unrecorded_calls(
    store: StoreHandle,
    *,
    after: Cursor | None = None,
    grace_seconds: float = GRACE_SECONDS,
    now_ns: int | None = None,
    limit: int = LIMIT,
) -> Sweep:
    """Findings for the server records received after ``after`` and more than
    ``grace_seconds`` before ``now_ns`` that no caller row took; and the new cursor
    (``after`` when nothing was examined)."""
    now = time.time_ns() if now_ns is None else now_ns
    until = now - int(grace_seconds * 1_000_000_000)
    rows = store.query(unrecorded_sql(until_ns=until, after=after, limit=limit)).rows
    findings = [_finding(row[:-1], grace_seconds) for row in rows if row[-1]]
    cursor = after
    if rows:
        last = rows[-1]
        cursor = (int(last[1]), str(last[2]), str(last[3]))
    return Sweep(findings, cursor, len(rows))
