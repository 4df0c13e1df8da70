"""Which of many registered texts (needles) occur in which parts of a model input.

:class:`NeedleIndex` holds needles under keys (source refs). :meth:`NeedleIndex.find`
answers exactly which keys have a needle of at least ``minimum`` characters inside some
part, and the first such part of each, in time linear in the total length of the parts
whatever the number of needles (plus one confirming scan per needle that shares a gram
with the text: the needles that are there, and rare near misses). How, is chosen by
cost:

* **direct**: one C substring scan (``str.find``) per needle; cheapest for a few.
* **gram pass**, per length tier: a tier's needles are indexed by grams of ``gram``
  characters taken at ``stride`` consecutive offsets of one window of each needle; the
  text is cut once into chunks at multiples of ``stride`` (``re.findall``, in C) and the
  chunks are intersected with the gram keys (a C set operation). Any occurrence of a
  needle at least ``gram + stride - 1`` long covers one aligned chunk equal to one of its
  grams, so the pass misses nothing; a needle sharing a gram with the text is then
  confirmed by a C scan. Cost: one pass over the text per tier in use.
* Few needles over few parts (no gram pass in use, at most ``_NESTED`` (part, needle)
  pairs: the usual prompt with a handful of sources) are tested part by part, in order,
  each needle only up to the first part already holding its key: no join, no per-call
  state.
* Otherwise many parts are joined (with a separator) and scanned once; each needle found
  is placed in its part by the position of its first occurrence (one straddling two
  parts counts for neither: the search goes on), and only a key's first part is reported.

Pure Python and the standard library; ``python -m bench instrumentation`` measures it
inside the model-call step. Not thread-safe: the registry calls it under its session
lock. Gram keys are built on the first pass that needs them, so registering a source
costs a few dict insertions; once built, a tier holds ``stride`` grams per needle (about
100 bytes each: a 320-character source in the stride-256 tier costs ~25 KB, 256 such
sources ~6 MB per session).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate

__all__ = ["TIERS", "NeedleIndex", "Tier"]

Tier = tuple[int, int, int]
"""(gram, stride, needles above which the tier's gram pass replaces direct scans)."""

TIERS: tuple[Tier, ...] = (
    (8, 8, 72),
    (16, 16, 40),
    (16, 32, 18),
    (16, 64, 10),
    (16, 128, 6),
    (16, 256, 3),
)
"""A needle belongs to the last tier with ``gram + stride - 1 <= len(needle)``; shorter
needles are always scanned directly. The thresholds are the measured cost of a gram pass
over a 20-200 KB text, in substring scans of the same text by a needle of the tier's
shortest length (CPython 3.11, x86_64). A longer stride makes the pass cheaper and the
index larger: ``stride`` grams per needle, built only once the tier's pass is used."""

_NESTED = 32
"""Up to this many (part, needle) pairs, parts are tested one by one, no join (measured:
below this, a join of a 20 KB prompt costs more than the per-part tests it saves)."""
_SEPARATOR = "\x00"

Pair = tuple[str, str]
"""(key, needle)"""
Hit = tuple[str, str, int]
"""(key, needle, index of the needle's first occurrence in the text searched)"""


class _Tier:
    """The needles of one length range and, once a pass needs them, their gram keys."""

    __slots__ = ("chunks", "count", "gram", "grams", "needles", "stride", "threshold", "unindexed")

    def __init__(self, gram: int, stride: int, threshold: int) -> None:
        self.gram = gram
        self.stride = stride
        self.threshold = threshold
        pattern = f".{{{gram}}}" if gram == stride else f"(.{{{gram}}}).{{0,{stride - gram}}}"
        self.chunks = re.compile(pattern, re.DOTALL)
        """The ``gram`` characters at each multiple of ``stride``."""
        self.needles: dict[str, tuple[str, ...]] = {}
        self.count = 0
        self.grams: dict[str, Pair | list[Pair]] = {}
        """Gram -> the one (key, needle) it indexes, or a list of several (memory: most
        grams index one needle, and a list costs more than the entry itself)."""
        self.unindexed: dict[str, None] = {}
        """Keys whose grams are not in ``grams`` yet (an ordered set)."""

    @property
    def shortest(self) -> int:
        return self.gram + self.stride - 1

    def grams_of(self, needle: str) -> set[str]:
        """The grams indexing ``needle``: one per offset of a window in its middle."""
        start = (len(needle) - self.shortest) // 2
        return {needle[at : at + self.gram] for at in range(start, start + self.stride)}

    def add(self, key: str, needles: tuple[str, ...]) -> None:
        self.needles[key] = needles
        self.count += len(needles)
        self.unindexed[key] = None

    def discard(self, key: str) -> None:
        needles = self.needles.pop(key, None)
        if needles is None:
            return
        self.count -= len(needles)
        if key in self.unindexed:
            del self.unindexed[key]  # its grams were never built
            return
        grams = self.grams
        for needle in needles:
            pair = (key, needle)
            for gram in self.grams_of(needle):
                entry = grams[gram]
                if isinstance(entry, list):
                    entry.remove(pair)
                    if len(entry) == 1:
                        grams[gram] = entry[0]
                else:
                    del grams[gram]

    def candidates(self, text: str) -> Iterator[Pair]:
        """Each (key, needle) sharing a gram with an aligned chunk of ``text``, once."""
        grams = self.grams
        for key in self.unindexed:
            for needle in self.needles[key]:
                pair = (key, needle)  # one tuple shared by the needle's grams
                for gram in self.grams_of(needle):
                    entry = grams.get(gram)
                    if entry is None:
                        grams[gram] = pair
                    elif isinstance(entry, list):
                        entry.append(pair)
                    else:
                        grams[gram] = [entry, pair]
        self.unindexed.clear()
        seen: set[Pair] = set()
        for gram in grams.keys() & self.chunks.findall(text):
            entry = grams[gram]
            for pair in entry if isinstance(entry, list) else (entry,):
                if pair not in seen:
                    seen.add(pair)
                    yield pair


class NeedleIndex:
    """Needles by key, and which of them occur in which parts (see the module docstring)."""

    __slots__ = ("_active", "_count", "_grams", "_keys", "_short", "_tiers")

    def __init__(self, tiers: Sequence[Tier] = TIERS) -> None:
        self._tiers = tuple(_Tier(*spec) for spec in tiers)
        self._active: tuple[_Tier, ...] = ()
        """The tiers holding needles."""
        self._short: dict[str, tuple[str, ...]] = {}
        """Needles shorter than every tier: always scanned directly."""
        self._keys: dict[str, tuple[str, ...]] = {}
        """Every needle by key (all tiers), for the nested scan of few needles."""
        self._grams = False
        """Some tier has more needles than its threshold: its gram pass is in use."""
        self._count = 0

    def add(self, key: str, needles: Sequence[str]) -> None:
        """Register ``needles`` under ``key`` (a key already present: discard it first)."""
        by_tier: list[list[str]] = [[] for _ in self._tiers]
        short: list[str] = []
        for needle in dict.fromkeys(needles):
            for index in range(len(self._tiers) - 1, -1, -1):
                if self._tiers[index].shortest <= len(needle):
                    by_tier[index].append(needle)
                    break
            else:
                short.append(needle)
        for tier, found in zip(self._tiers, by_tier, strict=True):
            if found:
                tier.add(key, tuple(found))
        if short:
            self._short[key] = tuple(short)
        self._keys[key] = tuple(needle for found in (*by_tier, short) for needle in found)
        self._count += len(short) + sum(map(len, by_tier))
        self._refresh()

    def _refresh(self) -> None:
        self._active = tuple(tier for tier in self._tiers if tier.needles)
        self._grams = any(tier.count > tier.threshold for tier in self._active)

    def discard(self, key: str) -> None:
        """Forget the needles of ``key`` (nothing when absent)."""
        self._count -= len(self._short.pop(key, ()))
        self._keys.pop(key, None)
        for tier in self._tiers:
            self._count -= len(tier.needles.get(key, ()))
            tier.discard(key)
        self._refresh()

    def find(self, parts: Sequence[str], minimum: int) -> dict[str, int]:
        """Each key with a needle of at least ``minimum`` characters inside one of
        ``parts``, with the position of the first such part."""
        if not self._count or not parts:
            return {}
        if not self._grams and len(parts) * self._count <= _NESTED:
            return self._nested(parts, minimum)
        first: dict[str, int] = {}
        if len(parts) == 1:
            for key, _, _ in self.occurring(parts[0], minimum):
                first[key] = 0
            return first
        text = _SEPARATOR.join(parts)
        hits = self.occurring(text, minimum, complete=True)
        if not hits:
            return first
        starts = [0, *accumulate(len(part) + 1 for part in parts[:-1])]
        for key, needle, first_at in hits:
            size = len(needle)
            at = first_at
            limit = first.get(key, len(parts))
            while at >= 0:  # occurrences in text order: the first inside a part wins
                where = bisect_right(starts, at) - 1
                if where >= limit:
                    break
                if at + size <= starts[where] + len(parts[where]):
                    first[key] = where
                    break
                at = text.find(needle, at + 1)  # it straddled two parts
        return first

    def _nested(self, parts: Sequence[str], minimum: int) -> dict[str, int]:
        """:meth:`find` by one C substring test per (needle, part), parts in order and
        only up to the first part that already holds the key: for few needles and parts,
        no join, no per-call state."""
        first: dict[str, int] = {}
        end = len(parts)
        for key, needles in self._keys.items():
            best = end
            for needle in needles:
                if len(needle) >= minimum:
                    for position in range(best):
                        if needle in parts[position]:
                            best = position
                            break
            if best < end:
                first[key] = best
        return first

    def occurring(self, text: str, minimum: int, *, complete: bool = False) -> list[Hit]:
        """(key, needle, index of its first occurrence) for needles of at least
        ``minimum`` characters inside ``text``: every such needle when ``complete``,
        else at least one per key that has any."""
        query = _Query(minimum, complete=complete)
        for tier in self._active:
            if tier.count > tier.threshold:
                _gram_pass(tier, text, query)
            else:
                _direct(tier.needles, text, query)
        if self._short:
            _direct(self._short, text, query)
        return query.found


class _Query:
    """One :meth:`NeedleIndex.occurring` call: what it asks, and what it found so far."""

    __slots__ = ("complete", "found", "minimum", "seen")

    def __init__(self, minimum: int, *, complete: bool) -> None:
        self.minimum = minimum
        self.complete = complete
        self.found: list[Hit] = []
        self.seen: set[str] = set()
        """The keys in ``found``."""


def _gram_pass(tier: _Tier, text: str, query: _Query) -> None:
    minimum, complete = query.minimum, query.complete
    found, seen = query.found, query.seen
    located: dict[str, int] = {}
    """Needle -> its first index in ``text`` (-1: absent); a needle of several keys is
    searched once."""
    for key, needle in tier.candidates(text):
        if len(needle) < minimum:
            continue
        if not complete and key in seen:
            continue
        at = located.get(needle)
        if at is None:
            at = located[needle] = text.find(needle)
        if at >= 0:
            found.append((key, needle, at))
            seen.add(key)


def _direct(needles: dict[str, tuple[str, ...]], text: str, query: _Query) -> None:
    minimum, complete = query.minimum, query.complete
    found, seen = query.found, query.seen
    for key, options in needles.items():
        for needle in options:
            if not complete and key in seen:
                break
            if len(needle) >= minimum:
                at = text.find(needle)
                if at >= 0:
                    found.append((key, needle, at))
                    seen.add(key)
