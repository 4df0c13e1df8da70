"""OpenAI Agents SDK integration: one contract span per function-tool call, prompts recorded.

Built on the SDK's public extension points: ``instrument()`` installs a default agent
runner (``_runner``) that adds the audit's ``RunHooks`` to every run (``_run``: the exact
model input of each call, whatever the ``Model`` class) and wraps each function tool's
``on_invoke_tool`` (``_tools``: the contract span); ``uninstrument()`` puts back the
runner and every tool's original. Tool spans carry the SDK agent's name (when the app's
``agentaudit.context`` sets no agent), the trace's ``group_id`` (else the trace id) as
``gen_ai.conversation.id``, and the human decision on ``needs_approval`` tools.
"""

from __future__ import annotations

from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor
from agentaudit.instrumentation.openai_agents._install import install, installed, uninstall
from agentaudit.instrumentation.openai_agents._run import prompt_of
from agentaudit.instrumentation.openai_agents._runner import AuditRunner
from agentaudit.instrumentation.openai_agents.package import _instruments

__all__ = [
    "AuditRunner",
    "OpenAIAgentsInstrumentor",
    "instrument",
    "instrumented",
    "prompt_of",
    "uninstrument",
]


class OpenAIAgentsInstrumentor(AgentAuditInstrumentor):
    """Instruments the OpenAI Agents SDK.

    Entry point ``agentaudit_openai_agents`` of ``opentelemetry-instrument``, which skips it unless
    the framework is installed in the range of ``_instruments``.
    """

    _integrations = ("openai_agents",)
    _instruments = _instruments


def instrument() -> None:
    """Install the audit runner (idempotent; off for unsupported versions)."""
    install()


def uninstrument() -> None:
    """Restore the SDK's default runner and the tools' originals."""
    uninstall()


def instrumented() -> bool:
    """True while the audit runner is installed."""
    return installed()
