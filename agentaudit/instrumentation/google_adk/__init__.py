"""Google ADK integration: one contract span per tool call, model requests recorded.

Uses ADK's plugin API (``google.adk.plugins.BasePlugin``): :class:`AuditPlugin` is put
first in every ``Runner``'s plugin manager; see ``_plugin`` and ``_install``.
``uninstrument()`` removes it again.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.google_adk._install import install, installed, uninstall
from agentaudit.instrumentation.google_adk.package import _instruments

__all__ = ["GoogleADKInstrumentor", "instrument", "instrumented", "uninstrument"]


class GoogleADKInstrumentor(AgentAuditInstrumentor):
    """Instruments Google ADK: entry point ``agentaudit_google_adk`` of
    ``opentelemetry-instrument``."""

    _integrations = ("google_adk",)
    _instruments = _instruments


def instrument() -> None:
    """Add the plugin to every runner built from now on (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Remove it from every runner it was added to."""
    uninstall()


def instrumented() -> bool:
    return installed()
