"""Sessions of tool calls, as an instrumented agent would record them, and as stored.

A :class:`Step` is one tool call of a session: its tool, arguments and resource ids,
and whether its result is untrusted content (an email, a ticket, a web page: ``reads``).
:func:`session` turns steps into :class:`~agentaudit.detector.model.Call` objects with
unique ids, the session's clock (a few seconds of model time between calls) and the
provenance the instrumentation records: once a step has read untrusted content, every
later call of the session names it as a source (``source_refs``, ``untrusted``), as
``agentaudit.record_source`` does; an approval is none, claimed (``human``) or verified.

:func:`stored` sends the calls through what the collector does before the detector sees
them: the span the instrumentation exports, the default redaction (e-mail addresses
pseudonymised, card numbers and IBANs masked) and the ``tool_calls`` row normaliser.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentaudit.detector.model import CALL_COLUMNS, Call

NS = 1_000_000_000
MINUTE = 60 * NS
HOUR = 3600 * NS
DAY = 86_400 * NS
T0 = 1_793_491_200 * NS  # 2026-11-01 00:00 UTC: day 0 of the corpus
REDACTION_KEY = "bench-detector-redaction-key-0123456789"

_ids = itertools.count(1)


@dataclass(frozen=True)
class Step:
    """One tool call of a session."""

    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    resources: tuple[str, ...] = ()
    reads: str = ""
    """The kind of untrusted content this call's result is (``email``, ``ticket``, ...),
    with :attr:`ref` its reference; empty: the result is not untrusted content."""
    ref: str = ""
    approval: str = "none"  # none | human (claimed) | verified


@dataclass(frozen=True)
class Agent:
    """Who makes the calls: the agent, its credential and scopes."""

    name: str
    credential: str = ""
    scopes: tuple[str, ...] = ()
    service: str = ""


def session(
    agent: Agent,
    steps: Sequence[Step],
    start_ns: int,
    *,
    user: str,
    session_id: str,
    rng: random.Random,
    gap: tuple[float, float] = (2.0, 9.0),
    untrusted: Sequence[tuple[str, str]] = (),
) -> list[Call]:
    """The calls of one session; ``untrusted``: (ref, kind) of untrusted content already in
    the model's input before the first call (an injected ticket or e-mail)."""
    sources: list[tuple[str, str]] = list(untrusted)
    calls = []
    ts = start_ns
    for step in steps:
        n = next(_ids)
        arguments = json.dumps(step.arguments, sort_keys=True, separators=(",", ":"), default=str)
        calls.append(
            Call(
                ts_ns=ts,
                trace_id=f"{n:032x}",
                span_id=f"{n:016x}",
                agent_id=agent.name,
                tool_name=step.tool,
                user_id=user,
                session_id=session_id,
                arguments=arguments,
                arguments_hash=f"sha256:{n:064x}",
                resource_ids=step.resources,
                source_refs=tuple(ref for ref, _ in sources),
                source_kinds=tuple(kind for _, kind in sources),
                source_trust=tuple("untrusted" for _ in sources),
                untrusted_source=bool(sources),
                approval_status="human" if step.approval in ("human", "verified") else "none",
                approval_verified=step.approval == "verified",
                credential_id=agent.credential,
                credential_scopes=agent.scopes,
                received_ns=ts + NS,
            )
        )
        if step.reads:
            source = (step.ref or f"tool:{step.tool}#{n}", step.reads)
            if source not in sources:
                sources.append(source)
        ts += int(rng.uniform(*gap) * NS)
    return calls


def _span(call: Call) -> Any:
    from agentaudit.collector.model import VERIFIED_APPROVAL_GRANT, VERIFIED_APPROVER, SpanRecord
    from agentaudit.schema import attributes as A

    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: call.tool_name,
        A.GEN_AI_TOOL_CALL_ARGUMENTS: call.arguments,
        A.GEN_AI_AGENT_ID: call.agent_id,
        A.SESSION_ID: call.session_id,
        A.ENDUSER_ID: call.user_id,
        A.SOURCE_REFS: list(call.source_refs),
        A.SOURCE_KINDS: list(call.source_kinds),
        A.SOURCE_TRUST: list(call.source_trust),
        A.RESOURCE_IDS: list(call.resource_ids),
        A.APPROVAL_STATUS: call.approval_status,
        A.CREDENTIAL_ID: call.credential_id,
        A.CREDENTIAL_SCOPES: list(call.credential_scopes),
        A.ARGUMENTS_HASH: call.arguments_hash,
    }
    verified = (
        {VERIFIED_APPROVAL_GRANT: f"grant-{call.span_id}", VERIFIED_APPROVER: "responder"}
        if call.approval_verified
        else {}
    )
    return SpanRecord(
        trace_id=call.trace_id,
        span_id=call.span_id,
        name=f"execute_tool {call.tool_name}",
        start_ns=call.ts_ns,
        end_ns=call.ts_ns + 1_000_000,
        attributes=attributes,
        resource_attributes={A.SERVICE_NAME: call.agent_id},
        verified=verified,
    )


_redactors: dict[str, Any] = {}
KEEP_EMAILS = "keep_emails"
"""A redaction variant: the default packs with the ``email`` rule disabled (addresses kept,
so their domains are visible to the detector)."""


def stored(calls: Iterable[Call], *, redaction: str = "default") -> list[Call]:
    """The calls as the detector reads them from the store: exported as spans, redacted by
    the default rule packs (a fixed key, so pseudonyms are stable; ``redaction =
    KEEP_EMAILS``: without the e-mail rule), normalised into ``tool_calls`` rows; in the
    same order."""
    from agentaudit.collector.ingest.redaction import Redactor
    from agentaudit.collector.writer.normalise import tool_call_row

    redactor = _redactors.get(redaction)
    if redactor is None:
        section = {"disable": ["email"]} if redaction == KEEP_EMAILS else {}
        redactor = _redactors[redaction] = Redactor.from_config(
            section, environ={"AGENTAUDIT_REDACTION_KEY": REDACTION_KEY}
        )
    calls = list(calls)
    spans = [_span(c) for c in calls]
    for start in range(0, len(spans), 500):
        redactor.redact(spans[start : start + 500])
    out = []
    for span, original in zip(spans, calls, strict=True):
        row = tool_call_row(span, received_ns=original.received_ns)
        row["batch_id"] = "bench"
        out.append(Call.from_row([row[column] for column in CALL_COLUMNS]))
    return out
