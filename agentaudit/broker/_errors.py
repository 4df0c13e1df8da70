"""Errors of the credential broker: one hierarchy, each with an actionable message."""

from __future__ import annotations

from agentaudit.errors import AgentAuditError, ExitCode

__all__ = [
    "BrokerError",
    "BrokerUnavailable",
    "CredentialRefused",
    "MintRefused",
]


class BrokerError(AgentAuditError):
    """The broker cannot do what was asked."""


class BrokerUnavailable(BrokerError):
    """An optional dependency of the broker is missing, or a remote part is unreachable."""

    exit_code = ExitCode.UNAVAILABLE


class MintRefused(BrokerError):
    """No credential may be minted for this request (denied principal, scope not allowed)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CredentialRefused(BrokerError):
    """A presented credential is not valid for this tool call.

    ``reason`` is a stable code: ``malformed``, ``unknown_key``, ``bad_signature``,
    ``wrong_issuer``, ``expired``, ``not_yet_valid``, ``wrong_audience``,
    ``wrong_resource``, ``revoked``, ``denylist_unavailable`` or
    ``insufficient_scope`` (then ``missing_scopes`` names what the call needs).
    """

    def __init__(self, reason: str, message: str, *, missing_scopes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.missing_scopes = missing_scopes
