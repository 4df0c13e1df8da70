"""The agent side: ask the admin process for a credential (``POST /v1/credentials``).

Standard library only, so the base instrumentation install can use it: the agent never
holds a signing key, it presents ``AGENTAUDIT_TOKEN`` and gets a short-lived credential
back. The answer's id, scopes and expiry go on the tool span
(:meth:`Credential.span_attributes`); the token goes only to the tool.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentaudit.broker._credential import Credential, CredentialClaims
from agentaudit.broker._errors import BrokerError, BrokerUnavailable, MintRefused

__all__ = ["CredentialClient"]

DEFAULT_API_URL = "http://127.0.0.1:4320"


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
        environ = os.environ if environ is None else environ
        base = (api_url or environ.get("AGENTAUDIT_API_URL") or DEFAULT_API_URL).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise BrokerError(f"AGENTAUDIT_API_URL {base!r} is not an http(s) URL")
        self._url = base + "/v1/credentials"
        self._token = token if token is not None else environ.get("AGENTAUDIT_TOKEN")
        self._timeout = timeout

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
        body: dict[str, Any] = {"user": user, "agent": agent, "tool": tool}
        body["resource"] = resource if isinstance(resource, str) else list(resource)
        if scopes is not None:
            body["scopes"] = list(scopes)
        if session is not None:
            body["session"] = session
        if ttl is not None:
            body["ttl"] = ttl
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        http_request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self._url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self._timeout) as answer:  # noqa: S310
                data = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BrokerUnavailable(
                f"the credential broker at {self._url} is unreachable: {reason}"
            ) from None
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


def _refusal(exc: urllib.error.HTTPError) -> BrokerError:
    try:
        detail = json.loads(exc.read(4096))
    except ValueError:
        detail = {}
    message = detail.get("error") if isinstance(detail, dict) else None
    message = message or f"HTTP {exc.code}"
    if exc.code == 403:
        return MintRefused(str(detail.get("reason", "refused")), f"no credential: {message}")
    if exc.code == 401:
        return BrokerError(f"no credential: {message} (set AGENTAUDIT_TOKEN)")
    if exc.code >= 500:
        return BrokerUnavailable(f"the credential broker failed: {message}")
    return BrokerError(f"no credential: {message}")
