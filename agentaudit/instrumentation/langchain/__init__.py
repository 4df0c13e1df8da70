"""LangChain / LangGraph integration: one contract span per tool run, prompts recorded.

``instrument()`` registers an inline callback handler through LangChain's configure hook
(the framework's extension point); ``uninstrument()`` removes it. See ``_callbacks`` for
what is recorded and docs/frameworks.md for the mapping of LangGraph ids and approvals.
"""

from __future__ import annotations

from typing import Any

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.langchain._approval import approval_from_resume
from agentaudit.instrumentation.langchain._install import handler, install, installed, uninstall
from agentaudit.instrumentation.langchain._messages import canonical_messages, canonical_prompt
from agentaudit.instrumentation.langchain.package import _instruments

__all__ = [
    "AuditCallbackHandler",
    "LangChainInstrumentor",
    "approval_from_resume",
    "canonical_messages",
    "canonical_prompt",
    "handler",
    "instrument",
    "instrumented",
    "uninstrument",
]


class LangChainInstrumentor(AgentAuditInstrumentor):
    """Instruments LangChain / LangGraph.

    Entry point ``agentaudit_langchain`` of ``opentelemetry-instrument``, which skips it unless
    the framework is installed in the range of ``_instruments``.
    """

    _integrations = ("langchain",)
    _instruments = _instruments


def instrument() -> None:
    """Register the audit callback handler (idempotent; off for unsupported versions)."""
    install()


def uninstrument() -> None:
    """Remove the audit callback handler."""
    uninstall()


def __getattr__(name: str) -> Any:
    # The handler class imports langchain_core: only on demand, never at package import.
    if name == "AuditCallbackHandler":
        from agentaudit.instrumentation.langchain._callbacks import AuditCallbackHandler

        return AuditCallbackHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def instrumented() -> bool:
    """True while the handler is registered."""
    return installed()
