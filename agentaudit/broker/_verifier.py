"""Tool-side verification of just-in-time credentials with the broker's PUBLIC keys.

A tool server holds no secret: it gets the JWKS (``GET /v1/jwks``) and a deny-list
source (a callable returning a :class:`DenySnapshot`, e.g. :class:`HttpDenyListSource`
over ``GET /v1/denylist``). Checks, in order: header and signature (EdDSA only),
issuer, expiry and issue time against the injected clock, audience = tool, resource,
deny-list, scopes. Every refusal is a :class:`CredentialRefused` with a stable reason.

Freshness invariant: the deny-list is refreshed at most every ``refresh_interval``
seconds (default 0.5 s, so a revoke takes effect in under a second); when refreshing
fails for longer than ``max_staleness`` seconds, every credential is refused
(``denylist_unavailable``) rather than trusting a stale list.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentaudit.broker._credential import CredentialClaims
from agentaudit.broker._denylist import DenySnapshot
from agentaudit.broker._errors import BrokerUnavailable, CredentialRefused
from agentaudit.broker._jose import ALGORITHM, jwt_module
from agentaudit.broker._keys import public_keys_from_jwks

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["DEFAULT_ISSUER", "HttpDenyListSource", "Verifier", "fetch_jwks"]

DEFAULT_ISSUER = "agentaudit"
DenySource = Callable[[], DenySnapshot]


def _as_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


class Verifier:
    """Verifies credentials for tool calls; thread-safe."""

    def __init__(
        self,
        jwks: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        denylist: DenySource,
        issuer: str = DEFAULT_ISSUER,
        clock: Callable[[], float] = time.time,
        leeway: float = 0.0,
        refresh_interval: float = 0.5,
        max_staleness: float = 30.0,
    ) -> None:
        self._jwt = jwt_module()
        self._keys: dict[str, Ed25519PublicKey] = public_keys_from_jwks(jwks)
        self._denylist_source = denylist
        self._issuer = issuer
        self._clock = clock
        self._leeway = leeway
        self._refresh_interval = refresh_interval
        self._max_staleness = max_staleness
        self._lock = threading.Lock()
        self._snapshot: DenySnapshot | None = None
        self._fetched_at = float("-inf")
        self._last_ok = float("-inf")

    def _deny_snapshot(self) -> DenySnapshot:
        now = self._clock()
        with self._lock:
            if self._snapshot is not None and now - self._fetched_at < self._refresh_interval:
                return self._snapshot
            self._fetched_at = now
            try:
                self._snapshot = self._denylist_source()
                self._last_ok = now
            except Exception as exc:
                if self._snapshot is None or now - self._last_ok > self._max_staleness:
                    raise CredentialRefused(
                        "denylist_unavailable",
                        f"the deny-list cannot be refreshed ({exc}); refusing credentials "
                        "until it can",
                    ) from None
            return self._snapshot

    def decode(self, token: str) -> CredentialClaims:
        """Check signature, issuer and lifetime; return the claims (no tool checks)."""
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise CredentialRefused("malformed", "the credential is not a JWT") from None
        if header.get("alg") != ALGORITHM:
            raise CredentialRefused("malformed", f"the credential must be signed with {ALGORITHM}")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise CredentialRefused(
                "unknown_key", "the credential was signed with a key this verifier does not know"
            )
        try:
            raw = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                options={
                    "verify_exp": False,  # checked below against the injected clock
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,  # checked below against the tool
                    "verify_iss": False,
                    "require": ["exp", "iat", "jti", "aud", "sub", "iss"],
                },
            )
        except jwt.InvalidSignatureError:
            raise CredentialRefused(
                "bad_signature", "the credential's signature is invalid"
            ) from None
        except jwt.PyJWTError as exc:
            raise CredentialRefused("malformed", f"the credential is malformed: {exc}") from None
        try:
            claims = CredentialClaims.from_jwt_claims(raw)
        except ValueError as exc:
            raise CredentialRefused("malformed", f"the credential is malformed: {exc}") from None
        if claims.issuer != self._issuer:
            raise CredentialRefused(
                "wrong_issuer", f"the credential was not issued by {self._issuer}"
            )
        now = self._clock()
        if now >= claims.expires_at + self._leeway:
            raise CredentialRefused("expired", f"credential {claims.id} has expired")
        if claims.issued_at > now + self._leeway:
            raise CredentialRefused("not_yet_valid", f"credential {claims.id} is not valid yet")
        return claims

    def verify(
        self,
        token: str,
        *,
        tool: str,
        resource: str | Iterable[str],
        scopes: str | Iterable[str] = (),
    ) -> CredentialClaims:
        """The claims when ``token`` may be used for ``tool`` on ``resource`` with ``scopes``.

        Raises CredentialRefused otherwise; a missing scope is ``insufficient_scope``
        with ``missing_scopes`` set, so a server can answer with a step-up challenge.
        """
        claims = self.decode(token)
        if claims.tool != tool:
            raise CredentialRefused(
                "wrong_audience",
                f"credential {claims.id} is for tool {claims.tool!r}, not {tool!r}",
            )
        wanted = _as_tuple(resource)
        if not wanted:
            raise CredentialRefused("wrong_resource", "name the resource the call touches")
        outside = [r for r in wanted if r not in claims.resources]
        if outside:
            raise CredentialRefused(
                "wrong_resource", f"credential {claims.id} does not cover resource {outside[0]!r}"
            )
        refusal = self._deny_snapshot().refusal(claims)
        if refusal is not None:
            raise CredentialRefused("revoked", refusal)
        missing = tuple(s for s in _as_tuple(scopes) if s not in claims.scopes)
        if missing:
            raise CredentialRefused(
                "insufficient_scope",
                f"credential {claims.id} lacks scope {' '.join(missing)}",
                missing_scopes=missing,
            )
        return claims


def _get_json(url: str, token: str | None, timeout: float) -> Any:
    if not url.startswith(("http://", "https://")):
        raise BrokerUnavailable(f"{url!r} is not an http(s) URL")
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise BrokerUnavailable(f"GET {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BrokerUnavailable(f"GET {url} failed: {getattr(exc, 'reason', exc)}") from None


def fetch_jwks(api_url: str, *, token: str | None = None, timeout: float = 5.0) -> Any:
    """The broker's public JWK Set from the admin API (``GET {api_url}/v1/jwks``)."""
    return _get_json(api_url.rstrip("/") + "/v1/jwks", token, timeout)


class HttpDenyListSource:
    """A deny-list source over ``GET {api_url}/v1/denylist`` (stdlib HTTP, no extra deps)."""

    def __init__(self, api_url: str, *, token: str | None = None, timeout: float = 2.0) -> None:
        self._url = api_url.rstrip("/") + "/v1/denylist"
        self._token = token
        self._timeout = timeout

    def __call__(self) -> DenySnapshot:
        data = _get_json(self._url, self._token, self._timeout)
        if not isinstance(data, Mapping):
            raise BrokerUnavailable(f"GET {self._url} did not answer with a JSON object")
        return DenySnapshot.from_json(data)
