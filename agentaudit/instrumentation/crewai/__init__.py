"""CrewAI integration: one contract span per tool execution, agent LLM inputs recorded.

Uses CrewAI's global ``before_llm_call`` / ``before_tool_call`` hooks and wraps
``CrewStructuredTool.invoke``/``ainvoke``, through which every ``BaseTool`` runs; see
``_hooks``. Never disables or replaces CrewAI's own telemetry switches.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import CrewaiInstrumentor
from agentaudit.instrumentation.crewai._install import install, installed, uninstall

__all__ = ["CrewAIInstrumentor", "instrument", "instrumented", "uninstrument"]

CrewAIInstrumentor = CrewaiInstrumentor
"""The ``opentelemetry_instrumentor`` entry point (``agentaudit_crewai``)."""


def instrument() -> None:
    """Register the hooks and wrap the tools (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Undo it."""
    uninstall()


def instrumented() -> bool:
    return installed()
