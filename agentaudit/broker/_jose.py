"""Lazy access to the JOSE library (PyJWT with ``cryptography`` for EdDSA/Ed25519).

The base instrumentation install does not ship them: importing :mod:`agentaudit.broker`
works everywhere, and the first use of signing or verification raises
:class:`BrokerUnavailable` with the command that installs them.
"""

from __future__ import annotations

from types import ModuleType

from agentaudit.broker._errors import BrokerUnavailable

__all__ = ["ALGORITHM", "jwt_module", "require_crypto"]

ALGORITHM = "EdDSA"
_HINT = "the credential broker needs PyJWT and cryptography; run: pip install 'agentaudit[broker]'"


def jwt_module() -> ModuleType:
    """The ``jwt`` module (PyJWT), or BrokerUnavailable naming the install command."""
    require_crypto()
    try:
        import jwt
    except ImportError:
        raise BrokerUnavailable(_HINT) from None
    return jwt


def require_crypto() -> None:
    """Raise BrokerUnavailable unless ``cryptography`` (Ed25519) is importable."""
    try:
        import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401
    except ImportError:
        raise BrokerUnavailable(_HINT) from None
