"""Pydantic AI integration: an audit capability added to every agent run.

The capability (Pydantic AI's hook API) records each model request as the prompt and
wraps each tool call in the contract span; see ``_capability`` for the mapping of run
ids and deferred-tool approvals, ``_install`` for how it reaches every run.
"""

from __future__ import annotations

from typing import Any

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.pydantic_ai._install import install, installed, uninstall
from agentaudit.instrumentation.pydantic_ai.package import _instruments

__all__ = [
    "AuditCapability",
    "PydanticAIInstrumentor",
    "instrument",
    "instrumented",
    "uninstrument",
]


class PydanticAIInstrumentor(AgentAuditInstrumentor):
    """Instruments Pydantic AI.

    Entry point ``agentaudit_pydantic_ai`` of ``opentelemetry-instrument``, which skips it unless
    the framework is installed in the range of ``_instruments``.
    """

    _integrations = ("pydantic_ai",)
    _instruments = _instruments


def instrument() -> None:
    """Add the audit capability to every agent run (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Stop adding it."""
    uninstall()


def instrumented() -> bool:
    return installed()


def __getattr__(name: str) -> Any:
    # The capability imports pydantic_ai: only on demand, never at package import.
    if name == "AuditCapability":
        from agentaudit.instrumentation.pydantic_ai._capability import AuditCapability

        return AuditCapability
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
