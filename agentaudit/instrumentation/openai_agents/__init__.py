"""OpenAI Agents SDK integration: one contract span per function-tool call, prompts recorded.

``instrument()`` wraps the SDK's model-input and tool-invocation seams (see ``_wrappers``
for why these and not the tracing processors); ``uninstrument()`` restores them. Tool
spans carry the SDK agent's name (when the app's ``agentaudit.context`` sets no agent),
the trace's ``group_id`` (else the trace id) as ``gen_ai.conversation.id``, and approval
status ``human`` for ``needs_approval`` tools approved through the run's interruptions.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.openai_agents._install import install, installed, uninstall
from agentaudit.instrumentation.openai_agents._wrappers import prompt_of
from agentaudit.instrumentation.openai_agents.package import _instruments

__all__ = [
    "OpenAIAgentsInstrumentor",
    "instrument",
    "instrumented",
    "prompt_of",
    "uninstrument",
]


class OpenAIAgentsInstrumentor(AgentAuditInstrumentor):
    """Instruments the OpenAI Agents SDK.

    Entry point ``agentaudit_openai_agents`` of ``opentelemetry-instrument``, which skips it unless
    the framework is installed in the range of ``_instruments``.
    """

    _integrations = ("openai_agents",)
    _instruments = _instruments


def instrument() -> None:
    """Wrap the SDK's seams (idempotent; off for unsupported versions)."""
    install()


def uninstrument() -> None:
    """Restore the SDK's functions."""
    uninstall()


def instrumented() -> bool:
    """True while the seams are wrapped."""
    return installed()
