"""smolagents integration: one contract span per ``Tool`` call, model inputs recorded.

See ``_wrappers`` for the three methods wrapped (smolagents has no tool hook) and what
each contributes; ``uninstrument()`` restores them.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import SmolagentsInstrumentor
from agentaudit.instrumentation.smolagents._install import install, installed, uninstall

__all__ = ["SmolagentsInstrumentor", "instrument", "instrumented", "uninstrument"]


def instrument() -> None:
    """Wrap the methods (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Restore them."""
    uninstall()


def instrumented() -> bool:
    return installed()
