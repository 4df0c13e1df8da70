"""The credential broker: mints per-call credentials and is the deny-list authority.

Security invariant: the broker holds the signing key, so it runs where agents cannot
reach the key — the admin process, or a tool-side service. Agents obtain credentials
over HTTP (``POST /v1/credentials`` with the agent token); they can neither sign their
own nor lift a revocation. Tool servers verify with the public keys (:class:`Verifier`).

A revoke updates the in-memory deny-list before it returns, so a ``verify`` in the same
process refuses the credential at once; remote verifiers see it on their next refresh.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from agentaudit.broker._credential import Credential, CredentialClaims
from agentaudit.broker._denylist import DenyList
from agentaudit.broker._errors import BrokerError, MintRefused
from agentaudit.broker._jose import ALGORITHM, jwt_module
from agentaudit.broker._keys import SigningKey
from agentaudit.broker._verifier import DEFAULT_ISSUER, Verifier
from agentaudit.schema.identifiers import MAX_ID_CHARS, canonical_id

__all__ = ["DEFAULT_TTL", "Broker", "ScopePolicy"]

DEFAULT_TTL = 60
MAX_TTL = 3600
MAX_FIELD = 512


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BrokerError(f"{name} must be a non-empty string")
    if len(value) > MAX_FIELD:
        raise BrokerError(f"{name} is longer than {MAX_FIELD} characters")
    return value.strip()


class ScopePolicy(Protocol):
    """The scopes each agent may be granted per tool (the identity-card catalog:
    :class:`agentaudit.catalog.CatalogScopePolicy`)."""

    def allowed_scopes(self, agent: str, tool: str) -> tuple[str, ...] | None:
        """What ``agent`` may be granted for ``tool``; None: the tool is not the agent's."""
        ...

    def describe(self) -> str:
        """Where the policy comes from, for refusal messages (``catalog FILE``)."""
        ...


