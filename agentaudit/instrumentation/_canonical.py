"""Canonical JSON (RFC 8785) and the content hashes built on it.

Every hash the instrumentation emits (prompt, arguments, result, source) is
``sha256:<hex>`` of the RFC 8785 canonical JSON of a value, or ``hmac-sha256:<hex>``
when a hash key is configured (so short values cannot be recovered by guessing).

Invariants:

* :func:`canonical_json` of a JSON value equals ``rfc8785.dumps`` of it; a fast path uses
  the C ``json`` encoder when its output is provably identical (a *plain* value, see
  :func:`plain_strings`: integers within ±2**53, floats whose ``repr`` is their RFC 8785
  form, keys whose code-point order is their UTF-16 order, no lone surrogates) and
  otherwise defers to ``rfc8785``.
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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import rfc8785

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_NODES",
    "canonical_json",
    "digest",
    "plain_strings",
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
_UTF16_ORDER_DIFFERS = re.compile("[\ue000-\U0010ffff]")
"""Key characters whose code-point order may differ from RFC 8785's UTF-16 order."""
_PLAIN_DEPTH = 8
"""Containers nested deeper than this always take the exact path."""
STRINGS_LIMIT = 100_000
"""How many values :func:`plain_strings` (and ``string_parts``) look at, at most."""


class _Plain:
    """One walk over a value: is it plain (see :func:`plain_strings`), and its strings.

    ``extended``: it has a float or a non-ASCII key (the C encoder renders these exactly,
    but before this walk knew so, such values took the exact path: they stay on it when
    :func:`to_jsonable` would bound them, so no hash changes). ``oversized``: it has a
    container of more than MAX_ITEMS items or more than MAX_NODES values.
    """

    __slots__ = ("extended", "limit", "nodes", "oversized", "strings")

    def __init__(self, limit: int) -> None:
        self.extended = False
        self.oversized = False
        self.limit = limit
        self.nodes = 1
        self.strings: list[str] = []

    def container(self, value: dict[Any, Any] | list[Any], depth: int) -> bool:
        """``value`` is exactly a dict or a list, counted already."""
        if depth > _PLAIN_DEPTH:
            return False
        if len(value) > MAX_ITEMS:
            self.oversized = True
        if type(value) is dict:
            for key in value:
                if type(key) is not str:
                    return False
                if not key.isascii():
                    if _UTF16_ORDER_DIFFERS.search(key):
                        return False
                    self.extended = True
            items: Iterable[Any] = value.values()
        else:
            items = value
        strings = self.strings
        limit = self.limit
        nodes = self.nodes  # a local in the loop: this is the hot path of record_prompt
        for item in items:
            nodes += 1
            kind = type(item)
            if kind is str:
                if item and nodes <= limit:
                    strings.append(item)
            elif kind is dict or kind is list:
                self.nodes = nodes
                if not self.container(item, depth + 1):
                    return False
                nodes = self.nodes
            elif kind is int:
                if not -_SAFE_INT <= item <= _SAFE_INT:
                    return False
            elif kind is float:
                if not _fast_float(item):
                    return False
                self.extended = True
            elif not (kind is bool or item is None):
                return False
        self.nodes = nodes
        if nodes > MAX_NODES:
            self.oversized = True
        return True


def _fast_float(number: float) -> bool:
    """True when ``repr(number)`` is its RFC 8785 form: finite, not integral (no ``.0``),
    and in [1e-4, 1e16) in magnitude (no exponent in either form)."""
    return 1e-4 <= abs(number) < 1e16 and not number.is_integer()


