"""Source provenance: content that entered the agent, and finding it in model inputs.

Each registered :class:`Source` (a tool result, an email, a web page...) is kept per
session in an LRU bounded by count and bytes; sessions themselves are LRU-bounded. A model
input is matched part by part (each string in the messages):

* a part equal to a source's text matches (one dict lookup, any length);
* a source text of at least ``min_substring_match`` characters inside a part matches
  (``str.__contains__``, a linear C scan per source and part).

Matching cost is linear in the prompt length times the (bounded) number of sources; a
per-session cache keyed by part remembers which sources were already checked against it,
so a growing multi-turn conversation is only scanned for sources registered since the
part was last seen (no quadratic rescans). Thread-safe.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentaudit.instrumentation._canonical import to_jsonable

__all__ = ["Source", "SourceRegistry", "string_parts"]

_MAX_LEAF_NEEDLES = 64
_MAX_CACHED_PARTS = 4096


@dataclass(frozen=True, slots=True)
class Source:
    """One piece of registered content; ``needles`` are the texts searched for."""

    ref: str
    kind: str
    trust: str
    hash: str
    needles: tuple[str, ...]
    size: int
    generation: int = 0


def string_parts(value: Any, *, limit: int = 100_000) -> list[str]:
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


def _renderings(content: Any) -> list[str]:
    """How frameworks commonly turn a structured tool result into prompt text."""
    found: list[str] = []
    try:
        found.append(json.dumps(content, ensure_ascii=False))
        found.append(json.dumps(content))
    except (TypeError, ValueError, RecursionError):
        pass
    if isinstance(content, dict | list | tuple):
        # A hostile __repr__ only costs this one rendering.
        with contextlib.suppress(Exception):
            found.append(str(content))
    return found


MAX_NEEDLE = 64 * 1024
"""Longer texts are searched by their first MAX_NEEDLE characters."""
PREFIX_NEEDLE = 512
"""Texts over 2 * PREFIX_NEEDLE are also found when only their beginning was included."""


def _text_needles(text: str) -> tuple[str, ...]:
    if len(text) <= 2 * PREFIX_NEEDLE:
        return (text,)
    return (text[:MAX_NEEDLE], text[:PREFIX_NEEDLE])


def needles_for(content: Any, canonical_text: str, min_length: int) -> tuple[str, ...]:
    """The texts that identify ``content`` inside a prompt.

    A string is its own needle (long ones: their first 64 KiB, and their first 512
    characters, so a truncated inclusion is found too). Structured content is found by
    its canonical JSON, by its ``json.dumps`` and ``str`` renderings, and by each string
    inside it that is at least ``min_length`` long (so a quoted part is found too).
    """
    if isinstance(content, bytes | bytearray):
        content = bytes(content).decode("utf-8", "replace")
    if isinstance(content, str):
        return _text_needles(content)
    leaves = [part for part in string_parts(content) if len(part) >= min_length]
    texts = [canonical_text, *_renderings(content), *leaves[:_MAX_LEAF_NEEDLES]]
    return tuple(dict.fromkeys(text for text in texts if text))


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


class SourceRegistry:
    """Registered sources per session, bounded (LRU) in count, bytes and sessions."""

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
