"""The Findings page's triage requests: validated, then sent through the admin API.

The dashboard never writes a finding itself: :func:`triage` asks the admin API
(``POST /v1/findings/{id}/triage`` through :class:`agentaudit.client.AdminClient`, with
the responder token ``AGENTAUDIT_ADMIN_TOKEN``), which writes the new version row and,
for an escalation, starts the revocation of the finding's agent.

Invariants, as for revocations (:mod:`.revocation_client`): input is checked before
anything is sent (:class:`TriageRequestError`, nothing sent); a request that was sent
and failed raises the client's :class:`~agentaudit.client.AdminApiError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentaudit.client import AdminApiError, AdminClient
from agentaudit.dashboards.revocation_client import MAX_REASON, TIMEOUT_SECONDS, api_url
from agentaudit.detector.model import STATES
from agentaudit.errors import AgentAuditError

__all__ = ["TriageRequest", "TriageRequestError", "build_triage", "triage"]


class TriageRequestError(AgentAuditError):
    """The triage was invalid: nothing was sent."""


@dataclass(frozen=True)
class TriageRequest:
    finding_id: str
    state: str
    reason: str
    requested_by: str


def build_triage(finding_id: str, state: str, reason: str, requested_by: str) -> TriageRequest:
    """Check the form's values; raise TriageRequestError naming what is wrong.

    A false positive needs a reason (it becomes an exception for the agent and rule);
    every reason is at most :data:`MAX_REASON` characters.
    """
    reason = reason.strip()
    if state not in STATES:
        raise TriageRequestError(f"the triage state must be one of {', '.join(STATES)}")
    if not finding_id or len(finding_id) > 1000 or not finding_id.isprintable():
        raise TriageRequestError("the finding id is empty or not printable")
    if state == "false_positive" and not reason:
        raise TriageRequestError(
            "give a reason: a false positive becomes an exception for this agent and rule"
        )
    if len(reason) > MAX_REASON:
        raise TriageRequestError(f"the reason must be at most {MAX_REASON} characters")
    if not requested_by:
        raise TriageRequestError("the requester is unknown; log in first")
    return TriageRequest(finding_id, state, reason, requested_by)


def triage(
    request: TriageRequest,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """POST the triage; return the answer (``{"finding": ..., "revocation": ...}``)."""
    try:
        client = AdminClient.for_responder(base_url or api_url(), token=token, timeout=timeout)
    except AdminApiError as exc:
        raise TriageRequestError(str(exc)) from None
    return client.triage_finding(
        request.finding_id,
        state=request.state,
        reason=request.reason,
        requested_by=request.requested_by,
    )
