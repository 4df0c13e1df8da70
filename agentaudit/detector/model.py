"""Value types of the detector: the calls it reads and the findings it raises.

Invariant: standard library only; everything the detector and its consumers (alerts,
dashboards, CLI) exchange is one of these, so each part can be built and tested alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from agentaudit.store import QueryResult

__all__ = [
    "ACTIONS",
    "CALL_COLUMNS",
    "SEVERITIES",
    "STATES",
    "Call",
    "CallView",
    "Finding",
    "StoreHandle",
    "severity_at_least",
]

SEVERITIES: Final = ("low", "medium", "high", "critical")
ACTIONS: Final = ("none", "alert", "quarantine", "revoke_credential")
STATES: Final = ("open", "acknowledged", "false_positive", "escalated")

CALL_COLUMNS: Final = (
    "ts", "trace_id", "span_id", "agent_id", "authenticated_agent", "user_id", "session_id",
    "tool_name", "arguments", "arguments_hash", "resource_ids", "source_refs", "source_kinds",
    "source_trust", "untrusted_source", "approval_status", "approval_verified",
    "credential_id", "credential_scopes", "status", "received_at", "batch_id", "duration_ns",
)  # fmt: skip
"""The ``tool_calls`` columns a :class:`Call` is read from, in this order."""


class StoreHandle(Protocol):
    """What the detector needs of a store: trusted queries and Arrow inserts (an
    ``agentaudit.store.Store``, or the collector's through ``channel.RemoteStore``)."""

    def query(self, sql: str, parameters: Any = None) -> QueryResult: ...

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None: ...


def severity_at_least(severity: str, floor: str) -> bool:
    """``high`` is at least ``medium``; unknown severities are below everything."""
    rank = {name: i for i, name in enumerate(SEVERITIES)}
    return rank.get(severity, -1) >= rank.get(floor, len(SEVERITIES))


class CallView(Protocol):
    """What the detector reads of a call: a :class:`Call`, or a row the follower built
    with the same attributes and types (``agentaudit.detector.follower.CallRow``: a plain
    slotted object, several times cheaper to build than the frozen :class:`Call`)."""

    @property
    def ts_ns(self) -> int: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def span_id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def tool_name(self) -> str: ...
    @property
    def authenticated_agent(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def arguments(self) -> str: ...
    @property
    def arguments_hash(self) -> str: ...
    @property
    def resource_ids(self) -> tuple[str, ...]: ...
    @property
    def source_refs(self) -> tuple[str, ...]: ...
    @property
    def source_kinds(self) -> tuple[str, ...]: ...
    @property
    def source_trust(self) -> tuple[str, ...]: ...
    @property
    def untrusted_source(self) -> bool: ...
    @property
    def approval_status(self) -> str: ...
    @property
    def approval_verified(self) -> bool: ...
    @property
    def credential_id(self) -> str: ...
    @property
    def credential_scopes(self) -> tuple[str, ...]: ...
    @property
    def status(self) -> str: ...
    @property
    def received_ns(self) -> int: ...
    @property
    def batch_id(self) -> str: ...
    @property
    def duration_ns(self) -> int: ...
    @property
    def argument_shape(self) -> str | None: ...
    @property
    def argument_realms(self) -> tuple[str, ...] | None: ...
    @property
    def principal(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Call:
    """One stored tool call, as the detector sees it (a ``tool_calls`` row)."""

    ts_ns: int
    trace_id: str
    span_id: str
    agent_id: str
    tool_name: str
    authenticated_agent: str = ""
    user_id: str = ""
    session_id: str = ""
    arguments: str = ""
    arguments_hash: str = ""
    resource_ids: tuple[str, ...] = ()
    source_refs: tuple[str, ...] = ()
    source_kinds: tuple[str, ...] = ()
    source_trust: tuple[str, ...] = ()
    untrusted_source: bool = False
    approval_status: str = "none"
    approval_verified: bool = False
    credential_id: str = ""
    credential_scopes: tuple[str, ...] = ()
    status: str = "ok"
    received_ns: int = 0
    batch_id: str = ""
    duration_ns: int = 0
    argument_shape: str | None = None
    """The top-level keys of ``arguments``, sorted and joined by ``,``, when the reader
    extracted them (the detector's follower lets ClickHouse do it and leaves
    ``arguments`` empty); None: the detector derives them from ``arguments``."""
    argument_realms: tuple[str, ...] | None = None
    """E-mail domains (``@example.com``) and URL hosts (``host:example.com``) named in
    ``arguments``, when the reader extracted them; None: derived from ``arguments``."""

    @property
    def principal(self) -> str:
        """Whose baseline this call belongs to: the authenticated agent when there is
        one (a span cannot move its calls into another agent's baseline), else the
        claimed agent id."""
        return self.authenticated_agent or self.agent_id

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Call:
        """A call from a row of :data:`CALL_COLUMNS` (``ts`` and ``received_at`` as
        datetimes or nanosecond integers)."""
        values = dict(zip(CALL_COLUMNS, row, strict=True))

        def ns(value: Any) -> int:
            if isinstance(value, int):
                return value
            return int(value.timestamp() * 1_000_000_000) if value is not None else 0

        return cls(
            ts_ns=ns(values["ts"]),
            trace_id=str(values["trace_id"]),
            span_id=str(values["span_id"]),
            agent_id=str(values["agent_id"]),
            authenticated_agent=str(values["authenticated_agent"]),
            user_id=str(values["user_id"]),
            session_id=str(values["session_id"]),
            tool_name=str(values["tool_name"]),
            arguments=str(values["arguments"]),
            arguments_hash=str(values["arguments_hash"]),
            resource_ids=tuple(values["resource_ids"]),
            source_refs=tuple(values["source_refs"]),
            source_kinds=tuple(values["source_kinds"]),
            source_trust=tuple(values["source_trust"]),
            untrusted_source=bool(values["untrusted_source"]),
            approval_status=str(values["approval_status"]),
            approval_verified=bool(values["approval_verified"]),
            credential_id=str(values["credential_id"]),
            credential_scopes=tuple(values["credential_scopes"]),
            status=str(values["status"]),
            received_ns=ns(values["received_at"]),
            batch_id=str(values["batch_id"]),
            duration_ns=int(values["duration_ns"]),
        )


@dataclass(frozen=True)
class Finding:
    """One detector finding (a row of ``agentaudit.findings``).

    ``summary`` is one sentence a human understands without the dashboard: what happened,
    against what baseline, why it matters. ``evidence`` holds the figures behind it.
    """

    ts_ns: int
    agent_id: str
    rule: str
    severity: str
    score: float
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    user_id: str = ""
    session_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    tool_name: str = ""
    action: str = "none"
    revocation_id: str = ""
    group_key: str = ""
    finding_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "open"
    updated_ns: int = 0
    """When this version was written (the table's ``updated_at``); 0: not yet."""
    triaged_by: str = ""
    triage_reason: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")
        if self.action not in ACTIONS:
            raise ValueError(f"action {self.action!r} is not one of {ACTIONS}")

    def to_json(self) -> dict[str, Any]:
        return {
            "finding_id": self.finding_id,
            "ts_ns": self.ts_ns,
            "agent_id": self.agent_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "tool_name": self.tool_name,
            "rule": self.rule,
            "severity": self.severity,
            "score": self.score,
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "action": self.action,
            "revocation_id": self.revocation_id,
            "group_key": self.group_key,
            "state": self.state,
            "updated_ns": self.updated_ns,
            "triaged_by": self.triaged_by,
            "triage_reason": self.triage_reason,
        }

    def evidence_json(self) -> str:
        return json.dumps(self.evidence, sort_keys=True, default=str)
