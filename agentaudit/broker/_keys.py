"""Ed25519 signing keys and their public JWK / JWKS form.

Invariant: the private key never leaves the process that hosts the :class:`Broker`
(the admin process or a tool-side service); everything published (``jwks()``) is the
public half only. A key's ``kid`` is its RFC 7638 thumbprint, so it is stable across
restarts when the same key file is loaded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentaudit.broker._errors import BrokerError
from agentaudit.broker._jose import ALGORITHM, require_crypto

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = ["SigningKey", "jwk_thumbprint", "public_keys_from_jwks"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an OKP public JWK."""
    members = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def _public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": ALGORITHM, "use": "sig"}


class SigningKey:
    """An Ed25519 private key with its ``kid``; ``repr`` never shows key material."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self.private = private
        self.public_jwk: dict[str, str] = _public_jwk(private.public_key())
        self.kid: str = self.public_jwk["kid"]

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key (held in memory only)."""
        require_crypto()
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """Load a PKCS#8 PEM Ed25519 private key."""
        require_crypto()
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise BrokerError(f"the broker key is not a PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise BrokerError("the broker key must be an Ed25519 key (EdDSA)")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Load the key in ``path``, or create it there (mode 0600) when it is absent."""
        try:
            return cls.from_pem(path.read_bytes())
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise BrokerError(f"cannot read the broker key {path}: {exc.strerror}") from None
        key = cls.generate()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key.to_pem())
        except FileExistsError:  # another process created it first: use theirs
            return cls.from_pem(path.read_bytes())
        except OSError as exc:
            raise BrokerError(f"cannot write the broker key {path}: {exc.strerror}") from None
        return key

    def to_pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )

        return self.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWK Set (RFC 7517) that verifiers need."""
        return {"keys": [dict(self.public_jwk)]}


def public_keys_from_jwks(
    jwks: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> dict[str, Ed25519PublicKey]:
    """``kid`` -> Ed25519 public key, from a JWK Set or a list of JWKs.

    Only OKP/Ed25519 keys are accepted; anything else is a BrokerError, so a verifier
    is never configured with a key it would silently ignore.
    """
    require_crypto()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = jwks.get("keys") if isinstance(jwks, Mapping) else jwks
    if not isinstance(keys, Sequence) or not keys:
        raise BrokerError('the JWKS has no keys; pass {"keys": [...]} from GET /v1/jwks')
    found: dict[str, Ed25519PublicKey] = {}
    for jwk in keys:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise BrokerError("only Ed25519 (OKP) public keys are supported in the JWKS")
        if "d" in jwk:
            raise BrokerError("the JWKS given to a verifier holds a private key; pass public keys")
        try:
            raw = _b64url_decode(str(jwk["x"]))
            public = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, ValueError) as exc:
            raise BrokerError(f"a JWKS key is malformed: {exc}") from None
        found[str(jwk.get("kid") or jwk_thumbprint(jwk))] = public
    return found
