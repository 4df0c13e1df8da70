"""Audit rows as OCSF events, each carrying where it sits in the chain.

Classes (OCSF 1.8.0 unless noted):

* a tool call (a ``tool_calls`` row, or a tool server's record of a call in
  ``tool_call_server_sides``: ``metadata.log_name`` says which) -> **API Activity**
  (class 6003, category 6 Application Activity) with the **AI Operation** profile
  (``ai_operation``, new in OCSF 1.8): ``activity_id`` 99 Other
  (``activity_name`` "Tool Call": OCSF's API activities are create/read/update/delete and
  a tool call is any of them); ``actor`` = the agent (``app_name``; ``app_uid`` = the
  registered agent whose token sent it), the user it acted for (``actor.user``) and the
  session; ``api.operation`` = the tool, ``api.request.uid`` = the tool-call id (else the
  span id), ``api.request.data`` = the redacted arguments; ``api.service`` and
  ``src_endpoint.svc_name`` = the agent's service; ``message_context`` (AI Operation) = the
  conversation or session, its ``service`` the agent's service, ``ai_role_id`` 3 Tool;
  ``resources`` = the resource ids;
  ``status_id`` Success / Failure (an error, or a call the quarantine blocked:
  ``severity_id`` 3 then); ``metadata.correlation_uid`` = the trace id;
  ``unmapped.agentaudit`` = the provenance (approval and its verification, credential and
  scopes, untrusted sources, prompt/arguments/result hashes, decision, who sent it). No
  ``ai_model``: a tool-call row does not name the model (its ``name`` and ``ai_provider``
  are required when present).
* a revocation or release -> **Entity Management** (class 3004, category 3 Identity &
  Access Management): ``activity_id`` 9 Disable (revoke) / 8 Enable (release) / 99 Other;
  ``entity`` = the target (``type`` agent, credential, user or session; ``uid`` its id);
  ``actor.user`` = the requester; ``status_id`` from the outcome (done Success,
  failed/refused Failure, partial/pending Other); ``message`` = the reason.
* a finding -> **Detection Finding** (class 2004, OCSF 1.5.0), the detector alerts' own
  mapping (:func:`agentaudit.detector.alerts.ocsf.detection_finding`), one event per
  version of the finding (Create for the first, Update for a triage change).

Integrity that survives export: ``unmapped.agentaudit.integrity`` names the event's place
in the evidence — the chain (``tool_calls`` batch chain or ``seal`` chain), its id, the
link number and hash, the batch id (tool calls) or insert time (others), the row's own
hash as the chain computes it, and the columns it covers — so a SIEM copy can be matched
row by row against ``agentaudit verify``'s chain. ``metadata.uid`` is derived from the row
hash: a re-sent event (export is at least once over HTTP) has the same uid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from agentaudit import __version__

__all__ = [
    "OCSF_VERSION",
    "Position",
    "finding_event",
    "revocation_event",
    "tool_call_event",
]

OCSF_VERSION: Final = "1.8.0"
API_ACTIVITY: Final = 6003
ENTITY_MANAGEMENT: Final = 3004
MAX_ARGUMENTS_BYTES: Final = 64 * 1024
_PROVENANCE: Final = (
    "trace_id", "span_id", "parent_span_id", "agent_name", "tool_type", "framework",
    "approval_status", "approver", "approval_verified", "approval_grant_id", "credential_id",
    "credential_scopes", "credential_expires_at", "untrusted_source", "source_refs",
    "source_kinds", "source_trust", "prompt_hash", "arguments_hash", "result_hash",
    "decision", "authentication", "agent_mismatch", "call_side",
)  # fmt: skip


@dataclass(frozen=True)
class Position:
    """Where a row sits in the evidence (see the module docstring)."""

    chain: str  # "tool_calls" | "seal"
    chain_id: str
    seq: int
    chain_hash: str
    row_hash: str
    batch_id: str = ""
    written_us: int = 0
    rows_hash: str = ""
    columns: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "chain": self.chain,
            "chain_id": self.chain_id,
            "seq": self.seq,
            "chain_hash": self.chain_hash,
            "row_hash": self.row_hash,
        }
        if self.batch_id:
            data["batch_id"] = self.batch_id
            data["batch_rows_hash"] = self.rows_hash
        if self.written_us:
            data["written_us"] = self.written_us
        if self.columns:
            data["columns"] = list(self.columns)
        return data

    @property
    def uid(self) -> str:
        return f"{self.chain}:{self.row_hash[:32].lower()}"


def _product(feature: str) -> dict[str, Any]:
    return {
        "name": "agentaudit",
        "vendor_name": "agentaudit",
        "version": __version__,
        "feature": {"name": feature},
    }


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) else ""


def _arguments(raw: str) -> Any:
    if len(raw.encode()) > MAX_ARGUMENTS_BYTES:
        return {"truncated": True, "arguments_bytes": len(raw.encode())}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"text": raw}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def tool_call_event(
    row: Mapping[str, Any],
    position: Position,
    *,
    logged_ms: int,
    log_name: str = "agentaudit.tool_calls",
) -> dict[str, Any]:
    """The API Activity event of one ``tool_calls`` row (times in ``ts_ns``/``duration_ns``),
    or of a tool server's record in ``tool_call_server_sides`` (``log_name`` names it)."""
    ts_ms = int(row["ts_ns"]) // 1_000_000
    duration_ms = int(row.get("duration_ns") or 0) // 1_000_000
    failed = row.get("status") != "ok"
    blocked = row.get("decision") == "blocked" or row.get("status") == "blocked"
    agent = _text(row, "agent_id") or "unknown"
    tool = _text(row, "tool_name") or "unknown"
    service = _text(row, "service_name") or agent
    actor: dict[str, Any] = {"app_name": agent}
    if _text(row, "authenticated_agent"):
        actor["app_uid"] = _text(row, "authenticated_agent")
    if _text(row, "user_id"):
        actor["user"] = {"uid": row["user_id"], "name": row["user_id"]}
    if _text(row, "session_id"):
        actor["session"] = {"uid": row["session_id"]}
    request: dict[str, Any] = {"uid": _text(row, "tool_call_id") or _text(row, "span_id") or "-"}
    if _text(row, "arguments"):
        request["data"] = _arguments(row["arguments"])
    event: dict[str, Any] = {
        "class_uid": API_ACTIVITY,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": 99,
        "activity_name": "Tool Call",
        "type_uid": API_ACTIVITY * 100 + 99,
        "type_name": "API Activity: Other",
        "time": ts_ms,
        "start_time": ts_ms,
        "end_time": ts_ms + duration_ms,
        "duration": duration_ms,
        "severity_id": 3 if blocked else 1,
        "severity": "Medium" if blocked else "Informational",
        "status_id": 2 if failed else 1,
        "status": "Failure" if failed else "Success",
        "message": f"agent {agent} called tool {tool}"
        + (f" for user {row['user_id']}" if _text(row, "user_id") else "")
        + (" (blocked)" if blocked else " (error)" if failed else ""),
        "actor": actor,
        "api": {"operation": tool, "request": request, "service": {"name": service}},
        "src_endpoint": {"svc_name": service, "name": service},
        "message_context": {
            "uid": _text(row, "conversation_id") or _text(row, "session_id") or position.row_hash,
            "name": _text(row, "framework") or "agent",
            "service": {"name": service},
            "ai_role_id": 3,
            "ai_role": "Tool",
        },
        "metadata": {
            "version": OCSF_VERSION,
            "product": _product("audit"),
            "uid": position.uid,
            "log_name": log_name,
            "profiles": ["ai_operation"],
            "logged_time": logged_ms,
        },
        "unmapped": {
            "agentaudit": {
                "provenance": {
                    key: row[key]
                    for key in _PROVENANCE
                    if key in row and row[key] not in ("", None, [])
                },
                "integrity": position.to_json(),
            }
        },
    }
    if _text(row, "error_type"):
        event["status_detail"] = row["error_type"]
    if _text(row, "trace_id"):
        event["metadata"]["correlation_uid"] = row["trace_id"]
    resources = [r for r in row.get("resource_ids") or [] if isinstance(r, str) and r]
    if resources:
        event["resources"] = [{"uid": r, "name": r, "type": "resource"} for r in resources]
    return event


