"""The agent side: ask the admin process for a credential (``POST /v1/credentials``).

Standard library only, so the base instrumentation install can use it: the agent never
holds a signing key, it presents ``AGENTAUDIT_TOKEN`` and gets a short-lived credential
back. The answer's id, scopes and expiry go on the tool span
(:meth:`Credential.span_attributes`); the token goes only to the tool.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from agentaudit.broker._credential import Credential, CredentialClaims
from agentaudit.broker._errors import BrokerError, BrokerUnavailable, MintRefused
from agentaudit.client import AdminApiError, AdminApiRefused, AdminClient

__all__ = ["CredentialClient"]


class CredentialClient:
    """Requests credentials from the admin API; thread-safe (no shared state)."""

    def __init__(
        self,
        api_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        try:
            self._client = AdminClient(
                api_url or env.get("AGENTAUDIT_API_URL") or None,
                token=token if token is not None else env.get("AGENTAUDIT_TOKEN") or None,
                timeout=timeout,
                token_variable="AGENTAUDIT_TOKEN",  # noqa: S106 - a variable's name
            )
        except AdminApiError as exc:
            raise BrokerError(str(exc)) from None

    def request(
        self,
        *,
        user: str,
        agent: str,
        tool: str,
        resource: str | Sequence[str],
        scopes: Iterable[str] | None = None,
        session: str | None = None,
        ttl: int | None = None,
    ) -> Credential:
        """A credential for one tool call; MintRefused when the broker says no."""
        try:
            data = self._client.request_credential(
                user=user,
                agent=agent,
                tool=tool,
                resource=resource,
                scopes=None if scopes is None else list(scopes),
                session=session,
                ttl=ttl,
            )
        except AdminApiRefused as exc:
            raise _refusal(exc) from None
        except AdminApiError as exc:
            raise BrokerUnavailable(f"the credential broker is unreachable: {exc}") from None
        try:
            claims = CredentialClaims(
                id=str(data["credential_id"]),
                user=user,
                agent=agent,
                tool=str(data["tool"]),
                resources=tuple(str(r) for r in data["resource"]),
                scopes=tuple(str(s) for s in data["scopes"]),
                issued_at=int(data["issued_at"]),
                expires_at=int(data["expires_at"]),
                issuer="agentaudit",
                session=session,
            )
            return Credential(token=str(data["token"]), claims=claims)
        except (KeyError, TypeError, ValueError):
            raise BrokerUnavailable("the credential broker answered an unexpected shape") from None


def _refusal(exc: AdminApiRefused) -> BrokerError:
    message = str(exc.body.get("error") or f"HTTP {exc.status}")
    if exc.status == 403:
        return MintRefused(exc.reason or "refused", f"no credential: {message}")
    if exc.status == 401:
        return BrokerError(f"no credential: {message} (set AGENTAUDIT_TOKEN)")
    if exc.status >= 500:
        return BrokerUnavailable(f"the credential broker failed: {message}")
    return BrokerError(f"no credential: {message}")
