"""Span attribute names of the agentaudit span contract (DESIGN §3).

Standard names come from the OpenTelemetry GenAI semantic conventions (development
status; the newest names are used). Project names live under ``agentaudit.`` where no
standard exists. Every module that reads or writes one of these attributes imports the
constant; no attribute name is spelled as a string literal anywhere else.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions ---------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
"""``execute_tool`` on tool spans, ``chat`` on model-call spans."""
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
"""The model's tool-call id, when the framework has one."""
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
"""``function`` / ``extension`` / ``datastore``."""
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
"""The call's arguments as a JSON string (captured by default, size-capped)."""
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
"""The result as a string; opt-in only."""
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
ERROR_TYPE: Final = "error.type"

# --- Other OpenTelemetry conventions ------------------------------------------------
ENDUSER_ID: Final = "enduser.id"
"""The originating user the agent acts for."""
SESSION_ID: Final = "session.id"
SERVICE_NAME: Final = "service.name"

# --- agentaudit ---------------------------------------------------------------------
FRAMEWORK: Final = "agentaudit.framework"
"""``langchain``, ``mcp``, ``openai_agents``, ``pydantic_ai``, ``llama_index``,
``crewai``, ``smolagents``, ``google_adk``, ``strands``, ``agno``, ``autogen`` or
``function``."""
PROMPT_HASH: Final = "agentaudit.prompt.hash"
"""``sha256:<hex>`` (or ``hmac-sha256:<hex>``) of the RFC 8785 canonical JSON of the
model input that produced the tool call."""
SOURCE_REFS: Final = "agentaudit.source.refs"
"""string[]: refs of the content in the model's context, e.g. ``email:msg-42``."""
SOURCE_KINDS: Final = "agentaudit.source.kinds"
"""string[], parallel to refs: ``tool_result``, ``email``, ``web``, ``document``, ``user``."""
SOURCE_TRUST: Final = "agentaudit.source.trust"
"""string[], parallel to refs: ``untrusted``, ``user`` or ``trusted``."""
SOURCE_HASHES: Final = "agentaudit.source.hashes"
"""string[], parallel to refs: ``sha256:<hex>`` of each source's content."""
RESOURCE_IDS: Final = "agentaudit.resource.ids"
"""string[]: resources the call touches, e.g. ``calendar:evt-12345``."""
APPROVAL_STATUS: Final = "agentaudit.approval.status"
"""``none``, ``human`` or ``policy``."""
APPROVAL_APPROVER: Final = "agentaudit.approval.approver"
APPROVAL_GRANT: Final = "agentaudit.approval.grant"
APPROVAL_DECISION: Final = "agentaudit.approval.decision"
"""What a framework's human-in-the-loop step decided: ``approved``, ``edited``, ``denied``
or ``unknown`` (a resume value the integration cannot read). Only ``approved`` and
``edited`` go with ``approval.status = human``."""
"""A signed approval (JWS) the admin API granted for exactly this call; the collector
verifies it, stores its id and approver, and drops the grant itself."""
CREDENTIAL_ID: Final = "agentaudit.credential.id"
"""A credential id (jti / accessor / key id), never the secret."""
CREDENTIAL_SCOPES: Final = "agentaudit.credential.scopes"
CREDENTIAL_EXPIRES_AT: Final = "agentaudit.credential.expires_at"
"""int, unix seconds."""
CREDENTIAL_ISSUER: Final = "agentaudit.credential.issuer"
"""Who issued the credential (a broker, Vault, an OAuth server), when known."""
ARGUMENTS_HASH: Final = "agentaudit.arguments.hash"
RESULT_HASH: Final = "agentaudit.result.hash"
RESULT_SIZE: Final = "agentaudit.result.size"
"""int: size in bytes of the result's canonical JSON."""
DECISION: Final = "agentaudit.decision"
"""``allowed``, or ``blocked`` when quarantine or policy stopped the call."""

AUDITED_BY: Final = "agentaudit.audited_by"
"""On a framework's own span for a call that an agentaudit span already records: the
span id of that span. The collector does not make a second ``tool_calls`` row of it."""
CALL_SIDE: Final = "agentaudit.call.side"
"""Which side of a call the span records: ``client`` (the caller's span of a call a tool
server runs: the MCP client's span, or the framework tool span it forwarded) or
``server`` (the tool server's span). Absent: the span kind decides (SERVER: ``server``,
CLIENT: ``client``), else ``local`` (the tool ran in the caller's process)."""
CREDENTIAL_REFUSAL: Final = "agentaudit.credential.refusal"
"""The tool server's refusal of the call's credential: the challenge's ``error``
(``insufficient_scope``, ``invalid_token``; ``unauthorized`` for a bare 401)."""
CREDENTIAL_REQUIRED_SCOPES: Final = "agentaudit.credential.required_scopes"
"""string[]: the scopes a tool server said the call needs (its step-up challenge)."""

# --- Values ------------------------------------------------------------------------
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
OPERATION_CHAT: Final = "chat"
OPERATION_INVOKE_AGENT: Final = "invoke_agent"
TOOL_SPAN_PREFIX: Final = "execute_tool "
DECISION_ALLOWED: Final = "allowed"
DECISION_BLOCKED: Final = "blocked"
TRUST_UNTRUSTED: Final = "untrusted"
TRUST_USER: Final = "user"
TRUST_TRUSTED: Final = "trusted"
APPROVAL_NONE: Final = "none"
APPROVAL_HUMAN: Final = "human"
APPROVAL_POLICY: Final = "policy"
DECISION_APPROVED: Final = "approved"
DECISION_EDITED: Final = "edited"
DECISION_DENIED: Final = "denied"
DECISION_UNKNOWN: Final = "unknown"
CALL_SIDE_CLIENT: Final = "client"
CALL_SIDE_SERVER: Final = "server"
CALL_SIDE_LOCAL: Final = "local"

# W3C baggage keys that carry the provenance context across processes.
BAGGAGE_USER: Final = ENDUSER_ID
BAGGAGE_SESSION: Final = SESSION_ID
BAGGAGE_AGENT: Final = GEN_AI_AGENT_ID
