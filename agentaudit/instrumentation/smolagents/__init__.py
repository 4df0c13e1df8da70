"""smolagents integration: one contract span per ``Tool`` call, model inputs recorded.

See ``_wrappers`` for the three methods wrapped (smolagents has no tool hook) and what
each contributes; ``uninstrument()`` restores them.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.smolagents._install import install, installed, uninstall
from agentaudit.instrumentation.smolagents.package import _instruments

__all__ = ["SmolagentsInstrumentor", "instrument", "instrumented", "uninstrument"]


class SmolagentsInstrumentor(AgentAuditInstrumentor):
    """Instruments smolagents.

    Entry point ``agentaudit_smolagents`` of ``opentelemetry-instrument``, which skips it unless
    the framework is installed in the range of ``_instruments``.
    """

    _integrations = ("smolagents",)
    _instruments = _instruments


def instrument() -> None:
    """Wrap the methods (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Restore them."""
    uninstall()


def instrumented() -> bool:
    return installed()
