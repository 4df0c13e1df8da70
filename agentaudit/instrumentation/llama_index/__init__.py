"""LlamaIndex integration: dispatcher handlers for tool calls and model inputs.

Covers every ``BaseTool`` (``FunctionTool`` and the rest) called directly or by agent
workflows (``FunctionAgent``, ``ReActAgent``, ``AgentWorkflow``); see ``_handlers``.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.llama_index._install import install, installed, uninstall
from agentaudit.instrumentation.llama_index.package import _instruments

__all__ = ["LlamaIndexInstrumentor", "instrument", "instrumented", "uninstrument"]


class LlamaIndexInstrumentor(AgentAuditInstrumentor):
    """Instruments LlamaIndex.

    Entry point ``agentaudit_llama_index`` of ``opentelemetry-instrument``, which skips it unless
    the framework is installed in the range of ``_instruments``.
    """

    _integrations = ("llama_index",)
    _instruments = _instruments


def instrument() -> None:
    """Add the handlers to the root dispatcher (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Remove them."""
    uninstall()


def instrumented() -> bool:
    return installed()
