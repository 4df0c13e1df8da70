"""CrewAI integration: one contract span per tool execution, agent LLM inputs recorded.

Uses CrewAI's global ``before_llm_call`` / ``before_tool_call`` hooks and wraps
``CrewStructuredTool.invoke``/``ainvoke``, through which every ``BaseTool`` runs; see
``_hooks``. Never disables or replaces CrewAI's own telemetry switches.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.crewai._install import install, installed, uninstall
from agentaudit.instrumentation.crewai.package import _instruments

__all__ = ["CrewAIInstrumentor", "instrument", "instrumented", "uninstrument"]


class CrewAIInstrumentor(AgentAuditInstrumentor):
    """Instruments CrewAI: entry point ``agentaudit_crewai`` of ``opentelemetry-instrument``."""

    _integrations = ("crewai",)
    _instruments = _instruments


def instrument() -> None:
    """Register the hooks and wrap the tools (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Undo it."""
    uninstall()


def instrumented() -> bool:
    return installed()
