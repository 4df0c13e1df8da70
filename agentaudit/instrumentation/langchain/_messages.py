"""The canonical JSON form of a LangChain model input, which the prompt hash is taken over.

A chat model input (one list of ``BaseMessage``) becomes a list of dicts::

    {"role": "system" | "user" | "assistant" | "tool" | <message type>,
     "content": <str, or the list of content blocks as given>,
     "tool_calls": [{"id": ..., "name": ..., "arguments": {...}}],   # assistant, when any
     "tool_call_id": ...,                                              # tool messages
     "name": ...}                                                      # when the message has one

Keys whose value would be empty (no tool calls, no name) are left out, so the same
conversation always hashes the same. A completion model input (a prompt string) is
``[{"role": "user", "content": <prompt>}]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["canonical_messages", "canonical_prompt"]

_ROLES: Mapping[str, str] = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
}


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    calls = getattr(message, "tool_calls", None) or []
    return [
        {
            "id": call.get("id"),
            "name": call.get("name"),
            "arguments": call.get("args") or {},
        }
        for call in calls
        if isinstance(call, Mapping)
    ]


def canonical_message(message: Any) -> dict[str, Any]:
    """One message as ``{role, content, tool_calls?, tool_call_id?, name?}``."""
    kind = str(getattr(message, "type", "") or type(message).__name__)
    out: dict[str, Any] = {
        "role": _ROLES.get(kind, kind),
        "content": getattr(message, "content", ""),
    }
    calls = _tool_calls(message)
    if calls:
        out["tool_calls"] = calls
    call_id = getattr(message, "tool_call_id", None)
    if call_id:
        out["tool_call_id"] = call_id
    name = getattr(message, "name", None)
    if name:
        out["name"] = name
    return out


def canonical_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """A chat model input in canonical form (see the module docstring)."""
    return [canonical_message(message) for message in messages]


def canonical_prompt(prompt: str) -> list[dict[str, Any]]:
    """A completion model input in canonical form."""
    return [{"role": "user", "content": prompt}]