class Broker:
    """Mints, verifies and revokes just-in-time credentials; thread-safe.

    ``tool_scopes`` maps a tool to the scopes it may be granted (from the config's
    ``[broker.tools.<tool>] scopes``): a mint asking for more is refused, and a mint
    that asks for none gets them all. A mint asking for scopes for a tool with no entry
    is refused unless ``unknown_tools`` is ``"allow"`` (the broker would otherwise grant
    whatever an agent asks for).

    ``scope_policy``, when given, replaces ``tool_scopes`` and ``unknown_tools``: the
    scopes are decided per (agent, tool). A mint asking for more than the policy allows
    is refused (``scope_not_allowed``), one that asks for none gets what it allows, and
    one asking for scopes for a tool the policy does not give the agent is refused
    (``unknown_tool``) whatever ``unknown_tools`` says; asking for none, it gets a
    credential without scopes, as for an unknown tool.

    Agent ids are compared as principals (:mod:`agentaudit.schema.identifiers`): an id
    that is not printable ASCII is refused, so ``Victim`` or a Cyrillic look-alike cannot
    mint while ``victim`` is revoked or quarantined.
    """

    def __init__(
        self,
        *,
        key: SigningKey | None = None,
        issuer: str = DEFAULT_ISSUER,
        default_ttl: int = DEFAULT_TTL,
        max_ttl: int = MAX_TTL,
        tool_scopes: Mapping[str, Sequence[str]] | None = None,
        denylist: DenyList | None = None,
        clock: Callable[[], float] = time.time,
        unknown_tools: str = "refuse",
        scope_policy: ScopePolicy | None = None,
    ) -> None:
        if unknown_tools not in ("refuse", "allow"):
            raise BrokerError('unknown_tools must be "refuse" or "allow"')
        self.unknown_tools = unknown_tools
        if not 0 < default_ttl <= max_ttl:
            raise BrokerError("the credential lifetime must be between 1 s and max_ttl")
        self._jwt = jwt_module()
        self.key = key or SigningKey.generate()
        self.issuer = issuer
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self._tool_scopes = {tool: tuple(scopes) for tool, scopes in (tool_scopes or {}).items()}
        self.scope_policy = scope_policy
        self._clock = clock
        self.denylist = denylist or DenyList(clock=clock, max_ttl=max_ttl)
        self._issued: dict[str, int] = {}
        self._issued_lock = threading.Lock()
        self._verifier = Verifier(
            self.key.jwks(),
            denylist=self.denylist.snapshot,
            issuer=issuer,
            clock=clock,
            refresh_interval=0.0,  # in-process: always the live deny-list
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWK Set for tool-side verifiers."""
        return self.key.jwks()

    def scopes_for(
        self, tool: str, requested: Iterable[str] | None, *, agent: str = ""
    ) -> tuple[str, ...]:
        """The scopes to grant ``agent`` for ``tool`` (``requested``: None asks for what
        is allowed); MintRefused when it asks for more."""
        wanted = tuple(dict.fromkeys(requested)) if requested is not None else None
        if self.scope_policy is not None:
            return self._policy_scopes(self.scope_policy, agent, tool, wanted)
        configured = self._tool_scopes.get(tool)
        if configured is None:
            if wanted and self.unknown_tools == "refuse":
                raise MintRefused(
                    "unknown_tool",
                    f"tool {tool!r} has no [broker.tools.{tool!r}] entry, so no scope can be "
                    f"granted for it (asked: {' '.join(wanted)}); configure its scopes",
                )
            return wanted or ()
        if wanted is None:
            return configured
        extra = [s for s in wanted if s not in configured]
        if extra:
            raise MintRefused(
                "scope_not_allowed",
                f"tool {tool!r} may not be granted scope {' '.join(extra)} "
                f"(configured: {' '.join(configured) or 'none'})",
            )
        return wanted

    @staticmethod
    def _policy_scopes(
        policy: ScopePolicy, agent: str, tool: str, wanted: tuple[str, ...] | None
    ) -> tuple[str, ...]:
        allowed = policy.allowed_scopes(agent, tool)
        if allowed is None:
            if wanted:
                raise MintRefused(
                    "unknown_tool",
                    f"tool {tool!r} is not on agent {agent!r}'s card ({policy.describe()}), so "
                    f"no scope can be granted for it (asked: {' '.join(wanted)})",
                )
            return ()
        if wanted is None:
            return allowed
        extra = [s for s in wanted if s not in allowed]
        if extra:
            raise MintRefused(
                "scope_not_allowed",
                f"agent {agent!r} may not be granted scope {' '.join(extra)} for tool {tool!r} "
                f"(its card's min_scopes: {' '.join(allowed) or 'none'}; {policy.describe()})",
            )
        return wanted

    def mint(
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
        """A signed credential for one tool call; MintRefused for a denied principal."""
        user, agent, tool = _text("user", user), _text("agent", agent), _text("tool", tool)
        if canonical_id(agent) is None:
            raise MintRefused(
                "invalid_agent",
                f"agent id {agent!r} is not a principal id (printable ASCII, at most "
                f"{MAX_ID_CHARS} characters); no credential issued",
            )
        resources = (resource,) if isinstance(resource, str) else tuple(resource)
        if not resources:
            raise BrokerError("name at least one resource the call touches")
        resources = tuple(_text("resource", r) for r in resources)
        session = _text("session", session) if session is not None else None
        lifetime = self.default_ttl if ttl is None else ttl
        if not 0 < lifetime <= self.max_ttl:
            raise BrokerError(f"ttl must be between 1 and {self.max_ttl} seconds")
        granted = self.scopes_for(tool, scopes, agent=agent)
        snapshot = self.denylist.snapshot()
        for kind, value in (("agent", agent), ("user", user), ("session", session)):
            if snapshot.blocks(kind, value):
                raise MintRefused(
                    "revoked", f"{kind} {value} is revoked or quarantined; no credential issued"
                )
        now = int(self._clock())
        claims = CredentialClaims(
            id=uuid.uuid4().hex,
            user=user,
            agent=agent,
            tool=tool,
            resources=resources,
            scopes=granted,
            issued_at=now,
            expires_at=now + lifetime,
            issuer=self.issuer,
            session=session,
        )
        token = self._jwt.encode(
            claims.to_jwt_claims(),
            self.key.private,
            algorithm=ALGORITHM,
            headers={"kid": self.key.kid, "typ": "at+jwt"},
        )
        with self._issued_lock:
            self._issued = {j: e for j, e in self._issued.items() if e > now}
            self._issued[claims.id] = claims.expires_at
        return Credential(token=token, claims=claims)

    def verify(
        self,
        token: str,
        *,
        tool: str,
        resource: str | Iterable[str],
        scopes: str | Iterable[str] = (),
    ) -> CredentialClaims:
        """See :meth:`Verifier.verify`; uses the live deny-list."""
        return self._verifier.verify(token, tool=tool, resource=resource, scopes=scopes)

    def revoke(self, credential_id: str, *, reason: str = "", revocation_id: str = "") -> None:
        """Deny one credential id (jti); effective for ``verify`` before this returns."""
        credential_id = _text("credential_id", credential_id)
        with self._issued_lock:
            until = self._issued.get(credential_id)
        self.denylist.deny(
            "credential",
            credential_id,
            reason=reason,
            revocation_id=revocation_id,
            until=float(until) if until is not None else None,
        )

    def revoke_principal(
        self, kind: str, value: str, *, reason: str = "", revocation_id: str = ""
    ) -> None:
        """Deny an agent, user or session: its issued credentials and any new mint."""
        if kind not in ("agent", "user", "session"):
            raise BrokerError("kind must be agent, user or session")
        self.denylist.deny(kind, _text(kind, value), reason=reason, revocation_id=revocation_id)

    def release_principal(
        self, kind: str, value: str, *, reason: str = "", revocation_id: str = ""
    ) -> None:
        """Allow minting for a released principal again (old credentials stay refused)."""
        self.denylist.lift(kind, _text(kind, value), reason=reason, revocation_id=revocation_id)

    def describe(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "kid": self.key.kid, "default_ttl": self.default_ttl}
