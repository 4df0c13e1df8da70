"""Strands Agents integration: one contract span per tool call, model inputs recorded.

Uses Strands' hook API (``strands.hooks.HookProvider``): :class:`AuditHooks` is added to
every ``Agent``'s hook registry; see ``_hooks`` and ``_install``. ``uninstrument()``
stops them (Strands has no way to remove a hook; they become inert).
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.strands._install import install, installed, uninstall
from agentaudit.instrumentation.strands.package import _instruments

__all__ = ["StrandsInstrumentor", "instrument", "instrumented", "uninstrument"]


class StrandsInstrumentor(AgentAuditInstrumentor):
    """Instruments Strands Agents: entry point ``agentaudit_strands`` of
    ``opentelemetry-instrument``."""

    _integrations = ("strands",)
    _instruments = _instruments


def instrument() -> None:
    """Add the hooks to every agent built from now on (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Make the hooks inert and stop adding them."""
    uninstall()


def instrumented() -> bool:
    return installed()
