"""Source provenance: content that entered the agent, and finding it in model inputs.

Each registered :class:`Source` (a tool result, an email, a web page...) is kept per
session in an LRU bounded by count and bytes; sessions themselves are LRU-bounded. A model
input is matched part by part (each string in the messages):

* a part equal to one of a source's needles matches (one dict lookup, any length);
* a needle of at least ``min_substring_match`` characters inside a part matches.

Matching is linear in the prompt length whatever the number of sources: the parts are
scanned once, by one C substring scan per needle when there are few needles and by one
gram pass over the text when there are many (:mod:`._matching`). Nothing is cached per
part: a rescan of a conversation costs less than the canonical JSON and SHA-256 that
``record_prompt`` computes over the same prompt, and every answer reflects the sources
registered now. Thread-safe.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentaudit.instrumentation._canonical import STRINGS_LIMIT, plain_strings, to_jsonable
from agentaudit.instrumentation._matching import TIERS, NeedleIndex, Tier

__all__ = ["Source", "SourceRegistry", "string_parts"]

_MAX_LEAF_NEEDLES = 64


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


def string_parts(value: Any, *, limit: int = STRINGS_LIMIT) -> list[str]:
    """Every non-empty string inside ``value`` (dict values, list items), depth-first,
    among its first ``limit`` values."""
    plain = plain_strings(value, limit)
    if plain is not None:
        return plain
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
    __slots__ = ("bytes", "exact", "generation", "index", "lengths", "lock", "sources")

    def __init__(self, tiers: tuple[Tier, ...]) -> None:
        self.lock = threading.Lock()
        """Guards this session only: a long scan never blocks other sessions."""
        self.sources: OrderedDict[str, Source] = OrderedDict()
        """By ref, least recently used first."""
        self.exact: dict[str, str] = {}
        """Needle -> the ref of the last source registered with it."""
        self.lengths: dict[int, int] = {}
        """How many registered needles have each length: a part of another length
        equals none of them, so it is not hashed for the exact lookup."""
        self.index = NeedleIndex(tiers)
        self.bytes = 0
        self.generation = 0


class SourceRegistry:
    """Registered sources per session, bounded (LRU) in count, bytes and sessions.

    ``index_tiers``: the matcher's tiers (:data:`._matching.TIERS`; tests lower the
    thresholds to exercise the gram pass with a few sources).
    """

    def __init__(
        self,
        *,
        max_sources: int = 256,
        max_bytes: int = 8 * 1024 * 1024,
        max_sessions: int = 1024,
        min_substring: int = 16,
        index_tiers: tuple[Tier, ...] = TIERS,
    ) -> None:
        self.max_sources = max_sources
        self.max_bytes = max_bytes
        self.max_sessions = max_sessions
        self.min_substring = min_substring
        self._tiers = index_tiers
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def _session(self, session: str) -> _Session:
        state = self._sessions.get(session)
        if state is None:
            state = self._sessions[session] = _Session(self._tiers)
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
            lengths = state.lengths
            for needle in stored.needles:
                state.exact[needle] = stored.ref
                lengths[len(needle)] = lengths.get(len(needle), 0) + 1
            state.index.add(stored.ref, stored.needles)
            while len(state.sources) > 1 and (
                len(state.sources) > self.max_sources or state.bytes > self.max_bytes
            ):
                _, evicted = state.sources.popitem(last=False)
                self._forget(state, evicted)
            return stored

    @staticmethod
    def _forget(state: _Session, source: Source) -> None:
        state.bytes -= source.size
        state.index.discard(source.ref)
        lengths = state.lengths
        for needle in source.needles:
            if state.exact.get(needle) == source.ref:
                del state.exact[needle]
            left = lengths[len(needle)] - 1
            if left:
                lengths[len(needle)] = left
            else:
                del lengths[len(needle)]

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
        """The sources found in ``parts``, in order of first appearance, each once.

        Within one part: the source one of whose needles equals the part, then those
        with a needle of at least ``min_substring`` characters inside it, least recently
        used first. The sources found become the most recently used.
        """
        state = self._sessions.get(session)  # one C-level read: needs no registry lock
        if state is None:
            return []
        with state.lock:
            sources = state.sources
            if not sources:
                return []
            minimum = self.min_substring
            lengths = state.lengths
            equal: dict[int, str] = {}
            """Part position -> the ref whose needle equals the part."""
            texts: list[str] = []
            positions: list[int] = []
            for position, part in enumerate(parts):
                size = len(part)
                if size in lengths:
                    ref = state.exact.get(part)
                    if ref is not None:
                        equal[position] = ref
                if size >= minimum:
                    texts.append(part)
                    positions.append(position)
            inside = state.index.find(texts, minimum)
            if not equal:
                if not inside:
                    return []
                if len(inside) == 1:  # the common case: one source, nothing to order
                    (ref,) = inside
                    sources.move_to_end(ref)  # a source in use stays registered
                    return [sources[ref]]
            found = self._in_order(state, equal, inside, positions)
            for source in found:
                sources.move_to_end(source.ref)
            return found

    @staticmethod
    def _in_order(
        state: _Session, equal: dict[int, str], inside: dict[str, int], texts: list[int]
    ) -> list[Source]:
        """The sources matched, each once, by the part they first appear in: per part the
        exact match, then the others in registry order. ``inside`` gives the first
        scanned text holding each ref, ``texts`` maps scanned texts to part positions."""
        by_part: dict[int, list[str]] = {}
        for key, index in inside.items():
            by_part.setdefault(texts[index], []).append(key)
        found: dict[str, None] = {}
        rank: dict[str, int] | None = None
        for position in sorted(equal.keys() | by_part.keys()):
            exact = equal.get(position)
            if exact is not None:
                found.setdefault(exact)
            refs = by_part.get(position)
            if not refs:
                continue
            if len(refs) > 1:
                if rank is None:
                    rank = {key: place for place, key in enumerate(state.sources)}
                found.update(dict.fromkeys(sorted(refs, key=rank.__getitem__)))
            else:
                found.update(dict.fromkeys(refs))
        return [state.sources[ref] for ref in found]
