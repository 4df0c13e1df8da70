"""The one place where span names and attributes of the span contract (DESIGN §3) are built.

Every integration (the ``audited_tool`` decorator, the runtime used by the framework
integrations, ``record_prompt``) builds its spans here, from constants of
:mod:`agentaudit.schema.attributes`. Attribute dicts that do not change per call (tool
identity, context, prompt linkage) are precomputed once and merged per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentaudit.schema import attributes as A

__all__ = [
    "CONTEXT_DEFAULTS",
    "chat_attributes",
    "chat_span_name",
    "prompt_attributes",
    "tool_attributes",
    "tool_span_name",
]

TOOL_TYPES = frozenset({"function", "extension", "datastore"})

CONTEXT_DEFAULTS: Mapping[str, Any] = {A.APPROVAL_STATUS: A.APPROVAL_NONE}
"""Attributes every tool span carries unless the context overrides them."""


def tool_span_name(tool: str) -> str:
    return A.TOOL_SPAN_PREFIX + tool


def chat_span_name(model: str | None) -> str:
    return f"{A.OPERATION_CHAT} {model}" if model else A.OPERATION_CHAT


def tool_attributes(tool: str, *, framework: str, tool_type: str = "function") -> dict[str, Any]:
    """The static attributes of one tool: identity, operation, framework, defaults."""
    if tool_type not in TOOL_TYPES:
        raise ValueError(f"agentaudit: tool type {tool_type!r} is not one of {sorted(TOOL_TYPES)}")
    attributes: dict[str, Any] = dict(CONTEXT_DEFAULTS)
    attributes[A.GEN_AI_OPERATION_NAME] = A.OPERATION_EXECUTE_TOOL
    attributes[A.GEN_AI_TOOL_NAME] = tool
    attributes[A.GEN_AI_TOOL_TYPE] = tool_type
    attributes[A.FRAMEWORK] = framework
    return attributes


def prompt_attributes(
    prompt_hash: str,
    refs: Sequence[str],
    kinds: Sequence[str],
    trust: Sequence[str],
    hashes: Sequence[str],
) -> dict[str, Any]:
    """Prompt linkage carried by a model-call span and the tool calls it produced."""
    if not refs:
        return {A.PROMPT_HASH: prompt_hash}
    return {  # tuple() of a tuple is the tuple itself: no copy on the hot path
        A.PROMPT_HASH: prompt_hash,
        A.SOURCE_REFS: tuple(refs),
        A.SOURCE_KINDS: tuple(kinds),
        A.SOURCE_TRUST: tuple(trust),
        A.SOURCE_HASHES: tuple(hashes),
    }


def chat_attributes(
    model: str | None,
    *,
    framework: str,
    context: Mapping[str, Any],
    prompt: Mapping[str, Any],
) -> dict[str, Any]:
    """Attributes of a ``chat {model}`` span: operation, model, identity, prompt linkage."""
    attributes: dict[str, Any] = {
        key: value
        for key, value in context.items()
        if key
        in (
            A.ENDUSER_ID,
            A.SESSION_ID,
            A.GEN_AI_AGENT_ID,
            A.GEN_AI_AGENT_NAME,
            A.GEN_AI_CONVERSATION_ID,
        )
    }
    attributes[A.GEN_AI_OPERATION_NAME] = A.OPERATION_CHAT
    if model:
        attributes[A.GEN_AI_REQUEST_MODEL] = model
    attributes[A.FRAMEWORK] = framework
    attributes.update(prompt)
    return attributes
