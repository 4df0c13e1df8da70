"""Errors the instrumentation raises into the agent on purpose (and only these)."""

from __future__ import annotations

from agentaudit.errors import AgentAuditError

__all__ = ["AgentQuarantined", "ToolCallBlocked"]


class ToolCallBlocked(AgentAuditError):
    """A ``before_tool_call`` hook stopped the call; the span records ``decision=blocked``.

    Hooks raise a subclass of this to block deliberately; any other exception from a hook
    is an instrumentation error: it is logged and the call proceeds (fail-open).
    """


class AgentQuarantined(ToolCallBlocked):
    """The agent is quarantined: its tool calls are refused until a responder releases it."""

    def __init__(self, agent_id: str = "", reason: str = "") -> None:
        self.agent_id = agent_id
        self.reason = reason
        message = f"agent {agent_id or '(unknown)'} is quarantined"
        super().__init__(f"{message}: {reason}" if reason else message)
