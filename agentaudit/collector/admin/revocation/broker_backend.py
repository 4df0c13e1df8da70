"""The built-in backend: the credential broker's deny-list (by jti, agent, user, session).

Applied in-process before it returns, so the broker refuses the credentials at once and
tool-side verifiers on their next deny-list refresh (< 1 s by default).
"""

from __future__ import annotations

from agentaudit.broker import Broker, BrokerError
from agentaudit.collector.admin.revocation.model import BackendResult, RevocationRequest
from agentaudit.store import StoreError

__all__ = ["BrokerBackend"]


class BrokerBackend:
    """Deny-list revocations through a :class:`~agentaudit.broker.Broker`."""

    def __init__(self, broker: Broker, *, name: str = "broker") -> None:
        self.name = name
        self._broker = broker

    def revoke(self, request: RevocationRequest) -> BackendResult:
        try:
            if request.target == "credential":
                self._broker.revoke(
                    request.target_id, reason=request.reason, revocation_id=request.id
                )
            else:
                self._broker.revoke_principal(
                    request.target,
                    request.target_id,
                    reason=request.reason,
                    revocation_id=request.id,
                )
        except (BrokerError, StoreError, ValueError) as exc:
            return BackendResult(self.name, False, 1, f"deny-list not updated: {exc}")
        return BackendResult(
            self.name, True, 1, f"{request.target} {request.target_id} deny-listed"
        )

    def release(self, request: RevocationRequest) -> BackendResult:
        if request.target == "credential":
            return BackendResult(
                self.name, True, 0, "a credential is never un-revoked", skipped=True
            )
        try:
            self._broker.release_principal(
                request.target, request.target_id, reason=request.reason, revocation_id=request.id
            )
        except (BrokerError, StoreError, ValueError) as exc:
            return BackendResult(self.name, False, 1, f"deny-list not updated: {exc}")
        return BackendResult(
            self.name,
            True,
            1,
            f"{request.target} {request.target_id} may obtain new credentials; "
            "credentials issued before the revocation stay refused",
        )
