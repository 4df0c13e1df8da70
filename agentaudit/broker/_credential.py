"""What a just-in-time credential says, and the credential itself.

Claim layout (a JWT signed with EdDSA): ``iss``; ``sub`` = the user the agent acts for;
``act.sub`` = the agent (RFC 8693 actor claim); ``aud`` = the tool; ``resource`` = the
resource id(s) the call may touch (RFC 8707; a string, or an array for several);
``scope`` = space-separated scopes; ``jti``; ``iat``; ``exp``; ``sid`` = the session,
when there is one.

Invariant: :meth:`Credential.span_attributes` and every ``repr`` carry the credential
id, scopes and expiry, never the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentaudit.schema.attributes import (
    CREDENTIAL_EXPIRES_AT,
    CREDENTIAL_ID,
    CREDENTIAL_SCOPES,
)

__all__ = ["Credential", "CredentialClaims"]


@dataclass(frozen=True)
class CredentialClaims:
    """The verified (or freshly minted) content of a credential."""

    id: str
    user: str
    agent: str
    tool: str
    resources: tuple[str, ...]
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    issuer: str
    session: str | None = None

    def to_jwt_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.user,
            "act": {"sub": self.agent},
            "aud": self.tool,
            "resource": self.resources[0] if len(self.resources) == 1 else list(self.resources),
            "scope": " ".join(self.scopes),
            "jti": self.id,
            "iat": self.issued_at,
            "exp": self.expires_at,
        }
        if self.session:
            claims["sid"] = self.session
        return claims

    @classmethod
    def from_jwt_claims(cls, claims: Mapping[str, Any]) -> CredentialClaims:
        """Parse decoded claims; ValueError names the first malformed one."""
        act = claims.get("act")
        agent = act.get("sub") if isinstance(act, Mapping) else None
        resource = claims.get("resource")
        resources = (resource,) if isinstance(resource, str) else resource
        scope = claims.get("scope", "")
        checks: tuple[tuple[str, bool], ...] = (
            ("sub", isinstance(claims.get("sub"), str)),
            ("act.sub", isinstance(agent, str)),
            ("aud", isinstance(claims.get("aud"), str)),
            (
                "resource",
                isinstance(resources, list | tuple)
                and bool(resources)
                and all(isinstance(r, str) for r in resources),
            ),
            ("scope", isinstance(scope, str)),
            ("jti", isinstance(claims.get("jti"), str)),
            ("iat", isinstance(claims.get("iat"), int)),
            ("exp", isinstance(claims.get("exp"), int)),
            ("iss", isinstance(claims.get("iss"), str)),
            ("sid", claims.get("sid") is None or isinstance(claims.get("sid"), str)),
        )
        for name, ok in checks:
            if not ok:
                raise ValueError(f"claim {name!r} is missing or has the wrong type")
        return cls(
            id=claims["jti"],
            user=claims["sub"],
            agent=str(agent),
            tool=claims["aud"],
            resources=tuple(resources),  # type: ignore[arg-type]
            scopes=tuple(str(scope).split()),
            issued_at=claims["iat"],
            expires_at=claims["exp"],
            issuer=claims["iss"],
            session=claims.get("sid"),
        )

    def span_attributes(self) -> dict[str, Any]:
        """The span attributes of this credential (id, scopes, expiry; never the secret)."""
        return {
            CREDENTIAL_ID: self.id,
            CREDENTIAL_SCOPES: list(self.scopes),
            CREDENTIAL_EXPIRES_AT: self.expires_at,
        }


@dataclass(frozen=True)
class Credential:
    """A minted credential: the bearer ``token`` and what it says."""

    token: str = field(repr=False)
    claims: CredentialClaims

    @property
    def id(self) -> str:
        return self.claims.id

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.claims.scopes

    @property
    def expires_at(self) -> int:
        return self.claims.expires_at

    def span_attributes(self) -> dict[str, Any]:
        return self.claims.span_attributes()