def plain_strings(value: Any, limit: int = STRINGS_LIMIT) -> list[str] | None:
    """The non-empty strings of ``value`` when it is **plain**, else None.

    Plain: dicts with string keys, lists, strings, booleans, None, integers within
    +-(2**53 - 1), floats that :func:`_fast_float` accepts, nested at most 8 deep (exact
    types only), and keys with no character from U+E000 up; values with a float or a
    non-ASCII key must also be within the MAX_ITEMS/MAX_NODES bounds. The C ``json``
    encoder renders a plain value exactly as RFC 8785 does (unless a string holds a
    lone surrogate, which fails to encode).

    The strings are those of the first ``limit`` values in depth-first order (dict values
    and list items; keys are not values), as ``string_parts`` returns them.
    """
    kind = type(value)
    if kind is str:
        return [value] if value else []
    if kind is list:
        flat = _flat_messages(value, limit)
        if flat is not None:
            return flat
    if kind is dict or kind is list:
        walk = _Plain(limit)
        if not walk.container(value, 0) or (walk.extended and walk.oversized):
            return None
        return walk.strings
    if kind is bool or value is None:
        return []
    if kind is int:
        return [] if -_SAFE_INT <= value <= _SAFE_INT else None
    if kind is float:
        return [] if _fast_float(value) else None
    return None


def _flat_messages(value: list[Any], limit: int) -> list[str] | None:
    """:func:`plain_strings` of the common model input, a list of flat dicts (ASCII
    string keys; values strings, booleans, None or safe integers), in one loop without
    the general walk; None when ``value`` has another shape (the general walk decides).
    Such a value is plain whatever its size (no float, no non-ASCII key)."""
    strings: list[str] = []
    nodes = 1
    for item in value:
        nodes += 1
        if type(item) is not dict:
            return None
        for key in item:
            if type(key) is not str or not key.isascii():
                return None
        for field in item.values():
            nodes += 1
            kind = type(field)
            if kind is str:
                if field and nodes <= limit:
                    strings.append(field)
            elif kind is int:
                if not -_SAFE_INT <= field <= _SAFE_INT:
                    return None
            elif not (kind is bool or field is None):
                return None
    return strings


def _no_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__qualname__} is not plain JSON")


def _plain_encoder(*, ascii_only: bool = False) -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=ascii_only, sort_keys=True, separators=(",", ":"))``,
    with the C encoder built once instead of per call (plain values need no cycle
    check: they are at most 8 deep)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is not None:
        try:
            encoder = make(
                None,  # markers: no cycle check
                _no_default,
                json.encoder.encode_basestring_ascii
                if ascii_only
                else json.encoder.encode_basestring,
                None,  # indent
                ":",
                ",",
                True,  # sort_keys
                False,  # skipkeys
                False,  # allow_nan
            )
        except TypeError:  # another signature: use the public path
            pass
        else:
            return lambda value: "".join(encoder(value, 0))
    return json.JSONEncoder(
        ensure_ascii=ascii_only, sort_keys=True, separators=(",", ":"), check_circular=False
    ).encode


_encode_plain = _plain_encoder()
_encode_ascii = _plain_encoder(ascii_only=True)
"""The C encoder's ASCII mode: 2-2.5x faster on long strings (CPython 3.11). Its output
differs from the other mode's only where a character from U+007F up is written as a
``\\uXXXX`` escape; without any ``\\u`` in it, it is the same text."""


def _encode_fast(value: Any, *, ascii_hint: bool = False) -> bytes | None:
    if ascii_hint:
        try:
            text = _encode_ascii(value)
        except (ValueError, TypeError, RecursionError):
            pass  # the mode below decides
        else:
            if "\\u" not in text:  # no character was escaped as \uXXXX: the same text
                return text.encode("ascii")
    try:
        return _encode_plain(value).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError, RecursionError):
        return None  # lone surrogates and the like: let the exact path decide


def canonical_json(value: Any, *, plain: bool | None = None, ascii_hint: bool = False) -> bytes:
    """RFC 8785 canonical UTF-8 JSON of any value (mapped through :func:`to_jsonable`).

    ``plain``: whether ``value`` is plain, when the caller already knows it
    (``plain_strings(value) is not None``); None: find out. ``ascii_hint``: the caller
    saw only ASCII strings in it (its plain strings), so the C encoder's faster ASCII mode
    is tried first; its output is used only when it provably equals the other mode's.
    """
    if plain is None:
        plain = plain_strings(value, 0) is not None
    if plain:
        encoded = _encode_fast(value, ascii_hint=ascii_hint)
        if encoded is not None:
            return encoded
    jsonable = to_jsonable(value)
    if plain_strings(jsonable, 0) is not None:
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
