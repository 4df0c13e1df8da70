"""agentaudit.instrumentation: provenance context, source tracking, the tool-call span.

Public API (re-exported by :mod:`agentaudit`): :func:`context`, :func:`audited_tool`,
:func:`record_source`, :func:`record_prompt`, :func:`approval`, :func:`credential`,
:func:`arguments_hash`,
:func:`instrument` / :func:`uninstrument`, :func:`configure`, :func:`dropped_spans`,
:class:`AgentQuarantined`, :class:`CredentialRevoked` (both :class:`AccessRevoked`). The
shared runtime for framework integrations is
:mod:`agentaudit.instrumentation.runtime`.

Light by design: importing this package pulls in the OpenTelemetry API/SDK and rfc8785
only, never ClickHouse, Arrow or Streamlit.
"""

from __future__ import annotations

from agentaudit.instrumentation._capture import arguments_hash
from agentaudit.instrumentation._context import approval, context, credential, looks_like_secret
from agentaudit.instrumentation._decorator import audited_tool
from agentaudit.instrumentation._errors import (
    AccessRevoked,
    AgentQuarantined,
    CredentialRevoked,
    ToolCallBlocked,
)
from agentaudit.instrumentation._export import AuditSpanProcessor, dropped_spans
from agentaudit.instrumentation._instrumentor import (
    ensure_tracer_provider,
    instrument,
    instrumented_integrations,
    uninstrument,
)
from agentaudit.instrumentation._prompt import PromptRecord, record_prompt, record_source
from agentaudit.instrumentation._runtime import ToolCallInfo, add_before_tool_call
from agentaudit.instrumentation._settings import Settings, configure, settings
from agentaudit.instrumentation._sources import Source

__all__ = [
    "AccessRevoked",
    "AgentQuarantined",
    "AuditSpanProcessor",
    "CredentialRevoked",
    "PromptRecord",
    "Settings",
    "Source",
    "ToolCallBlocked",
    "ToolCallInfo",
    "add_before_tool_call",
    "approval",
    "arguments_hash",
    "audited_tool",
    "configure",
    "context",
    "credential",
    "dropped_spans",
    "ensure_tracer_provider",
    "instrument",
    "instrumented_integrations",
    "looks_like_secret",
    "record_prompt",
    "record_source",
    "settings",
    "uninstrument",
]
