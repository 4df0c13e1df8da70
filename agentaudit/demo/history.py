"""The demo agents' past: twelve days of their ordinary work, exported before the incident.

The detector learns each agent's baseline from its calls by their own ``ts``, so spans
with past start times complete the learning period (``[detector] learning_calls`` and
``learning_days``, docs/detector.md) before the live sessions arrive. With that history
the mail assistant's injected export is evaluated against a frozen baseline, and a
``high`` finding quarantines it without a human click.

What the agents normally do (the same tools, resources, credentials, provenance and
approvals as the live sessions of :mod:`.runner`, so only the incident stands out):

* ``mail-assistant`` for ``bob``: an inbox watcher every two hours, around the clock
  (``read_inbox``, session ``sess-bob-inbox-watch``, no credential, as :mod:`.follow`);
  and five triage sessions a day: ``read_inbox`` with the mail credential, then a reply
  to one of Bob's eight regular correspondents (the e-mail it answers is untrusted
  content, and Bob approves each reply). It never exports the customer list.
* ``calendar-assistant`` for ``alice`` and ``carol``: five sessions a day, at every hour
  of the day over the twelve days, each listing the events of a day around the
  quarterly review and adding a prep slot after the user's approval (and in half of
  them listing the day again); the agent's rows and the MCP server's, as in
  :mod:`._mcp_calendar`. (The MCP server exports its rows from its own process, so they
  may be stored a batch after the agent's: the detector then sees ``create_event``
  followed by ``list_events`` in a session, an order the history knows.)

About 560 spans, deterministic apart from the clock they are laid back from. They are
ordinary OTLP spans with explicit start times through the process's tracer provider
(the one ``agentaudit.auto`` set up), so the collector stores, redacts and chains them
like any other; :func:`export_history` flushes them before the live sessions start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agentaudit.demo import data
from agentaudit.schema import attributes as A

__all__ = ["CLAIMED_AGE_SECONDS", "DAYS", "HistoryCall", "export_history", "history"]

DAYS: Final = 12
CLAIMED_AGE_SECONDS: Final = (DAYS + 1) * 86_400
"""The ``[detector] max_claimed_age_seconds`` the demo runs with: its history arrives
over OTLP with the past fortnight's times, which a deployment's default (60 s) does not
believe (an agent could forge them); the demo's own scripted agents are trusted."""
SEED: Final = 42
NS: Final = 1_000_000_000
HOUR: Final = 3600 * NS
DAY: Final = 24 * HOUR
WATCH_SESSION: Final = "sess-bob-inbox-watch"  # the session of .follow
CORRESPONDENTS: Final = tuple(
    f"{name}@{domain}"
    for name, domain in (
        ("anna.lee", "northwind.example"),
        ("raj.patel", "northwind.example"),
        ("mia.chen", "contoso.example"),
        ("tom.berg", "contoso.example"),
        ("lena.fox", "fabrikam.example"),
        ("omar.haddad", "fabrikam.example"),
        ("sara.kim", "bobs-company.example"),
        ("ivan.petrov", "bobs-company.example"),
    )
)
CALENDAR_USERS: Final = tuple(user for user, _ in data.CALENDAR_SESSIONS)  # alice, carol


@dataclass(frozen=True)
class HistoryCall:
    """One past tool call: when, which tool, and its span attributes."""

    ts_ns: int
    tool: str
    attributes: Mapping[str, Any]
    server: bool = False  # recorded by the MCP server (a SERVER span)
    extra: dict[str, Any] = field(default_factory=dict)


def _tool(
    tool: str,
    *,
    agent: str,
    user: str,
    session: str,
    arguments: Mapping[str, Any],
    resources: Sequence[str],
    framework: str = "langchain",
    credential: Mapping[str, Any] | None = None,
    sources: Sequence[tuple[str, str]] = (),
    approval: str = A.APPROVAL_NONE,
) -> dict[str, Any]:
    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"))
    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: tool,
        A.GEN_AI_TOOL_TYPE: "function",
        A.FRAMEWORK: framework,
        A.GEN_AI_AGENT_ID: agent,
        A.ENDUSER_ID: user,
        A.SESSION_ID: session,
        A.GEN_AI_TOOL_CALL_ARGUMENTS: text,
        A.ARGUMENTS_HASH: "sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        A.RESOURCE_IDS: list(resources),
        A.APPROVAL_STATUS: approval,
    }
    if approval == A.APPROVAL_HUMAN:
        attributes[A.APPROVAL_APPROVER] = user
    if credential is not None:
        attributes[A.CREDENTIAL_ID] = credential["id"]
        attributes[A.CREDENTIAL_SCOPES] = list(credential["scopes"])
    if sources:
        attributes[A.SOURCE_REFS] = [ref for ref, _ in sources]
        attributes[A.SOURCE_KINDS] = [kind for _, kind in sources]
        attributes[A.SOURCE_TRUST] = [A.TRUST_UNTRUSTED for _ in sources]
    return attributes


