"""LlamaIndex integration: dispatcher handlers for tool calls and model inputs.

Covers every ``BaseTool`` (``FunctionTool`` and the rest) called directly or by agent
workflows (``FunctionAgent``, ``ReActAgent``, ``AgentWorkflow``); see ``_handlers``.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import LlamaIndexInstrumentor
from agentaudit.instrumentation.llama_index._install import install, installed, uninstall

__all__ = ["LlamaIndexInstrumentor", "instrument", "instrumented", "uninstrument"]


def instrument() -> None:
    """Add the handlers to the root dispatcher (idempotent; off when unsupported)."""
    install()


def uninstrument() -> None:
    """Remove them."""
    uninstall()


def instrumented() -> bool:
    return installed()
