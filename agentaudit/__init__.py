"""agentaudit: an OpenTelemetry-native provenance audit pipeline for AI-agent tool calls.

The package root is the instrumentation's public API (DESIGN §5); it stays light: no
ClickHouse, Arrow or Streamlit is imported here. ``import agentaudit.auto`` instruments
everything; the collector and dashboards live in their own subpackages.
"""

from __future__ import annotations

from agentaudit.instrumentation import (
    AccessRevoked,
    AgentQuarantined,
    CredentialRevoked,
    approval,
    arguments_hash,
    audited_tool,
    configure,
    context,
    credential,
    dropped_spans,
    instrument,
    record_prompt,
    record_source,
    uninstrument,
)

__version__ = "0.1.0"

__all__ = [
    "AccessRevoked",
    "AgentQuarantined",
    "CredentialRevoked",
    "__version__",
    "approval",
    "arguments_hash",
    "audited_tool",
    "configure",
    "context",
    "credential",
    "dropped_spans",
    "instrument",
    "record_prompt",
    "record_source",
    "uninstrument",
]
