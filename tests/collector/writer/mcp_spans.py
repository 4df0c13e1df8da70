"""Spans of MCP calls as the integration records them: the caller's and the tool server's.

Shared by the tests of the writer's one-row-per-call split and of the detector's
``unrecorded_call`` sweep; every span goes through the real writer into a real store.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from typing import Any

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.writer import Writer
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.audit_chain import AuditChain

__all__ = ["T0", "TRACE", "server_of", "store_batches", "tool_span"]

_ids = itertools.count(1)
T0 = 1_700_000_000_000_000_000
TRACE = "ab" * 16


def _hash(arguments: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()


def tool_span(
    *,
    side: str | None = None,
    kind: str = "Internal",
    parent: str = "",
    call_id: str = "call_1",
    tool: str = "create_event",
    arguments: dict[str, Any] | None = None,
    service: str = "calendar-agent",
    resources: tuple[str, ...] = ("calendar:alice/2026-11-29",),
    trace_id: str = TRACE,
) -> SpanRecord:
    n = next(_ids)
    arguments = {"owner": "alice", "title": "Prep"} if arguments is None else arguments
    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: tool,
        A.GEN_AI_TOOL_CALL_ID: call_id,
        A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(arguments),
        A.ARGUMENTS_HASH: _hash(arguments),
        A.GEN_AI_AGENT_ID: "calendar-assistant",
        A.ENDUSER_ID: "alice",
        A.SESSION_ID: "sess-a",
        A.FRAMEWORK: "mcp",
        A.RESOURCE_IDS: list(resources),
    }
    if side is not None:
        attributes[A.CALL_SIDE] = side
    return SpanRecord(
        trace_id,
        f"{n:016x}",
        f"execute_tool {tool}",
        T0 + n * 1_000_000,
        T0 + n * 1_000_000 + 500,
        parent_span_id=parent,
        kind=kind,
        attributes=attributes,
        resource_attributes={A.SERVICE_NAME: service},
    )


def server_of(client: SpanRecord, **overrides: Any) -> SpanRecord:
    """The tool server's span of ``client``'s call (as the MCP integration records it)."""
    fields: dict[str, Any] = {
        "side": A.CALL_SIDE_SERVER,
        "kind": "Server",
        "parent": client.span_id,
        "call_id": str(client.attributes[A.GEN_AI_TOOL_CALL_ID]),
        "tool": str(client.attributes[A.GEN_AI_TOOL_NAME]),
        "arguments": json.loads(str(client.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS])),
        "service": "calendar-server",
        "resources": ("calendar:evt-777",),
        "trace_id": client.trace_id,
    }
    fields.update(overrides)
    return tool_span(**fields)


def store_batches(
    store: Store, *batches: list[SpanRecord], on_stored: Callable[[Any], None] | None = None
) -> None:
    """Each list in a batch (and audit-chain link) of its own, in this order;
    ``on_stored`` gets each stored batch, as the writer hands it to the detector."""
    writer = Writer(store, chain=AuditChain(store), on_stored=on_stored)
    for batch in batches:
        writer.enqueue(batch)
        writer.flush()
