"""Admin gates for tests: the one the collector builds, from the tokens a test chooses."""

from __future__ import annotations

from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.identity.principals import Authenticator


def gate(admin: str | None, agent: str | None = None) -> Gate:
    """A gate for these tokens; with neither, the explicit open mode (--insecure-no-auth)."""
    open_mode = admin is None and agent is None
    return Gate(Authenticator(agent_token=agent, admin_token=admin, open_mode=open_mode))
