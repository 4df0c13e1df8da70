"""Requesting a revocation through the admin API (``POST /v1/revocations``).

The dashboard never revokes anything itself: it asks the admin API, which records the
request and drives the backends. Errors come back as :class:`RevocationRequestError`
with a message a responder can act on (API down, token refused, bad request).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.config import DEFAULT_API_URL
from agentaudit.errors import AgentAuditError

__all__ = [
    "TARGETS",
    "RevocationRequest",
    "RevocationRequestError",
    "api_url",
    "build_request",
    "submit",
]

TARGETS: Final = ("agent", "credential", "session", "user")
MAX_ID: Final = 256
MAX_REASON: Final = 2000
TIMEOUT_SECONDS: Final = 10.0


class RevocationRequestError(AgentAuditError):
    """The revocation request was invalid or the admin API did not accept it."""


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


def api_url(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return (environ.get("AGENTAUDIT_API_URL") or DEFAULT_API_URL).rstrip("/")


def build_request(target: str, target_id: str, reason: str, requested_by: str) -> RevocationRequest:
    """Validate the form's values; raise RevocationRequestError naming the bad field."""
    target_id, reason = target_id.strip(), reason.strip()
    if target not in TARGETS:
        raise RevocationRequestError(f"target must be one of {', '.join(TARGETS)}")
    if not target_id:
        raise RevocationRequestError(f"give the {target} id to revoke")
    if len(target_id) > MAX_ID or any(ch < " " for ch in target_id):
        raise RevocationRequestError(
            f"the {target} id must be at most {MAX_ID} printable characters"
        )
    if not reason:
        raise RevocationRequestError("give a reason: it is recorded with the revocation")
    if len(reason) > MAX_REASON:
        raise RevocationRequestError(f"the reason must be at most {MAX_REASON} characters")
    if not requested_by:
        raise RevocationRequestError("the requester is unknown; log in first")
    return RevocationRequest(target, target_id, reason, requested_by)


def submit(
    request: RevocationRequest,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """POST the request; return the API's JSON answer (``{"id", "status"}``)."""
    base = (base_url or api_url()).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise RevocationRequestError(f"AGENTAUDIT_API_URL {base!r} is not an http(s) URL")
    token = os.environ.get("AGENTAUDIT_ADMIN_TOKEN") if token is None else token
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    http_request = urllib.request.Request(  # noqa: S310 - scheme checked above
        f"{base}/v1/revocations",
        data=json.dumps(request.body()).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as response:  # noqa: S310
            payload = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace").strip()
        hint = (
            " (set AGENTAUDIT_ADMIN_TOKEN to a responder token)" if exc.code in (401, 403) else ""
        )
        raise RevocationRequestError(
            f"the admin API refused the revocation: HTTP {exc.code} {detail}{hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RevocationRequestError(
            f"the admin API at {base} is unreachable ({reason}); is `agentaudit up` or "
            "`agentaudit collector` running? Set AGENTAUDIT_API_URL if it runs elsewhere"
        ) from None
    try:
        answer = json.loads(payload or b"{}")
    except ValueError:
        raise RevocationRequestError(
            "the admin API answered with something that is not JSON"
        ) from None
    if not isinstance(answer, dict):
        raise RevocationRequestError("the admin API answered with an unexpected JSON value")
    return answer
