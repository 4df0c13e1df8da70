"""What every alert sink receives: a finding, its forensics link and its incident's tally.

Seam: an :class:`AlertSink` takes an :class:`Alert` and delivers it (network, disk) or
raises :class:`AlertDeliveryError`. It may block: the router calls it from that sink's
own worker thread (:class:`~agentaudit.detector.alerts.router.QueuedSink`), never from
the detector's.

Invariant: every string of a finding came from an agent's spans and is hostile. A sink
that renders text for people neutralises it (:mod:`~agentaudit.detector.alerts.chat`); a
sink that writes data encodes it (JSON, ASCII-escaped); none logs it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agentaudit.collector.admin.revocation.context import forensics_link
from agentaudit.collector.admin.revocation.model import AlertContext
from agentaudit.detector.model import Finding
from agentaudit.errors import AgentAuditError

__all__ = ["Alert", "AlertDeliveryError", "AlertError", "AlertSink", "finding_link"]


class AlertError(AgentAuditError):
    """Something went wrong with a detector alert."""


class AlertDeliveryError(AlertError):
    """A sink could not deliver an alert (after its retries)."""


def finding_link(dashboard_url: str | None, finding: Finding) -> str | None:
    """The Session forensics deep link of ``finding``: ``<dashboard>/session?session=<id>``,
    else ``?trace=<id>`` (built by the revocation path's :func:`forensics_link`, so both
    kinds of alert point at the same page; ids are percent-encoded)."""
    context = AlertContext(session=finding.session_id, trace_id=finding.trace_id)
    return forensics_link(dashboard_url, "agent", finding.agent_id, context)


@dataclass(frozen=True)
class Alert:
    """One delivery: a finding of an incident, with the incident's tally so far.

    An incident is the run of duplicate findings the router groups (same ``group_key``,
    else same agent, rule and session). ``sequence`` 0 is its first alert; later ones are
    follow-ups carrying the incident's worst finding (highest severity, then strongest
    action; the newest of equals), how many findings it has (``count``) and how many
    arrived since the previous alert (``new``). ``alert_id`` is stable across retries.
    """

    finding: Finding
    link: str | None = None
    incident: str = ""
    sequence: int = 0
    count: int = 1
    new: int = 1
    first_ts_ns: int = 0
    last_ts_ns: int = 0
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def follow_up(self) -> bool:
        return self.sequence > 0

    @property
    def incident_id(self) -> str:
        """The incident's id: its first finding's ``finding_id``."""
        return self.incident or self.finding.finding_id

    @property
    def first_ns(self) -> int:
        return self.first_ts_ns or self.finding.ts_ns

    @property
    def last_ns(self) -> int:
        return self.last_ts_ns or self.finding.ts_ns

    @classmethod
    def single(cls, finding: Finding, link: str | None = None) -> Alert:
        """The first (and so far only) alert of a new incident."""
        return cls(finding, link, incident=finding.finding_id)


@runtime_checkable
class AlertSink(Protocol):
    """Delivers alerts to one channel (a chat webhook, a SIEM file)."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` (may block; retries within its policy) or raise
        :class:`AlertDeliveryError`."""
        ...

    def close(self) -> None:
        """Release what the sink holds (files); called once, after the last send."""
        ...