_REVOCATION_ACTIVITY: Final = {"revoke": (9, "Disable"), "release": (8, "Enable")}
_REVOCATION_STATUS: Final = {
    "done": (1, "Success"),
    "failed": (2, "Failure"),
    "refused": (2, "Failure"),
    "partial": (99, "Other"),
    "pending": (0, "Unknown"),
}


def revocation_event(
    row: Mapping[str, Any], position: Position, *, logged_ms: int
) -> dict[str, Any]:
    """The Entity Management event of one ``revocations`` version row (``updated_ms``)."""
    activity_id, activity = _REVOCATION_ACTIVITY.get(_text(row, "action"), (99, "Other"))
    status_id, status = _REVOCATION_STATUS.get(_text(row, "status"), (99, "Other"))
    target, target_id = _text(row, "target") or "unknown", _text(row, "target_id") or "-"
    event: dict[str, Any] = {
        "class_uid": ENTITY_MANAGEMENT,
        "class_name": "Entity Management",
        "category_uid": 3,
        "category_name": "Identity & Access Management",
        "activity_id": activity_id,
        "activity_name": activity if activity_id != 99 else _text(row, "action") or "Other",
        "type_uid": ENTITY_MANAGEMENT * 100 + activity_id,
        "type_name": f"Entity Management: {activity}",
        "time": int(row["updated_ms"]),
        "severity_id": 3 if activity_id == 9 else 1,
        "severity": "Medium" if activity_id == 9 else "Informational",
        "status_id": status_id,
        "status": status,
        "message": f"{_text(row, 'action') or 'change'} {target} {target_id}: "
        f"{_text(row, 'status')}" + (f" ({row['reason']})" if _text(row, "reason") else ""),
        "entity": {"uid": target_id, "name": target_id, "type": target},
        "metadata": {
            "version": OCSF_VERSION,
            "product": _product("revocation"),
            "uid": position.uid,
            "correlation_uid": _text(row, "id") or position.row_hash,
            "log_name": "agentaudit.revocations",
            "logged_time": logged_ms,
        },
        "unmapped": {
            "agentaudit": {
                "revocation_id": _text(row, "id"),
                "action": _text(row, "action"),
                "status": _text(row, "status"),
                "requested_ms": int(row.get("requested_ms") or 0),
                "results": dict(row.get("results") or {}),
                "integrity": position.to_json(),
            }
        },
    }
    if _text(row, "requested_by"):
        event["actor"] = {"user": {"uid": row["requested_by"], "name": row["requested_by"]}}
    if _text(row, "reason"):
        event["comment"] = row["reason"]
    return event


