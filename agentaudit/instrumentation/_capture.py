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

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from agentaudit.instrumentation._canonical import canonical_json, digest
from agentaudit.instrumentation._settings import REDACTED, Settings
from agentaudit.schema import attributes as A

__all__ = ["Payload", "capture", "capture_arguments", "redact_keys", "truncate"]

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
    """The hash, size, canonical JSON and (when captured) capped text of a value."""

    __slots__ = ("encoded", "hash", "size", "text")

    def __init__(self, hash: str, size: int, text: str | None, encoded: bytes = b"") -> None:
        self.hash = hash
        self.size = size
        self.text = text
        self.encoded = encoded


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _refuse(value: object) -> object:
    raise TypeError(type(value).__qualname__)


def _c_encoder() -> Callable[[Any, int], Any] | None:
    """The C encoder of the json module, built once (the stdlib rebuilds it per call)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    basestring = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or basestring is None:
        return None
    # (markers, default, encoder, indent, key_sep, item_sep, sort_keys, skipkeys, allow_nan)
    return make(None, _refuse, basestring, None, ":", ",", True, False, False)  # type: ignore[no-any-return]


_C_ENCODE = _c_encoder()
_SAFE_INT = 2**53 - 1
_MAX_MEMO = 4096


class _KeyMemo:
    """Per redact-key set: which argument names are safe to capture as they are."""

    keys: frozenset[str] | None = None
    safe: ClassVar[dict[str, bool]] = {}


def _safe_key(key: object, keys: frozenset[str]) -> bool:
    if _KeyMemo.keys is not keys:
        _KeyMemo.safe.clear()
        _KeyMemo.keys = keys
    if type(key) is not str:
        return False
    known = _KeyMemo.safe.get(key)
    if known is None:
        known = key.isascii() and key.lower() not in keys
        if len(_KeyMemo.safe) < _MAX_MEMO:
            _KeyMemo.safe[key] = known
    return known


def _flat_text(value: dict[Any, Any], keys: frozenset[str]) -> str | None:
    """Canonical JSON of a flat dict of plain scalars with harmless keys, else None.

    The hot path of argument capture: one pass, the C encoder, no copies.
    """
    safe = _KeyMemo.safe if _KeyMemo.keys is keys else None
    for key, item in value.items():
        if safe is None or safe.get(key) is not True:
            if not _safe_key(key, keys):
                return None
            safe = _KeyMemo.safe
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is not int or not -_SAFE_INT <= item <= _SAFE_INT:
            return None
    try:
        if _C_ENCODE is not None:
            return "".join(_C_ENCODE(value, 0))
        return _ENCODER.encode(value)
    except ValueError:
        return None


def _flat_encoded(value: dict[Any, Any], keys: frozenset[str]) -> bytes | None:
    text = _flat_text(value, keys)
    if text is None:
        return None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: the slow path replaces them
        return None


def capture_arguments(
    tool: str, arguments: Any, settings: Settings, attributes: dict[str, Any]
) -> None:
    """Put the arguments hash (and, by policy, the capped arguments) into ``attributes``.

    Same result as :func:`capture`, with the common case (a flat dict of plain values,
    no hook, no key) done inline: this runs once per tool call.
    """
    if settings.redact is None and settings.hash_key is None and type(arguments) is dict:
        text = _flat_text(arguments, settings.redact_keys)
        if text is not None:
            try:
                encoded = text.encode("utf-8")
            except UnicodeEncodeError:
                encoded = None
            if encoded is not None:
                attributes[A.ARGUMENTS_HASH] = "sha256:" + hashlib.sha256(encoded).hexdigest()
                if settings.capture_arguments:
                    limit = settings.max_argument_bytes
                    attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS] = (
                        text if len(encoded) <= limit else truncate(text, limit)
                    )
                return
    payload = capture(
        tool,
        "arguments",
        arguments,
        settings,
        keep=settings.capture_arguments,
        max_bytes=settings.max_argument_bytes,
    )
    attributes[A.ARGUMENTS_HASH] = payload.hash
    if payload.text is not None:
        attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS] = payload.text


def capture(
    tool: str, kind: str, value: Any, settings: Settings, *, keep: bool, max_bytes: int
) -> Payload:
    """Redact, canonicalise and hash ``value``; keep its capped text when ``keep``."""
    if settings.redact is None and type(value) is dict:
        encoded = _flat_encoded(value, settings.redact_keys)
        if encoded is not None:
            text = truncate(encoded.decode("utf-8"), max_bytes) if keep else None
            return Payload(digest(encoded, settings.hash_key), len(encoded), text, encoded)
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
    return Payload(digest(encoded, settings.hash_key), len(encoded), text, encoded)


def arguments_hash(tool: str, arguments: Any) -> str:
    """The ``agentaudit.arguments.hash`` a call of ``tool`` with ``arguments`` will carry
    (with the settings in force: redaction hook, redacted keys, hash key).

    What a human approves with ``POST /v1/approvals``: compute it before the call, show
    the call, ask, then run the call inside ``approval(grant=...)``.
    """
    from agentaudit.instrumentation._settings import settings

    attributes: dict[str, Any] = {}
    capture_arguments(tool, arguments, settings(), attributes)
    return str(attributes[A.ARGUMENTS_HASH])
