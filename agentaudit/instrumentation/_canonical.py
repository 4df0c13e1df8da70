"""Canonical JSON (RFC 8785) and the content hashes built on it.

Every hash the instrumentation emits (prompt, arguments, result, source) is
``sha256:<hex>`` of the RFC 8785 canonical JSON of a value, or ``hmac-sha256:<hex>``
when a hash key is configured (so short values cannot be recovered by guessing).

Invariants:

* :func:`canonical_json` of a JSON value equals ``rfc8785.dumps`` of it; a fast path uses
  the C ``json`` encoder when its output is provably identical (no floats, ASCII keys,
  integers within ±2**53, no lone surrogates) and otherwise defers to ``rfc8785``.
* Any Python value can be hashed: :func:`to_jsonable` first maps it to a bounded JSON value
  (cycles, depth, container sizes, bytes, non-JSON objects, NaN and huge integers all
  become explicit marker strings), so hashing never raises and never recurses unboundedly.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import rfc8785

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_NODES",
    "canonical_json",
    "digest",
    "to_jsonable",
]

MAX_DEPTH = 32
"""Containers nested deeper than this become the marker ``"<depth limit>"``."""
MAX_ITEMS = 1000
"""A container keeps its first MAX_ITEMS items, then a ``"<N more items>"`` marker."""
MAX_NODES = 20_000
"""After this many values the rest of a structure becomes ``"<node limit>"``."""

_SAFE_INT = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_SIMPLE_SCALARS = (str, int, bool, type(None))


def _plain_fast(value: Any, depth: int = 0) -> bool:
    """True when the C json encoder produces exactly the RFC 8785 form of ``value``."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    if depth > 8:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not _plain_fast(item, depth + 1):
                return False
        return True
    if kind is list:
        return all(_plain_fast(item, depth + 1) for item in value)
    return False


def _encode_fast(value: Any) -> bytes | None:
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return text.encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError, RecursionError):
        return None  # lone surrogates and the like: let the slow path decide


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 JSON of any value (mapped through :func:`to_jsonable`)."""
    if _plain_fast(value):
        encoded = _encode_fast(value)
        if encoded is not None:
            return encoded
    jsonable = to_jsonable(value)
    if _plain_fast(jsonable):
        encoded = _encode_fast(jsonable)
        if encoded is not None:
            return encoded
    return rfc8785.dumps(jsonable)


def digest(data: bytes, key: bytes | None = None) -> str:
    """``sha256:<hex>`` of ``data``, or ``hmac-sha256:<hex>`` when ``key`` is given."""
    if key is None:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()


def _text(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _text(key)
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, int | float):
        return str(key)
    return f"<{type(key).__qualname__}>"


def _scalar(value: Any) -> tuple[bool, Any]:
    """Map scalars; (False, None) when ``value`` is not one."""
    if isinstance(value, str):
        return True, _text(value)
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, int):
        if -_SAFE_INT <= value <= _SAFE_INT:
            return True, int(value)
        return True, str(int(value))
    if isinstance(value, float):
        if math.isfinite(value):
            return True, float(value)
        return True, "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return True, f"<bytes {len(raw)} sha256:{hashlib.sha256(raw).hexdigest()}>"
    if isinstance(value, enum.Enum):
        return _scalar(value.value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return True, value.isoformat()
    return False, None


def to_jsonable(value: Any, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> Any:
    """A bounded JSON value (dict/list/str/int/float/bool/None) standing for ``value``.

    Never raises: cycles become ``"<cycle>"``, objects without a JSON form become
    ``"<TypeName>"`` (their ``repr`` is never called: it may leak secrets or raise).
    """
    return _Walker(max_depth, max_items).walk(value, 0)


class _Walker:
    """One bounded traversal: the containers on the current path and a node budget."""

    __slots__ = ("active", "max_depth", "max_items", "nodes")

    def __init__(self, max_depth: int, max_items: int) -> None:
        self.max_depth = max_depth
        self.max_items = max_items
        self.active: set[int] = set()
        self.nodes = 0

    def walk(self, value: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return "<node limit>"
        is_scalar, mapped = _scalar(value)
        if is_scalar:
            return mapped
        if depth >= self.max_depth:
            return "<depth limit>"
        marker = id(value)
        if marker in self.active:
            return "<cycle>"
        self.active.add(marker)
        try:
            return self._container(value, depth)
        finally:
            self.active.discard(marker)

    def _container(self, value: Any, depth: int) -> Any:
        limit = self.max_items
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for index, (key, item) in enumerate(value.items()):
                if index >= limit:
                    out["<more>"] = f"<{len(value) - limit} more items>"
                    break
                out[_key(key)] = self.walk(item, depth + 1)
            return out
        if isinstance(value, list | tuple | set | frozenset):
            items = list(value)
            if isinstance(value, set | frozenset):
                items.sort(key=lambda item: (type(item).__qualname__, str(item)))
            out_list = [self.walk(item, depth + 1) for item in items[:limit]]
            if len(items) > limit:
                out_list.append(f"<{len(items) - limit} more items>")
            return out_list
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
            return self._container(fields, depth)
        dump = getattr(type(value), "model_dump", None)  # pydantic v2 models
        if callable(dump):
            try:
                dumped = dump(value, mode="json")
            except Exception:  # a hostile model_dump must not break the agent
                return f"<{type(value).__qualname__}>"
            return self.walk(dumped, depth)
        return f"<{type(value).__qualname__}>"
