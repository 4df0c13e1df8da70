"""The Vault issuer variant: one single-use Vault token per tool call, through ``hvac``.

Instead of a JWT, :class:`VaultIssuer` asks Vault (``POST /v1/auth/token/create``) for
a non-renewable token with the tool's policies, a short ``ttl`` and ``num_uses = 1``,
tagged with the user, agent, tool and resource in its metadata. The credential id is the
token's *accessor* (what the span records, and what a revocation revokes); the token
itself is only handed to the caller.

``hvac`` is optional (``pip install 'agentaudit[broker]'``) and imported on first use.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentaudit.broker._credential import Credential, CredentialClaims
from agentaudit.broker._errors import BrokerError, BrokerUnavailable

__all__ = ["VaultIssuer", "hvac_module", "vault_client"]


def hvac_module() -> Any:
    """The ``hvac`` module, or BrokerUnavailable naming the install command."""
    try:
        return importlib.import_module("hvac")
    except ImportError:
        raise BrokerUnavailable(
            "the Vault integration needs hvac; run: pip install 'agentaudit[broker]'"
        ) from None


def vault_client(
    url: str,
    token: str,
    *,
    namespace: str | None = None,
    timeout: float = 5.0,
    verify: bool | str = True,
) -> Any:
    """An ``hvac.Client`` for ``url`` authenticated with ``token``."""
    if not url.startswith(("http://", "https://")):
        raise BrokerError(f"the Vault address {url!r} is not an http(s) URL")
    if not token:
        raise BrokerError("no Vault token: set the variable named by token_env")
    hvac = hvac_module()
    return hvac.Client(url=url, token=token, namespace=namespace, timeout=timeout, verify=verify)


class VaultIssuer:
    """Mints per-call Vault tokens; ``policies`` maps a tool to its Vault policies."""

    def __init__(
        self,
        client: Any,
        *,
        policies: Mapping[str, Sequence[str]],
        ttl: int = 60,
        num_uses: int = 1,
        mount_point: str = "token",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0 or num_uses <= 0:
            raise BrokerError("a Vault credential needs a positive ttl and num_uses")
        self._client = client
        self._policies = {tool: tuple(p) for tool, p in policies.items()}
        self._ttl = ttl
        self._num_uses = num_uses
        self._mount_point = mount_point
        self._clock = clock

    def mint(
        self,
        *,
        user: str,
        agent: str,
        tool: str,
        resource: str | Sequence[str],
        session: str | None = None,
        ttl: int | None = None,
    ) -> Credential:
        """A Vault token for one call of ``tool``; BrokerError when Vault refuses."""
        policies = self._policies.get(tool)
        if not policies:
            raise BrokerError(f"tool {tool!r} has no Vault policies configured")
        resources = (resource,) if isinstance(resource, str) else tuple(resource)
        lifetime = ttl or self._ttl
        meta = {"user": user, "agent": agent, "tool": tool, "resource": " ".join(resources)}
        if session:
            meta["session"] = session
        hvac = hvac_module()
        try:
            answer = self._client.auth.token.create(
                policies=list(policies),
                meta=meta,
                renewable=False,
                ttl=f"{lifetime}s",
                explicit_max_ttl=f"{lifetime}s",
                num_uses=self._num_uses,
                display_name=f"agentaudit-{agent}-{tool}"[:64],
                mount_point=self._mount_point,
            )
        except (hvac.exceptions.VaultError, OSError) as exc:
            raise BrokerError(f"Vault refused to create a token: {exc}") from None
        try:
            auth = answer["auth"]
            secret, accessor = str(auth["client_token"]), str(auth["accessor"])
            granted = tuple(str(p) for p in auth.get("policies") or policies)
            lease = int(auth.get("lease_duration") or lifetime)
        except (KeyError, TypeError, ValueError):
            raise BrokerError("Vault answered token creation without auth data") from None
        now = int(self._clock())
        claims = CredentialClaims(
            id=accessor,
            user=user,
            agent=agent,
            tool=tool,
            resources=resources,
            scopes=granted,
            issued_at=now,
            expires_at=now + lease,
            issuer="vault",
            session=session,
        )
        return Credential(token=secret, claims=claims)