def finding_event(row: Mapping[str, Any], position: Position, *, logged_ms: int) -> dict[str, Any]:
    """The Detection Finding event of one ``findings`` version row (``ts_ns``)."""
    from agentaudit.detector.alerts.alert import Alert
    from agentaudit.detector.alerts.ocsf import detection_finding
    from agentaudit.detector.model import Finding

    try:
        evidence = json.loads(_text(row, "evidence") or "{}")
    except ValueError:
        evidence = {"text": _text(row, "evidence")}
    finding = Finding(
        ts_ns=int(row["ts_ns"]),
        agent_id=_text(row, "agent_id"),
        rule=_text(row, "rule"),
        severity=_text(row, "severity"),
        score=float(row.get("score") or 0.0),
        summary=_text(row, "summary"),
        evidence=evidence if isinstance(evidence, dict) else {"value": evidence},
        user_id=_text(row, "user_id"),
        session_id=_text(row, "session_id"),
        trace_id=_text(row, "trace_id"),
        span_id=_text(row, "span_id"),
        tool_name=_text(row, "tool_name"),
        action=_text(row, "action") or "none",
        revocation_id=_text(row, "revocation_id"),
        group_key=_text(row, "group_key"),
        finding_id=_text(row, "finding_id"),
        state=_text(row, "state") or "open",
        triaged_by=_text(row, "triaged_by"),
        triage_reason=_text(row, "triage_reason"),
    )
    follow_up = bool(_text(row, "triaged_by")) or finding.state != "open"
    alert = Alert(
        finding,
        None,
        incident=finding.group_key or finding.finding_id,
        sequence=1 if follow_up else 0,
        alert_id=position.uid,
    )
    event = detection_finding(alert, logged_ms=logged_ms)
    event["metadata"]["product"]["feature"] = {"name": "detector"}
    event["metadata"]["log_name"] = "agentaudit.findings"
    event["unmapped"]["agentaudit"]["integrity"] = position.to_json()
    return event
