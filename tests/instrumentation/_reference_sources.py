"""The algorithms this round replaced, kept verbatim as test references only.

* :class:`ReferenceRegistry` - the source registry before the multi-pattern matcher:
  per part, one ``str.__contains__`` per registered needle, with a per-part scan cache.
  The cache is gone from the package (its only observable effects were stale answers:
  a ref re-registered with other content, or a changed ``min_substring``, was not
  re-checked against parts scanned before); :meth:`ReferenceRegistry.answer` clears it
  before matching, which is the old algorithm's answer for the registry as it is.
* :func:`reference_string_parts`, :func:`reference_canonical_json` - the string walk and
  the canonical JSON (fast path only for values without floats and non-ASCII keys).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import rfc8785

from agentaudit.instrumentation._canonical import to_jsonable
from agentaudit.instrumentation._sources import Source

_MAX_CACHED_PARTS = 4096
_SAFE_INT = 2**53 - 1


def reference_string_parts(value: Any, *, limit: int = 100_000) -> list[str]:
    """Every string inside ``value`` (dict values, list items), depth-first, bounded."""
    parts: list[str] = []
    stack: list[Any] = [value]
    seen = 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            if item:
                parts.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif item is not None and not isinstance(item, int | float):
            converted = to_jsonable(item)  # framework message objects, dataclasses
            if isinstance(converted, dict | list):
                stack.append(converted)
    return parts


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


def reference_canonical_json(value: Any) -> bytes:
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


class _Session:
    __slots__ = ("bytes", "exact", "generation", "lock", "scanned", "sources")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        """Guards this session only: a long scan never blocks other sessions."""
        self.sources: OrderedDict[str, Source] = OrderedDict()
        self.exact: dict[str, str] = {}
        self.bytes = 0
        self.generation = 0
        self.scanned: OrderedDict[tuple[int, int], tuple[int, tuple[str, ...]]] = OrderedDict()


class ReferenceRegistry:
    """The old registry: per part, a C scan per needle, and a per-part scan cache."""

    def __init__(
        self,
        *,
        max_sources: int = 256,
        max_bytes: int = 8 * 1024 * 1024,
        max_sessions: int = 1024,
        min_substring: int = 16,
    ) -> None:
        self.max_sources = max_sources
        self.max_bytes = max_bytes
        self.max_sessions = max_sessions
        self.min_substring = min_substring
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def _session(self, session: str) -> _Session:
        state = self._sessions.get(session)
        if state is None:
            state = self._sessions[session] = _Session()
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(session)
        return state

    def add(self, session: str, source: Source) -> Source:
        """Register ``source`` in ``session`` (replacing one with the same ref).

        The newest source is always kept, even when it alone exceeds the byte bound.
        """
        with self._lock:
            state = self._session(session)
        with state.lock:
            old = state.sources.pop(source.ref, None)
            if old is not None:
                self._forget(state, old)
            state.generation += 1
            stored = Source(
                source.ref,
                source.kind,
                source.trust,
                source.hash,
                source.needles,
                source.size,
                state.generation,
            )
            state.sources[stored.ref] = stored
            state.bytes += stored.size
            for needle in stored.needles:
                state.exact[needle] = stored.ref
            while len(state.sources) > 1 and (
                len(state.sources) > self.max_sources or state.bytes > self.max_bytes
            ):
                _, evicted = state.sources.popitem(last=False)
                self._forget(state, evicted)
            return stored

    @staticmethod
    def _forget(state: _Session, source: Source) -> None:
        state.bytes -= source.size
        for needle in source.needles:
            if state.exact.get(needle) == source.ref:
                del state.exact[needle]

    def sources(self, session: str) -> list[Source]:
        with self._lock:
            state = self._sessions.get(session)
        if state is None:
            return []
        with state.lock:
            return list(state.sources.values())

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()

    def match(self, session: str, parts: Iterable[str]) -> list[Source]:
        """The sources found in ``parts``, in order of first appearance, each once."""
        with self._lock:
            state = self._sessions.get(session)
        if state is None:
            return []
        with state.lock:
            if not state.sources:
                return []
            found: dict[str, Source] = {}
            for part in parts:
                for ref in self._match_part(state, part):
                    source = state.sources.get(ref)
                    if source is not None and ref not in found:
                        found[ref] = source
            for ref in found:
                state.sources.move_to_end(ref)  # a source in use stays registered
            return list(found.values())

    def _match_part(self, state: _Session, part: str) -> tuple[str, ...]:
        key = (hash(part), len(part))
        cached = state.scanned.get(key)
        if cached is not None and cached[0] == state.generation:
            state.scanned.move_to_end(key)
            return cached[1]
        since = cached[0] if cached is not None else 0
        refs = [ref for ref in (cached[1] if cached else ()) if ref in state.sources]
        exact = state.exact.get(part)
        if exact is not None and exact not in refs:
            refs.append(exact)
        size = len(part)
        minimum = self.min_substring
        for source in state.sources.values():
            if source.generation <= since or source.ref in refs:
                continue
            for needle in source.needles:
                if minimum <= len(needle) <= size and needle in part:
                    refs.append(source.ref)
                    break
        result = tuple(refs)
        state.scanned[key] = (state.generation, result)
        state.scanned.move_to_end(key)
        while len(state.scanned) > _MAX_CACHED_PARTS:
            state.scanned.popitem(last=False)
        return result

    def answer(self, session: str, parts: Iterable[str]) -> list[Source]:
        """The old algorithm's answer for the registry as it is now (cache cleared)."""
        state = self._sessions.get(session)
        if state is not None:
            state.scanned.clear()
        return self.match(session, parts)
