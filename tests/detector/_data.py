"""Synthetic agent traffic for the detector's tests: calls, a normal history, spans.

``History`` makes an agent's ordinary days (working hours, a few sessions, each reading
a ticket and answering 1-3 known recipients); tests add an attack or its near-miss
benign twin on top. ``store_calls`` writes calls through the real writer (rows, batch
ids and audit-chain links exactly as the collector stores them).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentaudit.detector.model import Call

NS = 1_000_000_000
MINUTE = 60 * NS
HOUR = 3600 * NS
DAY = 86_400 * NS
T0 = 1_790_000_000 * NS - (1_790_000_000 * NS) % DAY  # a midnight, UTC

_ids = itertools.count(1)


def call(agent: str = "support-bot", tool: str = "send_email", ts: int = T0, **fields: Any) -> Call:
    """One call with unique trace/span ids; ``arguments`` may be a dict."""
    n = next(_ids)
    arguments = fields.pop("arguments", {"to": "x", "subject": "s", "body": "b"})
    if isinstance(arguments, dict):
        arguments = json.dumps(arguments, sort_keys=True)
    values: dict[str, Any] = {
        "trace_id": f"{n:032x}",
        "span_id": f"{n:016x}",
        "session_id": "s-1",
        "user_id": "alice",
        "arguments": arguments,
        "arguments_hash": "sha256:" + hashlib.sha256(arguments.encode()).hexdigest(),
        "source_refs": ("user:turn-1",),
        "source_kinds": ("user",),
        "source_trust": ("user",),
        "credential_id": "cred-1",
        "credential_scopes": ("mail.send",),
        "received_ns": ts + NS,
    }
    values.update(fields)
    return Call(
        ts_ns=ts,
        trace_id=values.pop("trace_id"),
        span_id=values.pop("span_id"),
        agent_id=agent,
        tool_name=tool,
        **values,
    )


def untrusted(c: Call, ref: str = "ticket:T-5512") -> Call:
    """The same call, prompted by untrusted content ``ref``, with no approval."""
    return replace(
        c,
        source_refs=(ref,),
        source_kinds=("ticket",),
        source_trust=("untrusted",),
        untrusted_source=True,
        approval_status="none",
        approval_verified=False,
    )


@dataclass
class History:
    """An agent's ordinary traffic: ``days`` days from ``start``, 09:00-17:00 UTC."""

    agent: str = "support-bot"
    start: int = T0
    days: int = 10
    sessions_per_day: int = 8
    recipients: Sequence[str] = field(
        default_factory=lambda: [f"mailbox:c{i}@company.example" for i in range(12)]
    )
    seed: int = 7
    authenticated: bool = False
    first_hour: int = 9
    hours: int = 8  # sessions are spread over [first_hour, first_hour + hours)

    def calls(self) -> list[Call]:
        rng = random.Random(self.seed)
        out: list[Call] = []
        extra = {"authenticated_agent": self.agent} if self.authenticated else {}
        for day in range(self.days):
            for s in range(self.sessions_per_day):
                hour = self.first_hour + s * self.hours // self.sessions_per_day
                ts = self.start + day * DAY + hour * HOUR + rng.randint(0, 50) * MINUTE
                session = f"{self.agent}-{day}-{s}"
                out.append(
                    call(
                        self.agent,
                        "read_ticket",
                        ts,
                        session_id=session,
                        resource_ids=(f"ticket:T-{day}{s}",),
                        arguments={"id": f"T-{day}{s}"},
                        credential_scopes=("tickets.read",),
                        **extra,
                    )
                )
                for _r in range(rng.randint(1, 3)):
                    ts += 20 * NS
                    to = rng.choice(self.recipients)
                    out.append(
                        call(
                            self.agent,
                            "send_email",
                            ts,
                            session_id=session,
                            resource_ids=(to,),
                            **extra,
                        )
                    )
        out.sort(key=lambda c: c.ts_ns)
        return out

    @property
    def end(self) -> int:
        return self.start + self.days * DAY


def after(history: History, *, day: int = 0, hour: int = 10) -> int:
    """A moment ``day`` days after the history's last day, at ``hour`` UTC."""
    return history.end + day * DAY + hour * HOUR


def span_of(c: Call) -> Any:
    """The SpanRecord the instrumentation would have sent for ``c`` (as the collector
    would have received it: authenticated when ``authenticated_agent`` is set)."""
    from agentaudit.collector.model import VERIFIED_AGENT, VERIFIED_PRINCIPAL, SpanRecord
    from agentaudit.schema import attributes as A

    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: c.tool_name,
        A.GEN_AI_TOOL_CALL_ARGUMENTS: c.arguments,
        A.GEN_AI_AGENT_ID: c.agent_id,
        A.SESSION_ID: c.session_id,
        A.ENDUSER_ID: c.user_id,
        A.SOURCE_REFS: list(c.source_refs),
        A.SOURCE_KINDS: list(c.source_kinds),
        A.SOURCE_TRUST: list(c.source_trust),
        A.RESOURCE_IDS: list(c.resource_ids),
        A.APPROVAL_STATUS: c.approval_status,
        A.CREDENTIAL_ID: c.credential_id,
        A.CREDENTIAL_SCOPES: list(c.credential_scopes),
        A.ARGUMENTS_HASH: c.arguments_hash,
    }
    verified = (
        {VERIFIED_PRINCIPAL: "agent", VERIFIED_AGENT: c.authenticated_agent}
        if c.authenticated_agent
        else {}
    )
    return SpanRecord(
        trace_id=c.trace_id,
        span_id=c.span_id,
        name=f"execute_tool {c.tool_name}",
        start_ns=c.ts_ns,
        end_ns=c.ts_ns + 1000,
        attributes=attributes,
        resource_attributes={A.SERVICE_NAME: "support"},
        verified=verified,
    )


def store_calls(
    store: Any,
    calls: Iterable[Call],
    *,
    batch: int = 500,
    chain_id: str = "",
    on_stored: Any = None,
) -> int:
    """Write ``calls`` through the real writer in batches of ``batch``, each received at
    its ``received_ns``; the number of batches (each is one audit-chain link).
    ``on_stored``: the writer's hook."""
    from agentaudit.collector.wal.log import Checkpoint
    from agentaudit.collector.writer.writer import Writer
    from agentaudit.store.audit_chain import AuditChain

    writer = Writer(store, batch_rows=batch, chain=AuditChain(store), on_stored=on_stored)
    if chain_id:
        writer._checkpoint = Checkpoint(chain_id=chain_id)
    for c in calls:  # each received when the call says (the detector's clock needs it)
        writer.enqueue([span_of(c)], received_ns=c.received_ns or None)
    before = writer.stats.batches_written
    writer.flush()
    return writer.stats.batches_written - before
