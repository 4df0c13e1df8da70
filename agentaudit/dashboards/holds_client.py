"""The Legal holds page's requests: validated, then sent through the admin API.

The dashboard never records a hold itself: :func:`place` and :func:`release` ask the admin
API (``POST /v1/holds``, ``POST /v1/holds/{id}/release`` through
:class:`agentaudit.client.AdminClient`, with the responder token
``AGENTAUDIT_ADMIN_TOKEN``), which records the hold, rewrites retention and snapshots what
it keeps (docs/evidence.md).

Invariants, as for revocations (:mod:`.revocation_client`): input is checked before
anything is sent (:class:`HoldRequestError`, nothing sent); a request that was sent and
failed raises the client's :class:`~agentaudit.client.AdminApiError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.client import AdminApiError, AdminClient
from agentaudit.dashboards.revocation_client import api_url
from agentaudit.errors import AgentAuditError
from agentaudit.store.evidence.holds import HOLD_KINDS, Hold, HoldError, instant_us

__all__ = [
    "MAX_TEXT",
    "SCOPES",
    "TIMEOUT_SECONDS",
    "HoldRelease",
    "HoldRequest",
    "HoldRequestError",
    "build_hold",
    "build_release",
    "hold_rows",
    "place",
    "release",
]

SCOPES: Final = HOLD_KINDS  # session, agent, user, time
MAX_TEXT: Final = 1024  # the admin API refuses a longer id, reason or requester
TIMEOUT_SECONDS: Final = 60.0  # placing rewrites every table's TTL and seals


class HoldRequestError(AgentAuditError):
    """The hold or release was invalid: nothing was sent."""


@dataclass(frozen=True)
class HoldRequest:
    kind: str
    value: str
    start: str
    end: str
    reason: str
    requested_by: str

    def body(self) -> dict[str, str]:
        scope = {"from": self.start, "to": self.end} if self.kind == "time" else {}
        return {
            "kind": self.kind,
            **({"value": self.value} if self.kind != "time" else scope),
            "reason": self.reason,
            "requested_by": self.requested_by,
        }


@dataclass(frozen=True)
class HoldRelease:
    hold_id: str
    reason: str
    requested_by: str


def _text(value: str, what: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT or not value.isprintable():
        raise HoldRequestError(f"the {what} must be at most {MAX_TEXT} printable characters")
    return value


def _reason(reason: str, requested_by: str, what: str) -> str:
    if not reason.strip():
        raise HoldRequestError(f"give a reason: it is recorded with the {what}")
    if len(reason.strip()) > MAX_TEXT:
        raise HoldRequestError(f"the reason must be at most {MAX_TEXT} characters")
    if not requested_by:
        raise HoldRequestError("the requester is unknown; log in first")
    return reason.strip()


def build_hold(
    kind: str,
    value: str = "",
    *,
    start: str = "",
    end: str = "",
    reason: str,
    requested_by: str,
) -> HoldRequest:
    """Check the form's values; raise HoldRequestError naming what is wrong.

    A session, agent or user hold takes the id (any printable text: it must equal the
    recorded id) and no range; a time hold takes ``start`` and ``end`` (ISO 8601, UTC
    unless they say otherwise, start not after end) and no id.
    """
    if kind not in SCOPES:
        raise HoldRequestError(f"a hold is on one of {', '.join(SCOPES)}")
    value, start, end = _text(value, "id"), _text(start, "start"), _text(end, "end")
    if kind == "time":
        if value:
            raise HoldRequestError("a time-range hold takes From and To, not an id")
        if not start or not end:
            raise HoldRequestError("a time-range hold needs From and To")
        try:
            if not instant_us(start, "From") <= instant_us(end, "To"):
                raise HoldRequestError("a time-range hold needs From no later than To")
        except HoldError as exc:
            raise HoldRequestError(str(exc)) from None
    else:
        if not value:
            raise HoldRequestError(f"give the {kind} id to hold")
        if start or end:
            raise HoldRequestError(f"a {kind} hold takes the {kind} id, not From and To")
    reason = _reason(reason, requested_by, "hold")
    return HoldRequest(kind, value, start, end, reason, requested_by)


def build_release(hold_id: str, reason: str, requested_by: str) -> HoldRelease:
    """Check a release of ``hold_id`` (an id read from the store)."""
    if not hold_id or len(hold_id) > MAX_TEXT or not hold_id.isprintable():
        raise HoldRequestError("the hold id to release is empty or not printable")
    return HoldRelease(hold_id, _reason(reason, requested_by, "release"), requested_by)


def _client(base_url: str | None, token: str | None, timeout: float) -> AdminClient:
    try:
        return AdminClient.for_responder(base_url or api_url(), token=token, timeout=timeout)
    except AdminApiError as exc:
        raise HoldRequestError(str(exc)) from None


def place(
    request: HoldRequest,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """POST the hold; return the hold recorded (``{"hold_id", "kind", ...}``)."""
    answer = _client(base_url, token, timeout).place_hold(request.body())
    hold = answer.get("hold")
    return hold if isinstance(hold, dict) else {}


def release(
    request: HoldRelease,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Release the hold; return it as recorded (``"active": false``)."""
    answer = _client(base_url, token, timeout).release_hold(
        request.hold_id, reason=request.reason, requested_by=request.requested_by
    )
    hold = answer.get("hold")
    return hold if isinstance(hold, dict) else {}


def _when(iso: object) -> str:
    """``2026-11-01T09:00:00.000000Z`` as ``2026-11-01 09:00:00`` (empty for none)."""
    return str(iso).replace("T", " ")[:19] if iso else ""


def hold_rows(holds: Iterable[Hold | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One table row per hold, newest first: state, scope, held, reason, who and when."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for hold in holds:
        data = hold.to_json() if isinstance(hold, Hold) else dict(hold)
        held = (
            f"{_when(data.get('from'))} .. {_when(data.get('to'))} UTC"
            if data.get("kind") == "time"
            else str(data.get("value") or "")
        )
        rows.append(
            (
                str(data.get("placed_at") or ""),
                {
                    "state": "active" if data.get("active") else "released",
                    "scope": str(data.get("kind") or ""),
                    "held": held,
                    "reason": str(data.get("reason") or ""),
                    "placed_by": str(data.get("placed_by") or ""),
                    "placed_at": _when(data.get("placed_at")),
                    "released_at": _when(data.get("released_at")),
                    "released_by": str(data.get("released_by") or ""),
                    "release_reason": str(data.get("release_reason") or ""),
                    "hold_id": str(data.get("hold_id") or ""),
                },
            )
        )
    rows.sort(key=lambda pair: pair[0], reverse=True)
    return [row for _, row in rows]
