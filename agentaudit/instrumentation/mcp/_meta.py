"""What travels in an MCP request's ``_meta``: trace context and the provenance context.

The client side writes, next to the W3C ``traceparent`` / ``tracestate`` / ``baggage``
entries of SEP-414 (injected with the global propagator), namespaced keys that do not
depend on the propagator configuration:

* ``io.agentaudit/traceparent`` - the W3C traceparent of the client's tool span, so the
  server span is parented to it even when the SDK's own transport span rewrote
  ``traceparent``;
* ``io.agentaudit/tool_call_id`` - the client's tool-call id (the model's, or the client
  span's id when the model gave none), so both sides of the call record the same id;
* ``io.agentaudit/user``, ``/session``, ``/agent``, ``/conversation`` - the originating
  user, session, agent and conversation of the call;
* ``io.agentaudit/approval``, ``/approver`` - the caller's approval of the call (``human``
  or ``policy`` and who), when it has one.

Pure: no MCP import. :func:`extract` never raises on malformed input; it ignores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from agentaudit.schema import attributes as A

__all__ = [
    "META_AGENT",
    "META_APPROVAL",
    "META_APPROVER",
    "META_CONVERSATION",
    "META_SESSION",
    "META_TOOL_CALL_ID",
    "META_TRACEPARENT",
    "META_USER",
    "extract",
    "inject",
]

META_TRACEPARENT = "io.agentaudit/traceparent"
META_TOOL_CALL_ID = "io.agentaudit/tool_call_id"
META_USER = "io.agentaudit/user"
META_SESSION = "io.agentaudit/session"
META_AGENT = "io.agentaudit/agent"
META_CONVERSATION = "io.agentaudit/conversation"
META_APPROVAL = "io.agentaudit/approval"
META_APPROVER = "io.agentaudit/approver"

_IDENTITY: Mapping[str, str] = {
    META_TOOL_CALL_ID: A.GEN_AI_TOOL_CALL_ID,
    META_USER: A.ENDUSER_ID,
    META_SESSION: A.SESSION_ID,
    META_AGENT: A.GEN_AI_AGENT_ID,
    META_CONVERSATION: A.GEN_AI_CONVERSATION_ID,
    META_APPROVAL: A.APPROVAL_STATUS,
    META_APPROVER: A.APPROVAL_APPROVER,
}
_APPROVALS = frozenset({A.APPROVAL_HUMAN, A.APPROVAL_POLICY})
_MAX_VALUE = 512
_tracecontext = TraceContextTextMapPropagator()


def inject(meta: dict[str, Any], identity: Mapping[str, Any], ctx: Context | None = None) -> None:
    """Write the trace context of ``ctx`` (default: current) and ``identity`` into ``meta``.

    ``identity`` holds span attributes (``gen_ai.tool.call.id``, ``enduser.id``,
    ``session.id``, ``gen_ai.agent.id``, ``gen_ai.conversation.id``, the approval status
    and approver); absent or empty ones, and an approval status other than ``human`` /
    ``policy``, are not written.
    """
    current = ctx if ctx is not None else otel_context.get_current()
    propagate.inject(meta, context=current)
    own: dict[str, str] = {}
    _tracecontext.inject(own, context=current)
    if "traceparent" in own:
        meta[META_TRACEPARENT] = own["traceparent"]
    for key, attribute in _IDENTITY.items():
        value = identity.get(attribute)
        if isinstance(value, str) and value:
            meta[key] = value
    if meta.get(META_APPROVAL) not in _APPROVALS or not meta.get(META_APPROVER):
        meta.pop(META_APPROVAL, None)
        meta.pop(META_APPROVER, None)


def extract(meta: Mapping[str, Any] | None) -> tuple[Context | None, dict[str, str]]:
    """(parent context, identity attributes) carried by ``meta``.

    The parent is the client tool span named by ``io.agentaudit/traceparent`` when valid,
    else the standard ``traceparent``; baggage comes along either way. None when ``meta``
    carries no valid trace context.
    """
    if not isinstance(meta, Mapping) or not meta:
        return None, {}
    carrier = {key: value for key, value in meta.items() if isinstance(value, str)}
    ctx: Context | None = None
    try:
        ctx = propagate.extract(carrier)
        own = carrier.get(META_TRACEPARENT)
        if own:
            ctx = _tracecontext.extract({"traceparent": own}, context=ctx)
    except (ValueError, TypeError):
        ctx = None
    if ctx is not None and not get_current_span(ctx).get_span_context().is_valid:
        ctx = None
    identity: dict[str, str] = {}
    for key, attribute in _IDENTITY.items():
        value = carrier.get(key)
        if value and len(value) <= _MAX_VALUE:
            identity[attribute] = value
    if identity.get(A.APPROVAL_STATUS) not in _APPROVALS or A.APPROVAL_APPROVER not in identity:
        identity.pop(A.APPROVAL_STATUS, None)
        identity.pop(A.APPROVAL_APPROVER, None)
    return ctx, identity
