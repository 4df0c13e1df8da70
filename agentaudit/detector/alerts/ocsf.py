"""The SIEM sink: OCSF 1.5.0 "Detection Finding" events (class 2004), one JSON line each.

Mapping (* = required by the class):

* ``class_uid``* 2004, ``category_uid``* 2 Findings;
* ``activity_id``* 1 Create for an incident's first alert, 2 Update for a follow-up;
  ``type_uid``* = 200400 + activity;
* ``time``* = the finding's ``ts`` (epoch ms); ``severity_id``* low 2, medium 3, high 4,
  critical 5; ``status_id`` open 1 New, acknowledged / escalated 2 In Progress,
  false_positive 3 Suppressed;
* ``finding_info``*: ``uid``* = the incident (its first finding's id, the same in Create
  and Update), ``title``, ``desc`` = the finding's sentence, ``types`` and ``analytic``
  = the rule (type Behavioral), created / first / last seen, ``related_events_count``,
  ``src_url`` = the forensics deep link;
* ``metadata``*: ``version``* "1.5.0", ``product``* agentaudit (name, vendor, version,
  feature ``detector``), ``uid`` = the alert id, ``correlation_uid`` = the incident,
  ``profiles`` ["security_control"];
* ``action_id`` / ``disposition_id`` (security_control profile): alert = Observed /
  Alert, quarantine = Denied / Quarantined, revoke_credential = Denied / Access Revoked;
* ``evidences``: ``actor`` (``app_name`` = the agent, ``user``, ``session``), ``api``
  (``operation`` = the tool, ``request.uid`` = the span id), ``data`` = the evidence JSON;
* ``resources``: the agent (type ``ai_agent``) and the tool (type ``tool``);
* ``count``, ``start_time``, ``end_time``, ``message``: the incident's tally and sentence;
* ``unmapped.agentaudit``: finding id, score, action, revocation id, group key, trace
  and span ids.

The file. Each event is one line, ASCII-only JSON (a hostile ``\\u2028`` cannot split a
line), appended with one ``write`` and ``fsync``'d before :meth:`OcsfFileSink.send`
returns (alerts are grouped, so they are few; an event counted delivered is on disk).
The file is size-capped: when the next line would take it past ``max_bytes`` it is
rotated like ``logging.handlers.RotatingFileHandler`` (``file`` -> ``file.1`` -> ... ->
``file.<backups>``, the oldest dropped), so a SIEM forwarder tailing by name follows it.
It is created with mode 0600. An ``evidence`` larger than :data:`MAX_EVIDENCE_BYTES` is
replaced by a marker (the full one is in ``agentaudit.findings``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from agentaudit import __version__
from agentaudit.detector.alerts.alert import Alert, AlertDeliveryError

__all__ = ["OCSF_VERSION", "OcsfFileSink", "detection_finding"]

OCSF_VERSION: Final = "1.5.0"
CLASS_UID: Final = 2004
CATEGORY_UID: Final = 2
MAX_EVIDENCE_BYTES: Final = 256 * 1024
MAX_TITLE_CHARS: Final = 200

SEVERITY_IDS: Final = {"low": 2, "medium": 3, "high": 4, "critical": 5}
STATUS: Final = {
    "open": (1, "New"),
    "acknowledged": (2, "In Progress"),
    "escalated": (2, "In Progress"),
    "false_positive": (3, "Suppressed"),
}
ACTION: Final = {
    "none": (3, "Observed", 16, "No Action"),
    "alert": (3, "Observed", 19, "Alert"),
    "quarantine": (2, "Denied", 3, "Quarantined"),
    "revoke_credential": (2, "Denied", 24, "Access Revoked"),
}


def _ms(ts_ns: int) -> int:
    return ts_ns // 1_000_000


def _evidence(alert: Alert) -> Any:
    evidence = dict(alert.finding.evidence)
    size = len(json.dumps(evidence, default=str).encode())
    if size > MAX_EVIDENCE_BYTES:
        return {"truncated": True, "evidence_bytes": size}
    return evidence


def detection_finding(alert: Alert, *, logged_ms: int | None = None) -> dict[str, Any]:
    """The OCSF Detection Finding event of ``alert`` (module doc for the mapping)."""
    finding = alert.finding
    activity_id, activity = (2, "Update") if alert.follow_up else (1, "Create")
    status_id, status = STATUS.get(finding.state, (99, "Other"))
    action_id, action, disposition_id, disposition = ACTION[finding.action]
    first, last = _ms(alert.first_ns), _ms(alert.last_ns)
    title = f"{finding.rule}: agent {finding.agent_id}"
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1] + "…"

    finding_info: dict[str, Any] = {
        "uid": alert.incident_id,
        "title": title,
        "desc": finding.summary,
        "types": [finding.rule],
        "analytic": {"name": finding.rule, "uid": finding.rule, "type_id": 2, "type": "Behavioral"},
        "created_time": first,
        "first_seen_time": first,
        "last_seen_time": last,
        "related_events_count": alert.count,
    }
    if alert.follow_up:
        finding_info["modified_time"] = last
    if alert.link:
        finding_info["src_url"] = alert.link

    actor: dict[str, Any] = {"app_name": finding.agent_id or "unknown"}
    if finding.user_id:
        actor["user"] = {"uid": finding.user_id, "name": finding.user_id}
    if finding.session_id:
        actor["session"] = {"uid": finding.session_id}
    evidence: dict[str, Any] = {
        "name": finding.rule,
        "uid": finding.finding_id,
        "actor": actor,
        "data": _evidence(alert),
    }
    if finding.tool_name:
        api: dict[str, Any] = {"operation": finding.tool_name}
        if finding.span_id:
            api["request"] = {"uid": finding.span_id}
        evidence["api"] = api

    resources: list[dict[str, Any]] = [
        {"uid": finding.agent_id or "unknown", "name": finding.agent_id, "type": "ai_agent"}
    ]
    if finding.tool_name:
        resources.append({"name": finding.tool_name, "type": "tool"})

    return {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"Detection Finding: {activity}",
        "time": _ms(finding.ts_ns),
        "severity_id": SEVERITY_IDS[finding.severity],
        "severity": finding.severity.capitalize(),
        "status_id": status_id,
        "status": status,
        "message": finding.summary,
        "is_alert": True,
        "count": alert.count,
        "start_time": first,
        "end_time": last,
        "action_id": action_id,
        "action": action,
        "disposition_id": disposition_id,
        "disposition": disposition,
        "finding_info": finding_info,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "agentaudit",
                "vendor_name": "agentaudit",
                "version": __version__,
                "feature": {"name": "detector"},
            },
            "uid": alert.alert_id,
            "correlation_uid": alert.incident_id,
            "log_name": "agentaudit.findings",
            "profiles": ["security_control"],
            "logged_time": logged_ms if logged_ms is not None else int(time.time() * 1000),
        },
        "evidences": [evidence],
        "resources": resources,
        "unmapped": {
            "agentaudit": {
                "finding_id": finding.finding_id,
                "score": finding.score,
                "action": finding.action,
                "revocation_id": finding.revocation_id,
                "group_key": finding.group_key,
                "trace_id": finding.trace_id,
                "span_id": finding.span_id,
                "sequence": alert.sequence,
                "new": alert.new,
            }
        },
    }


class OcsfFileSink:
    """Appends each alert as an OCSF JSON line to ``path``, fsync'd, rotated by size.

    Opens (creating, mode 0600) at construction, so a bad path fails at start-up; raises
    OSError then. ``send`` raises AlertDeliveryError when the write fails. Thread-safe.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        backups: int = 5,
        name: str = "ocsf",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("max_bytes must be positive and backups not negative")
        self.name = name
        self.path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = self._open()

    def __repr__(self) -> str:
        return f"OcsfFileSink({str(self.path)!r})"

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        return os.open(self.path, flags, 0o600)

    def send(self, alert: Alert) -> None:
        event = detection_finding(alert, logged_ms=int(self._clock() * 1000))
        line = (json.dumps(event, ensure_ascii=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._closed:
                raise AlertDeliveryError(f"{self.name}: the sink is closed")
            try:
                if self._fd is None:  # a rotation failed to reopen: try again
                    self._fd = self._open()
                size = os.fstat(self._fd).st_size
                if size and size + len(line) > self._max_bytes:
                    self._rotate()
                os.write(self._fd, line)
                os.fsync(self._fd)
            except OSError as exc:
                raise AlertDeliveryError(f"{self.name}: cannot write {self.path}: {exc}") from exc

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        if self._backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for index in range(self._backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._fd = self._open()
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the renames and the new file survive a crash
        finally:
            os.close(directory)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
