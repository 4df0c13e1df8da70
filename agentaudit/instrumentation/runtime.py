"""The shared runtime for framework integrations (``agentaudit.instrumentation.<name>``).

An integration module exposes ``instrument()`` and ``uninstrument()`` and, inside its
patches, calls only what is exported here:

* :func:`tool_call` - context manager around one tool execution (the contract span);
* :func:`model_call` / :func:`record_prompt` - around / before each model call, so the
  tool calls of the response carry the prompt hash and the matched sources; pass the
  returned :class:`PromptRecord` as ``tool_call(prompt=...)`` when the framework runs tool
  calls outside the context where the model was called;
* :func:`record_source` - content entering the agent by other paths (retrievers...);
* :func:`add_before_tool_call` - the hook point run before every tool call (quarantine,
  ``phase=PHASE_CHECK``; just-in-time credentials, ``phase=PHASE_CREDENTIAL``);
* :func:`refusals` - the calls refused because their access was revoked, which the
  runtime refuses again without a new credential (see ``_refusals``).
"""

from __future__ import annotations

from agentaudit.instrumentation._context import baggage_attributes, current_prompt
from agentaudit.instrumentation._errors import (
    AccessRevoked,
    AgentQuarantined,
    CredentialRevoked,
    ToolCallBlocked,
)
from agentaudit.instrumentation._prompt import (
    PromptRecord,
    model_call,
    record_prompt,
    record_source,
)
from agentaudit.instrumentation._refusals import RefusalMemory
from agentaudit.instrumentation._refusals import memory as refusals
from agentaudit.instrumentation._runtime import (
    PHASE_CHECK,
    PHASE_CREDENTIAL,
    BeforeToolCall,
    ToolCall,
    ToolCallInfo,
    ToolSpec,
    add_before_tool_call,
    before_tool_call_hooks,
    tool_call,
)

__all__ = [
    "PHASE_CHECK",
    "PHASE_CREDENTIAL",
    "AccessRevoked",
    "AgentQuarantined",
    "BeforeToolCall",
    "CredentialRevoked",
    "PromptRecord",
    "RefusalMemory",
    "ToolCall",
    "ToolCallBlocked",
    "ToolCallInfo",
    "ToolSpec",
    "add_before_tool_call",
    "baggage_attributes",
    "before_tool_call_hooks",
    "current_prompt",
    "model_call",
    "record_prompt",
    "record_source",
    "refusals",
    "tool_call",
]