def _mail(day_start: int, rng: random.Random, day: int) -> list[HistoryCall]:
    agent, user = data.INCIDENT_AGENT, data.INCIDENT_USER
    out = []
    for hour in range(0, 24, 2):  # the watcher, around the clock
        ts = day_start + hour * HOUR + rng.randrange(600) * NS
        attributes = _tool("read_inbox", agent=agent, user=user, session=WATCH_SESSION,
                           arguments={"folder": "inbox"}, resources=["mailbox:bob/inbox"],
                           framework="function")  # fmt: skip
        out.append(HistoryCall(ts, "read_inbox", attributes))
    for n, hour in enumerate(sorted(rng.sample(range(7, 20), 5))):  # triage, in office hours
        ts = day_start + hour * HOUR + rng.randrange(3000) * NS
        session = f"sess-bob-triage-{day:02d}{n}"
        credential = data.MAIL_CREDENTIAL
        read = _tool("read_inbox", agent=agent, user=user, session=session,
                     arguments={"folder": "inbox"}, resources=["mailbox:bob/inbox"],
                     credential=credential)  # fmt: skip
        message = f"email:msg-{day:02d}{n}"
        to = rng.choice(CORRESPONDENTS)
        reply = _tool("send_email", agent=agent, user=user, session=session,
                      arguments={"to": to, "subject": "Re: your note", "body": "Thanks, noted."},
                      resources=[to], credential=credential,
                      sources=[(f"tool:read_inbox#call_inbox_{day:02d}{n}", "tool_result"),
                               (message, "email")],
                      approval=A.APPROVAL_HUMAN)  # fmt: skip
        out += [HistoryCall(ts, "read_inbox", read), HistoryCall(ts + 6 * NS, "send_email", reply)]
    return out


def _calendar(first_day: int, rng: random.Random, index: int, day: int) -> list[HistoryCall]:
    """One session; ``index`` picks its hour, so the sessions cover every hour of the day.

    The users plan the days around the quarterly review (:data:`data.DAY`, the day the
    live sessions ask about): the agent's days are few and recur, as the live ones do."""
    agent, user = data.CALENDAR_AGENT, CALENDAR_USERS[index % len(CALENDAR_USERS)]
    ts = first_day + day * DAY + (index % 24) * HOUR + rng.randrange(3000) * NS
    review = dt.date.fromisoformat(data.DAY)
    asked = review + dt.timedelta(
        days=0 if index < 4 else rng.choice((0, 0, 1))
    )  # it, the day after
    resource = f"calendar:{user}/{asked.isoformat()}"
    session = f"sess-{user}-cal-{day:02d}{index % 5}"
    credential = data.CALENDAR_CREDENTIAL
    listing = {"owner": user, "day": asked.isoformat()}
    create = {"owner": user, "title": "Prep: weekly sync", "day": asked.isoformat()}
    steps = [("list_events", listing), ("create_event", create)]
    if rng.random() < 0.5:
        steps.append(("list_events", listing))  # the user looks at the day again
    out = []
    for step, (tool, arguments) in enumerate(steps):
        approval = A.APPROVAL_HUMAN if tool == "create_event" else A.APPROVAL_NONE
        sources = [(f"tool:list_events#call_list_{user}", "tool_result")] if step else []
        at = ts + step * 5 * NS
        client = _tool(tool, agent=agent, user=user, session=session, arguments=arguments,
                       resources=[resource], credential=credential, sources=sources,
                       approval=approval)  # fmt: skip
        server = _tool(tool, agent=agent, user=user, session=session, arguments=arguments,
                       resources=[resource], framework="mcp", approval=approval)  # fmt: skip
        out += [HistoryCall(at, tool, client), HistoryCall(at + NS // 50, tool, server, True)]
    return out


def history(now_ns: int | None = None, *, days: int = DAYS) -> list[HistoryCall]:
    """The demo agents' calls over the ``days`` days before today (UTC), in time order."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    first_day = now_ns - now_ns % DAY - days * DAY
    rng = random.Random(SEED)  # noqa: S311 - a reproducible demo, not a secret
    calls: list[HistoryCall] = []
    for day in range(days):
        calls += _mail(first_day + day * DAY, rng, day)
        for n in range(5):
            calls += _calendar(first_day, rng, day * 5 + n, day)
    calls.sort(key=lambda c: c.ts_ns)
    return calls


def export_history(
    *,
    days: int = DAYS,
    timeout_millis: int = 30_000,
    provider: Any = None,
    now_ns: int | None = None,
) -> int:
    """Export :func:`history` and flush it; the number of spans. Through ``provider`` (an
    SDK ``TracerProvider``) when given, else through the process's provider, which
    ``agentaudit.auto`` sets up (this needs it imported)."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    if provider is None:
        from agentaudit.auto import setup

        setup(eager=True)  # the provider now, not at the first live tool call
        provider = trace.get_tracer_provider()
    tracer = provider.get_tracer("agentaudit.demo.history")
    calls = history(now_ns, days=days)
    for c in calls:
        span = tracer.start_span(
            A.TOOL_SPAN_PREFIX + c.tool,
            kind=SpanKind.SERVER if c.server else SpanKind.INTERNAL,
            attributes=dict(c.attributes),
            start_time=c.ts_ns,
        )
        span.end(end_time=c.ts_ns + 15_000_000)
    flush = getattr(provider, "force_flush", None)
    if flush is not None:
        flush(timeout_millis)
    return len(calls)
