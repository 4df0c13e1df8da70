"""The shapes of the revocation path: requests, alert context, backend results.

Seam: a :class:`RevocationBackend` receives a :class:`RevocationRequest` and returns a
:class:`BackendResult`; it never raises for a remote failure (it retries within its
policy, then reports). Backends that also act on a quarantine release implement
:class:`ReleasingBackend`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

__all__ = [
    "ACTIONS",
    "STATUSES",
    "TARGETS",
    "AlertContext",
    "BackendResult",
    "ReleasingBackend",
    "RevocationBackend",
    "RevocationRequest",
    "overall_status",
]

TARGETS: Final = ("agent", "credential", "session", "user")
ACTIONS: Final = ("revoke", "release")
STATUSES: Final = ("pending", "done", "partial", "failed", "refused")


@dataclass(frozen=True)
class AlertContext:
    """What the triggering tool call did and why: for humans reading the alert."""

    agent: str = ""
    user: str = ""
    session: str = ""
    tool: str = ""
    arguments: str = ""
    resource_ids: tuple[str, ...] = ()
    source_refs: tuple[str, ...] = ()
    source_kinds: tuple[str, ...] = ()
    source_trust: tuple[str, ...] = ()
    approval_status: str = ""
    credential_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    ts: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RevocationRequest:
    """One revocation (or release), as every backend sees it."""

    id: str
    action: str
    target: str
    target_id: str
    reason: str
    requested_by: str
    requested_at: float
    context: AlertContext | None = None
    link: str | None = None

    @property
    def agent(self) -> str:
        if self.target == "agent":
            return self.target_id
        return self.context.agent if self.context else ""

    @property
    def user(self) -> str:
        if self.target == "user":
            return self.target_id
        return self.context.user if self.context else ""

    @property
    def session(self) -> str:
        if self.target == "session":
            return self.target_id
        return self.context.session if self.context else ""


@dataclass(frozen=True)
class BackendResult:
    """The outcome of one backend for one request; ``skipped`` counts as success."""

    backend: str
    ok: bool
    attempts: int
    detail: str
    response: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "attempts": self.attempts,
            "detail": self.detail,
            "response": dict(self.response),
            "errors": list(self.errors),
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, backend: str, data: Mapping[str, Any]) -> BackendResult:
        """Parse :meth:`to_json` output (a stored result); ValueError when malformed."""
        try:
            return cls(
                backend,
                bool(data["ok"]),
                int(data["attempts"]),
                str(data["detail"]),
                dict(data.get("response") or {}),
                tuple(str(e) for e in data.get("errors") or ()),
                bool(data.get("skipped", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"stored result of {backend} is malformed: {exc!r}") from None

    def encoded(self) -> str:
        """The JSON string stored in the ``revocations.results`` map."""
        return json.dumps(self.to_json(), sort_keys=True, default=str)


@runtime_checkable
class RevocationBackend(Protocol):
    """A place a revocation is carried out (deny-list, webhook, Vault, ...)."""

    name: str

    def revoke(self, request: RevocationRequest) -> BackendResult: ...


@runtime_checkable
class ReleasingBackend(Protocol):
    """A backend that also acts when a quarantined agent is released."""

    name: str

    def release(self, request: RevocationRequest) -> BackendResult: ...


def overall_status(results: list[BackendResult] | tuple[BackendResult, ...]) -> str:
    """``done`` when every backend succeeded, ``failed`` when none did, else ``partial``."""
    if all(r.ok for r in results):
        return "done"
    if not any(r.ok and not r.skipped for r in results):
        return "failed"
    return "partial"
