"""Span attribute names of other producers' conventions that the collector maps (peers).

The normaliser (:mod:`agentaudit.collector.writer.normalise`) reads tool spans of OpenInference
instrumentors, OpenLLMetry/Traceloop, Pydantic AI's native OpenTelemetry and the MCP
SDK's native OpenTelemetry into ``tool_calls`` rows. These are their names, kept apart
from our own contract (:mod:`agentaudit.schema.attributes`); nothing here is emitted by
agentaudit.
"""

from __future__ import annotations

from typing import Final

# --- OpenInference ------------------------------------------------------------------
OI_SPAN_KIND: Final = "openinference.span.kind"
"""``TOOL`` on tool spans (also ``LLM``, ``CHAIN``, ``AGENT``, ...)."""
OI_SPAN_KIND_TOOL: Final = "TOOL"
OI_TOOL_NAME: Final = "tool.name"
OI_TOOL_ID: Final = "tool.id"
"""The id of the tool call's result (corresponds to ``tool_call.id``)."""
OI_TOOL_CALL_ID: Final = "tool_call.id"
OI_TOOL_PARAMETERS: Final = "tool.parameters"
"""The tool's parameter schema (JSON), not the call's arguments: never mapped to them."""
OI_INPUT_VALUE: Final = "input.value"
"""On a TOOL span: the tool's input (JSON when ``input.mime_type`` says so, else text)."""
OI_INPUT_MIME_TYPE: Final = "input.mime_type"
OI_MIME_JSON: Final = "application/json"
OI_CALL_ENVELOPE: Final = frozenset({"args", "kwargs", "sanitize_inputs_outputs"})
"""Keys of the bound-call envelope some instrumentors put in ``input.value`` (LlamaIndex:
``{"kwargs": {...}}``; smolagents: ``{"args": [], "sanitize_inputs_outputs": true,
"kwargs": {...}}``): the arguments are ``kwargs`` (plus ``args`` when there are any)."""
OI_USER_ID: Final = "user.id"
OI_AGENT_NAME: Final = "agent.name"
OI_HANDOFF_PREFIX: Final = "handoff to "
"""OpenAI Agents handoffs surface as TOOL spans named ``handoff to <agent>`` without a
``tool.name``; they are context, not tool calls."""

# --- OpenLLMetry / Traceloop ---------------------------------------------------------
TL_SPAN_KIND: Final = "traceloop.span.kind"
"""``tool`` on tool spans (also ``workflow``, ``task``, ``agent``)."""
TL_SPAN_KIND_TOOL: Final = "tool"
TL_ENTITY_NAME: Final = "traceloop.entity.name"
TL_ENTITY_INPUT: Final = "traceloop.entity.input"
"""JSON envelope: LangChain tools ``{"input_str", "inputs", "kwargs": {"tool_call_id"}}``;
decorated functions ``{"args": [...], "kwargs": {...}}``."""
TL_ASSOCIATION: Final = "traceloop.association.properties."
"""Prefix of the association properties (LangChain metadata lands here too)."""
TL_USER_ID: Final = TL_ASSOCIATION + "user_id"
TL_SESSION_ID: Final = TL_ASSOCIATION + "session_id"
TL_THREAD_ID: Final = TL_ASSOCIATION + "thread_id"
TL_CONVERSATION_ID: Final = TL_ASSOCIATION + "conversation_id"
TL_CHAT_ID: Final = TL_ASSOCIATION + "chat_id"

# --- Pydantic AI native instrumentation ------------------------------------------------
PAI_TOOL_SPAN_NAME: Final = "running tool"
"""The tool span's name in instrumentation versions 1 and 2 (``execute_tool {name}`` from 3)."""
PAI_TOOL_ARGUMENTS: Final = "tool_arguments"
"""The arguments (JSON) in instrumentation versions 1 and 2."""
PAI_RUN_ID: Final = "gen_ai.agent.call.id"
"""The agent run id (from Pydantic AI's baggage)."""
PAI_DEFERRAL: Final = "pydantic_ai.tool.deferral.name"
"""Set when the tool did not run but was deferred (``ApprovalRequired``/``CallDeferred``)."""

# --- MCP (OpenTelemetry MCP conventions; the MCP SDK's native spans) -------------------
MCP_METHOD_NAME: Final = "mcp.method.name"
MCP_SESSION_ID: Final = "mcp.session.id"
JSONRPC_REQUEST_ID: Final = "jsonrpc.request.id"

# --- OpenTelemetry exceptions -----------------------------------------------------------
EXCEPTION_EVENT: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"

SCOPE_FRAMEWORKS: Final = {
    "openinference.instrumentation.langchain": "langchain",
    "openinference.instrumentation.openai_agents": "openai_agents",
    "openinference.instrumentation.llama_index": "llama_index",
    "openinference.instrumentation.crewai": "crewai",
    "openinference.instrumentation.smolagents": "smolagents",
    "openinference.instrumentation.pydantic_ai": "pydantic_ai",
    "openinference.instrumentation.mcp": "mcp",
    "opentelemetry.instrumentation.langchain": "langchain",
    "opentelemetry.instrumentation.openai_agents": "openai_agents",
    "opentelemetry.instrumentation.llamaindex": "llama_index",
    "opentelemetry.instrumentation.crewai": "crewai",
    "opentelemetry.instrumentation.mcp": "mcp",
    "pydantic-ai": "pydantic_ai",
    "mcp-python-sdk": "mcp",
}
"""Instrumentation scope name -> ``agentaudit.framework`` value for peer spans."""
