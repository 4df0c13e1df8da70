"""OpenAI Agents SDK integration: one contract span per function-tool call, prompts recorded.

``instrument()`` wraps the SDK's model-input and tool-invocation seams (see ``_wrappers``
for why these and not the tracing processors); ``uninstrument()`` restores them. Tool
spans carry the SDK agent's name (when the app's ``agentaudit.context`` sets no agent),
the trace's ``group_id`` (else the trace id) as ``gen_ai.conversation.id``, and approval
status ``human`` for ``needs_approval`` tools approved through the run's interruptions.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import OpenaiAgentsInstrumentor
from agentaudit.instrumentation.openai_agents._install import install, installed, uninstall
from agentaudit.instrumentation.openai_agents._wrappers import prompt_of

__all__ = [
    "OpenAIAgentsInstrumentor",
    "instrument",
    "instrumented",
    "prompt_of",
    "uninstrument",
]

OpenAIAgentsInstrumentor = OpenaiAgentsInstrumentor
"""The ``opentelemetry_instrumentor`` entry point (``agentaudit_openai_agents``)."""


def instrument() -> None:
    """Wrap the SDK's seams (idempotent; off for unsupported versions)."""
    install()


def uninstrument() -> None:
    """Restore the SDK's functions."""
    uninstall()


def instrumented() -> bool:
    """True while the seams are wrapped."""
    return installed()
