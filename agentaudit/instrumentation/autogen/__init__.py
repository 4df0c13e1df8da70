"""AutoGen AgentChat integration: one contract span per tool run, model inputs recorded.

See ``_wrappers`` for the two methods wrapped (AgentChat has no tool or model hook) and
what each contributes; ``uninstrument()`` restores them.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.autogen._install import install, installed, uninstall
from agentaudit.instrumentation.autogen.package import _instruments

__all__ = ["AutoGenInstrumentor", "instrument", "instrumented", "uninstrument"]


class AutoGenInstrumentor(AgentAuditInstrumentor):
    """Instruments AutoGen AgentChat: entry point ``agentaudit_autogen`` of
    ``opentelemetry-instrument``."""

    _integrations = ("autogen",)
    _instruments = _instruments


def instrument() -> None:
    """Wrap the methods (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Restore them."""
    uninstall()


def instrumented() -> bool:
    return installed()
