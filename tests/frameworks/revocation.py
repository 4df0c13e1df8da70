"""Revoked access in a real agent loop: what every framework's revocation test shares.

:func:`jit_credentials` runs a real :class:`Broker` behind the admin API double (a
loopback HTTP server answering ``POST /v1/credentials`` like the real route, see
``tests/instrumentation/admin_double.py``) and registers the just-in-time credential
hook for the given tools, exactly as ``import agentaudit.auto`` would for tools
configured ``jit = true``. :class:`ToolServer` is what the tool's server does with the
credential it is handed: ``Broker.verify`` against the live deny-list, so a credential
revoked while the call runs is refused with ``CredentialRefused(reason="revoked")``.

Mint requests are counted where they arrive (the double's ``minted``), so a test sees
whether a framework's retry asked for a fresh credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from agentaudit.broker import Broker, CredentialClient
from agentaudit.instrumentation._jit import JitCredentials, JitTool, current_credential
from agentaudit.instrumentation._runtime import add_before_tool_call
from tests.instrumentation.admin_double import AdminDouble

__all__ = ["TOKEN", "Revocation", "ToolServer", "jit_credentials"]

TOKEN = "agent-token"


@dataclass
class ToolServer:
    """The server side of a tool: checks the call's credential with the broker."""

    broker: Broker
    presented: list[str] = field(default_factory=list)
    """The ids of the credentials the server was shown (one per call that ran)."""
    revoke_next: bool = False
    """Revoke the next presented credential before checking it, as a responder acting
    while the call runs would (``POST /v1/revocations`` with target ``credential``)."""

    def check(self, tool: str, resource: str) -> str:
        credential = current_credential()
        if credential is None:
            raise PermissionError("401: a credential is required")
        self.presented.append(credential.id)
        if self.revoke_next:
            self.revoke_next = False
            self.broker.revoke(credential.id, reason="exfiltration suspected")
        return self.broker.verify(credential.token, tool=tool, resource=resource).id


@dataclass
class Revocation:
    admin: AdminDouble
    broker: Broker
    server: ToolServer

    def mints(self, tool: str) -> int:
        """Mint requests the admin API received for ``tool`` (granted or refused)."""
        return sum(1 for minted in self.admin.minted if minted.get("tool") == tool)

    def revoke_user(self, user: str) -> None:
        """A responder revokes the user: the broker refuses every new credential for them."""
        self.broker.revoke_principal("user", user, reason="account compromised")


@contextmanager
def jit_credentials(scopes: dict[str, list[str]]) -> Iterator[Revocation]:
    """Just-in-time credentials for the tools named in ``scopes`` (tool -> its scopes)."""
    broker = Broker(tool_scopes=scopes)
    with AdminDouble(token=TOKEN, broker=broker) as admin:
        hook = JitCredentials(
            CredentialClient(admin.url, token=TOKEN, timeout=5),
            tools={tool: JitTool() for tool in scopes},
            use_settings=False,
        )
        remove = add_before_tool_call(hook)
        try:
            yield Revocation(admin, broker, ToolServer(broker))
        finally:
            remove()
