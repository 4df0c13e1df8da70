"""The dashboard's revocation forms: validated requests, and readers of the answers.

The dashboard never revokes anything itself: it asks the admin API (through the one
client, :class:`agentaudit.client.AdminClient`), which records the request and drives the
backends: :func:`submit` a revocation, :func:`retry` its failed backends, :func:`release`
a quarantined agent, each with the responder token ``AGENTAUDIT_ADMIN_TOKEN``.

Invariants: input is validated before anything is sent (a bad field raises
:class:`RevocationRequestError` and sends nothing); a request that was sent and failed
raises the client's :class:`~agentaudit.client.AdminApiError` (unreachable, timeout,
refused with the HTTP status), whose message a responder can act on.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.client import (
    AdminApiError,
    AdminApiRefused,
    AdminApiTimeout,
    AdminApiUnreachable,
    AdminClient,
)
from agentaudit.config import DEFAULT_API_URL
from agentaudit.errors import AgentAuditError

__all__ = [
    "ID_CHARACTERS",
    "MAX_ID",
    "MAX_REASON",
    "TARGETS",
    "TIMEOUT_SECONDS",
    "AdminApiError",
    "AdminApiRefused",
    "AdminApiTimeout",
    "AdminApiUnreachable",
    "ReleaseRequest",
    "RevocationRequest",
    "RevocationRequestError",
    "api_url",
    "backend_rows",
    "build_release",
    "build_request",
    "release",
    "retry",
    "submit",
    "summarise_results",
]

TARGETS: Final = ("agent", "credential", "session", "user")
MAX_ID: Final = 256
MAX_REASON: Final = 1000  # the admin API refuses longer fields
TIMEOUT_SECONDS: Final = 30.0  # a revocation waits for webhook and Vault retries
ID_CHARACTERS: Final = "letters, digits and . _ : @ + = / -"
_ID: Final = re.compile(r"[^\W_][\w.:@+=/-]*")
_REVOCATION_ID: Final = re.compile(r"[A-Za-z0-9-]{1,64}")


class RevocationRequestError(AgentAuditError):
    """The request was invalid: nothing was sent."""


@dataclass(frozen=True)
class RevocationRequest:
    target: str
    id: str
    reason: str
    requested_by: str

    def body(self) -> dict[str, str]:
        return {
            "target": self.target,
            "id": self.id,
            "reason": self.reason,
            "requested_by": self.requested_by,
        }


@dataclass(frozen=True)
class ReleaseRequest:
    agent: str
    reason: str
    requested_by: str

    def body(self) -> dict[str, str]:
        return {"reason": self.reason, "requested_by": self.requested_by}


def api_url(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return (environ.get("AGENTAUDIT_API_URL") or DEFAULT_API_URL).rstrip("/")


def _reason_and_requester(reason: str, requested_by: str, what: str) -> str:
    reason = reason.strip()
    if not reason:
        raise RevocationRequestError(f"give a reason: it is recorded with the {what}")
    if len(reason) > MAX_REASON:
        raise RevocationRequestError(f"the reason must be at most {MAX_REASON} characters")
    if not requested_by:
        raise RevocationRequestError("the requester is unknown; log in first")
    return reason


def build_request(target: str, target_id: str, reason: str, requested_by: str) -> RevocationRequest:
    """Validate the form's values; raise RevocationRequestError naming the bad field.

    A typed id must be at most :data:`MAX_ID` characters of :data:`ID_CHARACTERS`, so a
    pasted fragment of SQL, markup or a URL is refused before anything is sent.
    """
    target_id = target_id.strip()
    if target not in TARGETS:
        raise RevocationRequestError(f"target must be one of {', '.join(TARGETS)}")
    if not target_id:
        raise RevocationRequestError(f"give the {target} id to revoke")
    if len(target_id) > MAX_ID or not target_id.isprintable():
        raise RevocationRequestError(
            f"the {target} id must be at most {MAX_ID} printable characters"
        )
    segments = target_id.split("/")
    if not _ID.fullmatch(target_id) or any(s in ("", ".", "..") for s in segments):
        raise RevocationRequestError(
            f"the {target} id {target_id!r} is not an id: use only {ID_CHARACTERS}, "
            "starting with a letter or digit"
        )
    reason = _reason_and_requester(reason, requested_by, "revocation")
    return RevocationRequest(target, target_id, reason, requested_by)


def build_release(agent: str, reason: str, requested_by: str) -> ReleaseRequest:
    """Validate a release of ``agent`` (an id read from the store, so any printable id)."""
    if not agent or len(agent) > 1000 or not agent.isprintable():
        raise RevocationRequestError("the agent id to release is empty or not printable")
    reason = _reason_and_requester(reason, requested_by, "release")
    return ReleaseRequest(agent, reason, requested_by)


def _client(base_url: str | None, token: str | None, timeout: float) -> AdminClient:
    try:
        return AdminClient.for_responder(base_url or api_url(), token=token, timeout=timeout)
    except AdminApiError as exc:
        raise RevocationRequestError(str(exc)) from None


def submit(
    request: RevocationRequest,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """POST the revocation; return the outcome (``{"id", "action", "status", "results", ...}``)."""
    return _client(base_url, token, timeout).revoke(
        request.target, request.id, reason=request.reason, requested_by=request.requested_by
    )


def retry(
    revocation_id: str,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Run the failed backends of a revocation or release again; return the new outcome."""
    if not _REVOCATION_ID.fullmatch(revocation_id):
        raise RevocationRequestError(f"{revocation_id!r} is not a revocation id")
    return _client(base_url, token, timeout).retry(revocation_id)


def release(
    request: ReleaseRequest,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """DELETE the agent's quarantine; return the outcome (``"action": "release"``)."""
    return _client(base_url, token, timeout).release(
        request.agent, reason=request.reason, requested_by=request.requested_by
    )


# --- reading the answers ------------------------------------------------------------


def _describe(name: str, result: Mapping[str, Any]) -> dict[str, Any]:
    errors = result.get("errors") or []
    return {
        "backend": name,
        "ok": bool(result.get("ok")),
        "attempts": int(result.get("attempts") or 0),
        "detail": str(result.get("detail", "")),
        "errors": "; ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors),
    }


def backend_rows(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per backend of an outcome: backend, ok, attempts, detail, errors."""
    results = answer.get("results")
    if not isinstance(results, Mapping):
        return []
    return [
        _describe(str(name), result if isinstance(result, Mapping) else {"detail": str(result)})
        for name, result in results.items()
    ]


def summarise_results(results: Mapping[str, str] | None) -> str:
    """A stored ``results`` map (backend → JSON) as one line: ``broker: ok; vault: FAILED…``."""
    parts: list[str] = []
    for name, encoded in sorted((results or {}).items()):
        try:
            parsed = json.loads(encoded)
        except ValueError:
            parsed = None
        if not isinstance(parsed, Mapping):
            parts.append(f"{name}: {encoded}")
            continue
        row = _describe(name, parsed)
        attempts = row["attempts"]
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if row["ok"]:
            parts.append(f"{name}: ok ({tries}) {row['detail']}".rstrip())
        else:
            parts.append(f"{name}: FAILED after {tries}: {row['detail'] or row['errors']}")
    return "; ".join(parts)
