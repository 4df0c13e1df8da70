"""Multi-pattern detection engines: which rules match where, in linear time.

An engine compiles every content pattern (plus detection-only triggers) once at start-up
and scans one joined buffer per request. It answers *which* patterns match and, when it
can cheaply, *where they end*; exact match extents are then found by RE2 only inside
the values that matched (see ``_redactor``). Both engines are automata without
backtracking, so scan time is linear in the input whatever the input is.

* :class:`HyperscanEngine` (x86_64 wheels): Hyperscan block-mode databases (one per
  scan set) reporting the end offset of every match; if a hostile buffer produces more
  than ``MAX_CALLBACKS`` matches it stops and rescans with single-match databases,
  which cost one callback per pattern.
* :class:`Re2Engine` (portable): an ``RE2::Set`` that reports which patterns match.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from agentaudit.errors import ConfigError

__all__ = [
    "MAX_CALLBACKS",
    "Engine",
    "HyperscanEngine",
    "Re2Engine",
    "ScanResult",
    "available_engines",
    "make_engine",
]

MAX_CALLBACKS = 20_000

ScanResult = tuple[dict[int, list[int]] | None, set[int]]
"""(end offsets per pattern id, or None when the engine cannot tell; ids that matched)."""


class Engine(Protocol):
    name: str

    def scan(self, buf: bytes) -> ScanResult: ...


def available_engines() -> list[str]:
    """The engines importable here, fastest first."""
    found = []
    try:
        import hyperscan  # noqa: F401

        found.append("hyperscan")
    except ImportError:  # pragma: no cover - non-x86_64 platforms
        pass
    try:
        import re2  # noqa: F401

        found.append("re2")
    except ImportError:  # pragma: no cover - depends on the install
        pass
    return found


def make_engine(
    name: str,
    patterns: Sequence[str],
    sets: Sequence[str] | None = None,
    origins: Sequence[str] | None = None,
) -> Engine:
    """Build engine ``name`` (``auto``, ``hyperscan`` or ``re2``) over ``patterns``.

    ``sets`` names the scan set of each pattern (Hyperscan compiles one database per
    set); a pattern's id is its index in ``patterns``; ``origins`` name the patterns
    in errors.
    """
    have = available_engines()
    if name == "auto":
        if not have:  # pragma: no cover - depends on the install
            raise ConfigError(
                "[redaction] engine: neither hyperscan nor google-re2 is installed; "
                "run: pip install 'agentaudit[collector]'"
            )
        name = have[0]
    if name not in have:
        raise ConfigError(
            f"[redaction] engine: {name!r} is not installed here (available: "
            f'{", ".join(have) or "none"}); install it or set engine = "auto"'
        )
    if name == "hyperscan":
        return HyperscanEngine(patterns, sets, origins)
    return Re2Engine(patterns)


class HyperscanEngine:
    """Hyperscan block-mode databases; thread-safe (one scratch space per thread)."""

    name = "hyperscan"

    def __init__(
        self,
        patterns: Sequence[str],
        sets: Sequence[str] | None = None,
        origins: Sequence[str] | None = None,
    ) -> None:
        import hyperscan

        self._hs = hyperscan
        self._origins = list(origins or (f"pattern #{i + 1}" for i in range(len(patterns))))
        groups: dict[str, list[int]] = {}
        for index, scan_set in enumerate(sets or ["default"] * len(patterns)):
            groups.setdefault(scan_set, []).append(index)
        self._databases = [self._compile(patterns, ids) for ids in groups.values()]
        self._local = threading.local()

    def _compile(self, patterns: Sequence[str], ids: list[int]) -> tuple[Any, Any]:
        hyperscan = self._hs
        expressions = [patterns[i].encode() for i in ids]
        # Patterns Hyperscan cannot compile exactly are compiled as prefilters (a
        # superset); RE2 confirms every candidate afterwards, so results stay exact.
        flags = [0] * len(expressions)
        every = hyperscan.Database()
        try:
            every.compile(expressions=expressions, ids=ids, flags=flags)
        except hyperscan.error:
            flags = [
                self._exact_or_prefilter(e, self._origins[i])
                for e, i in zip(expressions, ids, strict=True)
            ]
            every.compile(expressions=expressions, ids=ids, flags=flags)
        first = hyperscan.Database()
        first.compile(
            expressions=expressions,
            ids=ids,
            flags=[f | hyperscan.HS_FLAG_SINGLEMATCH for f in flags],
        )
        return every, first

    def _exact_or_prefilter(self, expression: bytes, origin: str) -> int:
        for flag in (0, self._hs.HS_FLAG_PREFILTER):
            try:
                self._hs.Database().compile(expressions=[expression], ids=[0], flags=[flag])
            except self._hs.error:
                continue
            return int(flag)
        try:
            self._hs.Database().compile(expressions=[expression], ids=[0], flags=[0])
        except self._hs.error as exc:
            raise ConfigError(
                f"{origin}: Hyperscan cannot compile {expression.decode(errors='replace')!r} "
                f'({exc}); fix the pattern or set [redaction] engine = "re2"'
            ) from None
        return 0

    def _scratches(self) -> list[tuple[Any, Any]]:
        scratches = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = [
                (self._hs.Scratch(every), self._hs.Scratch(first))
                for every, first in self._databases
            ]
            self._local.scratches = scratches
        return scratches

    def scan(self, buf: bytes) -> ScanResult:
        ends: dict[int, list[int]] = {}
        seen = 0

        def on_match(pattern: int, _start: int, end: int, _flags: int, _ctx: object) -> bool:
            nonlocal seen
            seen += 1
            found = ends.get(pattern)
            if found is None:
                ends[pattern] = [end]
            else:
                found.append(end)
            return seen >= MAX_CALLBACKS

        scratches = self._scratches()
        try:
            for (every, _), (scratch, _) in zip(self._databases, scratches, strict=True):
                every.scan(buf, match_event_handler=on_match, scratch=scratch)
        except self._hs.ScanTerminated:
            return None, self._first_matches(buf, scratches)
        return ends, set(ends)

    def _first_matches(self, buf: bytes, scratches: list[tuple[Any, Any]]) -> set[int]:
        hit: set[int] = set()

        def on_first(pattern: int, _s: int, _e: int, _f: int, _c: object) -> None:
            hit.add(pattern)

        for (_, first), (_, scratch) in zip(self._databases, scratches, strict=True):
            first.scan(buf, match_event_handler=on_first, scratch=scratch)
        return hit


class Re2Engine:
    """An ``RE2::Set`` over all patterns; RE2 objects are thread-safe."""

    name = "re2"

    def __init__(self, patterns: Sequence[str]) -> None:
        import re2

        options = re2.Options()
        options.log_errors = False
        self._set = re2.Set.SearchSet(options)
        for pattern in patterns:
            self._set.Add(pattern.encode())
        self._set.Compile()

    def scan(self, buf: bytes) -> ScanResult:
        return None, set(self._set.Match(buf) or ())
