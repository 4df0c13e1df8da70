"""Just-in-time credentials for agent tool calls (``agentaudit.broker``).

At tool-call time the instrumentation asks the broker (over ``POST /v1/credentials``)
for a credential scoped to (user, agent, tool, resource, the tool's scopes), valid for
60 s by default: an EdDSA-signed JWT with ``sub`` = user, ``act.sub`` = agent (RFC 8693),
``aud`` = tool, ``resource`` (RFC 8707), ``scope``, ``jti``, ``iat``, ``exp`` (and
``sid`` = session). Tool servers check it with :class:`Verifier` (public keys plus a
refreshed deny-list) or the :func:`authorize_bearer` step-up helper.
:class:`VaultIssuer` mints a single-use Vault token per call instead.

Which scopes a tool may be granted: the config's ``[broker.tools]`` table per tool, or,
when an identity-card catalog is configured, a :class:`ScopePolicy` per (agent, tool):
the tool's ``min_scopes`` on that agent's card (docs/catalog.md, "Enforcement").

Importing this package needs nothing beyond the base install; signing and verifying
need ``pip install 'agentaudit[broker]'`` (PyJWT + cryptography; hvac for Vault) and
say so when it is missing.
"""

from __future__ import annotations

from agentaudit.broker._broker import DEFAULT_TTL, Broker, ScopePolicy
from agentaudit.broker._client import CredentialClient
from agentaudit.broker._credential import Credential, CredentialClaims
from agentaudit.broker._denylist import (
    DENY_KINDS,
    DenyEntry,
    DenyList,
    DenyListStore,
    DenySnapshot,
)
from agentaudit.broker._errors import (
    BrokerError,
    BrokerUnavailable,
    CredentialRefused,
    MintRefused,
)
from agentaudit.broker._keys import SigningKey, jwk_thumbprint, public_keys_from_jwks
from agentaudit.broker._mcp import (
    CREDENTIAL_STATE_KEY,
    Authorized,
    Challenge,
    CredentialChecker,
    McpBearerMiddleware,
    ToolPolicy,
    authorize_bearer,
    tool_resource,
)
from agentaudit.broker._vault import VaultIssuer, hvac_module, vault_client
from agentaudit.broker._verifier import (
    DEFAULT_ISSUER,
    HttpDenyListSource,
    Verifier,
    fetch_jwks,
)

__all__ = [
    "CREDENTIAL_STATE_KEY",
    "DEFAULT_ISSUER",
    "DEFAULT_TTL",
    "DENY_KINDS",
    "Authorized",
    "Broker",
    "BrokerError",
    "BrokerUnavailable",
    "Challenge",
    "Credential",
    "CredentialChecker",
    "CredentialClaims",
    "CredentialClient",
    "CredentialRefused",
    "DenyEntry",
    "DenyList",
    "DenyListStore",
    "DenySnapshot",
    "HttpDenyListSource",
    "McpBearerMiddleware",
    "MintRefused",
    "ScopePolicy",
    "SigningKey",
    "ToolPolicy",
    "VaultIssuer",
    "Verifier",
    "authorize_bearer",
    "fetch_jwks",
    "hvac_module",
    "jwk_thumbprint",
    "public_keys_from_jwks",
    "tool_resource",
    "vault_client",
]
