"""Capture policy: what of a call's arguments and result leaves the process, and how.

* Arguments are captured by default as canonical JSON, capped at ``max_argument_bytes``
  with a visible truncation marker; their hash is always recorded.
* Results are recorded as hash and size by default; content only when opted in.
* Before anything is hashed or captured, values under sensitive keys (``password``,
  ``token``, ...) are replaced by ``[REDACTED]`` and the configured redaction hook runs:
  what they remove never leaves the process.

Never raises on hostile values (deep nesting, cycles, non-JSON objects, bytes): they go
through :func:`~agentaudit.instrumentation._canonical.to_jsonable` markers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from agentaudit.instrumentation._canonical import canonical_json, digest
from agentaudit.instrumentation._settings import REDACTED, Settings

__all__ = ["Payload", "capture", "redact_keys", "truncate"]

log = logging.getLogger("agentaudit.instrumentation")

TRUNCATION_MARKER = "…[truncated, {size} bytes in total]"
_MAX_REDACT_DEPTH = 16


def truncate(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes plus a marker naming the full size."""
    if len(text) * 4 <= max_bytes:
        return text
    raw = text.encode("utf-8", "replace")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", "ignore") + TRUNCATION_MARKER.format(size=len(raw))


def redact_keys(value: Any, keys: frozenset[str], depth: int = 0) -> Any:
    """``value`` with entries under a key in ``keys`` (case-insensitive) masked.

    Returns ``value`` itself when nothing was masked (no copy on the common path).
    """
    if depth > _MAX_REDACT_DEPTH:
        return value
    if isinstance(value, Mapping):
        changed: dict[Any, Any] | None = None
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in keys:
                new: Any = REDACTED
            else:
                new = redact_keys(item, keys, depth + 1)
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list | tuple):
        items = [redact_keys(item, keys, depth + 1) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
    return value


class Payload:
    """The hash, size and (when captured) capped text of a value."""

    __slots__ = ("hash", "size", "text")

    def __init__(self, hash: str, size: int, text: str | None) -> None:
        self.hash = hash
        self.size = size
        self.text = text


def capture(
    tool: str, kind: str, value: Any, settings: Settings, *, keep: bool, max_bytes: int
) -> Payload:
    """Redact, canonicalise and hash ``value``; keep its capped text when ``keep``."""
    if settings.redact_keys:
        value = redact_keys(value, settings.redact_keys)
    if settings.redact is not None:
        try:
            value = settings.redact(tool, kind, value)
        except Exception:
            log.exception(
                "agentaudit: the redaction hook failed; %s of %s not captured", kind, tool
            )
            return Payload(digest(b'"[redaction failed]"', settings.hash_key), 0, None)
    encoded = canonical_json(value)
    text = truncate(encoded.decode("utf-8"), max_bytes) if keep else None
    return Payload(digest(encoded, settings.hash_key), len(encoded), text)
