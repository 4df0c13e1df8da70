"""Agno integration: one contract span per tool call, model inputs recorded.

A tool hook (Agno's public ``tool_hooks``) on every ``Agent`` carries the tool span; the
model input is read where every model call goes through; see ``_hooks`` and
``_install``. ``uninstrument()`` removes both.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.agno._install import install, installed, uninstall
from agentaudit.instrumentation.agno.package import _instruments

__all__ = ["AgnoInstrumentor", "instrument", "instrumented", "uninstrument"]


class AgnoInstrumentor(AgentAuditInstrumentor):
    """Instruments Agno: entry point ``agentaudit_agno`` of ``opentelemetry-instrument``."""

    _integrations = ("agno",)
    _instruments = _instruments


def instrument() -> None:
    """Add the hook and wrap the model calls (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Remove the hook from every agent and restore the model methods."""
    uninstall()


def instrumented() -> bool:
    return installed()
