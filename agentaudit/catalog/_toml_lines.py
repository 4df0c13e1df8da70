"""Where each key of a TOML document is written: the line of every table header and key.

``tomllib`` returns values without positions, so errors, lint results and SARIF
locations would have nothing to point at. :func:`key_lines` reads the text once more,
line by line, knowing just enough TOML to stay out of strings and multi-line arrays:

* a header (``[a.b]``, ``[[a.b]]``) records its key path;
* a ``key = value`` line records ``table path + dotted key`` (and the implicit tables
  a dotted key creates);
* multi-line strings and arrays are skipped until they close; keys inside an inline
  table (``{ ... }``) are not recorded: they resolve to the line of the key that holds
  the table (:meth:`KeyLines.line` answers the longest recorded prefix).

Each key's text (bare, ``"basic"`` with escapes, ``'literal'``) is decoded by tomllib
itself, so the path recorded is exactly the path tomllib gives. Only text that tomllib
already accepted is scanned.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["KeyLines", "key_lines"]

Path = tuple[str, ...]


@dataclass(frozen=True)
class KeyLines:
    """Key path -> the 1-based line it is written on."""

    lines: Mapping[Path, int]

    def line(self, *path: str) -> int:
        """The line of ``path``, else of its longest recorded prefix, else 1."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1


def _flatten(data: Mapping[str, Any]) -> Path:
    """The one key path of ``{a: {b: {c: 0}}}`` -> ``(a, b, c)``."""
    path: list[str] = []
    node: Any = data
    while isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        path.append(key)
        node = node[key]
        if isinstance(node, list):  # [[array.of.tables]]
            node = node[-1] if node else None
    return tuple(path)


def _key_end(text: str, start: int, stop: str) -> int:
    """Index of the first ``stop`` character at or after ``start`` outside quotes."""
    i = start
    while i < len(text):
        char = text[i]
        if char == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif char == "'":
            i = text.find("'", i + 1)
            if i < 0:
                return len(text)
        elif char in stop:
            return i
        i += 1
    return len(text)


class _ValueScanner:
    """Tracks whether the scan is inside a multi-line string or an open bracket."""

    def __init__(self) -> None:
        self.depth = 0
        self.string: str | None = None  # the closing delimiter of an open multi-line string

    @property
    def open(self) -> bool:
        return self.depth > 0 or self.string is not None

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if self.string is not None:
                end = text.find(self.string, i)
                if end < 0:
                    return
                i = end + len(self.string)
                while text.startswith(self.string[0], i):  # """"" closes with quotes inside
                    i += 1
                self.string = None
                continue
            char = text[i]
            if text.startswith('"""', i) or text.startswith("'''", i):
                self.string = text[i : i + 3]
                i += 3
            elif char == '"':
                i += 1
                while i < len(text) and text[i] != '"':
                    i += 2 if text[i] == "\\" else 1
                i += 1
            elif char == "'":
                end = text.find("'", i + 1)
                i = len(text) if end < 0 else end + 1
            elif char == "#":
                return
            else:
                if char in "[{":
                    self.depth += 1
                elif char in "]}":
                    self.depth -= 1
                i += 1


def key_lines(text: str) -> KeyLines:
    """The line of every header and key of ``text`` (TOML that tomllib accepts)."""
    found: dict[Path, int] = {}
    table: Path = ()
    value = _ValueScanner()

    def record(path: Path, number: int) -> None:
        for end in range(1, len(path) + 1):
            found.setdefault(path[:end], number)

    for number, raw in enumerate(text.splitlines(), start=1):
        if value.open:
            value.feed(raw)
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            double = line.startswith("[[")
            inner_start = 2 if double else 1
            end = _key_end(line, inner_start, "]")
            inner = line[inner_start:end]
            try:
                table = _flatten(tomllib.loads(f"[{inner}]\n"))
            except tomllib.TOMLDecodeError:
                continue
            record(table, number)
            continue
        equals = _key_end(line, 0, "=")
        if equals >= len(line):
            continue
        try:
            keys = _flatten(tomllib.loads(f"{line[:equals]}= 0\n"))
        except tomllib.TOMLDecodeError:
            continue
        record(table + keys, number)
        value.feed(line[equals + 1 :])
    return KeyLines(found)
