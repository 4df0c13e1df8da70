"""Principals and the bearer tokens that prove them.

Three kinds of caller (DESIGN §5):

* an **agent**: exports spans, reads its quarantine state, asks for credentials. It
  presents either its own token (``agentaudit agents add``: the principal is that agent,
  ``attributed``) or the shared ``AGENTAUDIT_TOKEN`` (an agent, but not which one:
  unattributed, kept for compatibility); a **tool server** registered as one
  (``agentaudit agents add --tool-server``) presents a token of its own: it exports the
  server's records of the calls it ran (which name their callers) and reads any agent's
  quarantine state to enforce it, and gets no credentials;
* a **responder**: revocations, releases, queries, approvals; presents
  ``AGENTAUDIT_ADMIN_TOKEN``, which is never given to an agent;
* nobody, in **open** mode (no token configured, an explicit flag): every request is
  allowed and recorded as unauthenticated.

Invariants: tokens are compared in constant time (registered ones by their SHA-256, so
the registry never holds a token); the responder token never authenticates an agent
and an agent token never a responder; a request whose token matches nothing gets no
principal (the caller answers 401 before reading the body).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "AGENT",
    "KINDS",
    "OPEN",
    "RESPONDER",
    "TOOL_SERVER",
    "Authenticator",
    "Principal",
    "Registration",
    "TokenLookup",
    "bearer_token",
    "token_digest",
]

AGENT: Final = "agent"
TOOL_SERVER: Final = "tool_server"
RESPONDER: Final = "responder"
OPEN: Final = "open"
KINDS: Final = (AGENT, TOOL_SERVER)
"""The kinds of registered token (``agentaudit.agents.kind``): each is the role it proves."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request. ``agent`` is the registered name ("" when unattributed): an
    agent's, or a tool server's when ``role`` is :data:`TOOL_SERVER`."""

    role: str
    agent: str = ""

    @property
    def attributed(self) -> bool:
        """An agent that proved which agent it is (a per-agent token)."""
        return self.role == AGENT and self.agent != ""

    @property
    def agent_side(self) -> bool:
        """An agent or a tool server: never allowed on a responder endpoint."""
        return self.role in KINDS

    @property
    def label(self) -> str:
        """For logs and refusal records: ``agent:mail-assistant``, ``agent:(shared token)``,
        ``tool_server:mail-mcp``."""
        if self.role == AGENT:
            return f"agent:{self.agent or '(shared token)'}"
        if self.role == TOOL_SERVER:
            return f"tool_server:{self.agent}"
        return self.role


@dataclass(frozen=True, slots=True)
class Registration:
    """What a registered token proves: a name and its kind (one of :data:`KINDS`)."""

    name: str
    kind: str = AGENT


TokenLookup = Callable[[str], "Registration | None"]
"""``lookup(token_digest) -> Registration | None``: the registry of per-principal tokens."""


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    scheme, _, token = (header or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def token_digest(token: str) -> str:
    """The hex SHA-256 a registered token is stored and looked up by.

    Tokens are 256-bit random values, so a fast hash is enough: there is nothing to
    guess, and a lookup costs microseconds on the export path.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def _same(presented: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(presented.encode(), expected.encode())


class Authenticator:
    """Maps an ``Authorization`` header to a :class:`Principal`, or None when refused.

    ``open_mode``: no token is configured and the operator asked for it explicitly;
    everything authenticates as :data:`OPEN`. Thread-safe (no mutable state of its own;
    ``lookup`` must be).
    """

    def __init__(
        self,
        *,
        agent_token: str | None,
        admin_token: str | None,
        lookup: TokenLookup | None = None,
        open_mode: bool = False,
    ) -> None:
        if agent_token is not None and agent_token == admin_token:
            raise ValueError("the agent token and the responder token must differ")
        self._agent_token = agent_token
        self._admin_token = admin_token
        self._lookup = lookup
        self._open = open_mode

    @property
    def open_mode(self) -> bool:
        return self._open

    def agent(self, authorization: str | None) -> Principal | None:
        """The agent-side principal of an export, quarantine read or credential request:
        an agent, or a tool server presenting its registered token."""
        if self._open:
            return Principal(OPEN)
        token = bearer_token(authorization)
        if token is None:
            return None
        if _same(token, self._agent_token):
            return Principal(AGENT)
        if self._lookup is not None:
            found = self._lookup(token_digest(token))
            if found is not None and found.name:  # an unknown kind proves no more than an agent
                return Principal(TOOL_SERVER if found.kind == TOOL_SERVER else AGENT, found.name)
        return None

    def responder(self, authorization: str | None) -> Principal | None:
        """The responder principal of a revocation, release, query or approval."""
        if self._open:
            return Principal(OPEN)
        token = bearer_token(authorization)
        if token is not None and _same(token, self._admin_token):
            return Principal(RESPONDER)
        return None
