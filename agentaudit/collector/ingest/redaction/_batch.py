"""The redactor's working set: strings to scan and where each one is written back.

Helpers of :mod:`._redactor` with no policy of their own: the batch of scanned strings
with their back-references, the JSON and digest shape checks, and the key-word trigger.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

__all__: list[str] = []

MIN_NUMBER = 10**8
"""Integers with at least nine digits are scanned as text (cards, SSNs, phones)."""

# Slot kinds: how a scanned string is written back.
STR, BYTES, INT, FIELD, KEY = 0, 1, 2, 3, 4
TOO_DEEP = object()

Ref = tuple[Any, Any, int, dict[str, int], Any]
"""(container, key, kind, counter, root) of a scanned string."""


def is_digest(value: Any) -> bool:
    """A ``sha256:<64 hex>`` / ``hmac-sha256:<64 hex>`` string, or a list of them."""
    if type(value) is str:
        size = len(value)
        if size == 71 and value[:7] == "sha256:":
            digest = value[7:]
        elif size == 76 and value[:12] == "hmac-sha256:":
            digest = value[12:]
        else:
            return False
        if not digest.isalnum():  # also rules out the whitespace fromhex would skip
            return False
        try:
            bytes.fromhex(digest)
        except ValueError:
            return False
        return True
    return isinstance(value, list) and all(is_digest(v) for v in value)


def trigger_pattern(words: Iterable[str]) -> str | None:
    """A case-insensitive pattern finding any key word in raw JSON, separators allowed."""
    parts = sorted({"[-_. ]?".join(w) for w in words})
    return "(?i)(?:" + "|".join(parts) + ")" if parts else None


class Batch:
    """Strings to scan, where each came from, and whose redaction counts it feeds.

    ``refs[i]`` says where ``texts[i]`` is written back: either a full :data:`Ref`, or,
    on the hot path, just the key (dict) or index (list) of a plain string inside the
    current *owner*, declared with :meth:`own` before its strings are added. Short refs
    save building a tuple per value; :meth:`ref` expands either form.
    """

    __slots__ = ("owner_starts", "owners", "refs", "renames", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.refs: list[Any] = []
        self.owner_starts: list[int] = []
        self.owners: list[tuple[Any, dict[str, int]]] = []
        # Redacted dict keys, applied after every value is written: (dict, old, new|None).
        self.renames: list[tuple[dict[Any, Any], Any, str | None]] = []

    def add(self, text: str, ref: Ref) -> None:
        self.texts.append(text)
        self.refs.append(ref)

    def own(self, container: Any, counter: dict[str, int]) -> None:
        """Short refs added from now on are keys/indexes of ``container``."""
        self.owner_starts.append(len(self.texts))
        self.owners.append((container, counter))

    def ref(self, slot: int) -> Ref:
        """The full (container, key, kind, counter, root) of a slot."""
        found = self.refs[slot]
        if type(found) is tuple:
            return found
        container, counter = self.owners[bisect_right(self.owner_starts, slot) - 1]
        return (container, found, STR, counter, True)

    def truncate(self, length: int) -> None:
        del self.texts[length:]
        del self.refs[length:]
        while self.owner_starts and self.owner_starts[-1] >= length:
            self.owner_starts.pop()
            self.owners.pop()


def add_scalar(  # noqa: PLR0917 - positional on the per-value hot path
    batch: Batch, value: Any, container: Any, key: Any, counter: dict[str, int], root: Any
) -> None:
    """Queue bytes and long integers for scanning (as Latin-1 text / decimal digits)."""
    if isinstance(value, bytes):
        batch.add(value.decode("latin-1"), (container, key, BYTES, counter, root))
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MIN_NUMBER:
        batch.add(str(value), (container, key, INT, counter, root))


class JsonRoot:
    """A JSON string value parsed for a structural walk, re-serialised if changed."""

    __slots__ = ("changed", "container", "key", "parent", "parsed")

    def __init__(self, container: Any, key: Any, parsed: Any) -> None:
        self.container = container
        self.key = key
        self.parsed = parsed
        self.changed = False
        self.parent: JsonRoot | None = None  # the JSON this one is a string inside of


JSON_WHITESPACE = b" \t\r\n"
_LOOKAHEAD = 64
"""How far past a string's closing quote :func:`inside_string_values` looks for ``:``."""


def inside_string_values(text: bytes, matches: list[tuple[int, int, int]]) -> bool:
    """True when every match lies inside one JSON string *value* of ``text``.

    For text holding JSON with no backslash (no escapes, so every string's content is
    verbatim between its quotes): a match that starts after an odd number of quotes and
    contains none lies inside one string. That string must be a value, not an object key
    (the structural walk renames keys), and must not itself hold JSON (the walk parses
    that a level deeper). Redacting such matches in place in the raw text gives the
    leaves the structural walk would give, without parsing; any doubt returns False.
    """
    if b"\\" in text:
        return False
    for first, last, _ in matches:
        if text.count(b'"', 0, first) % 2 == 0 or text.find(b'"', first, last) != -1:
            return False
        closing = text.find(b'"', last)
        if closing < 0:
            return False
        after = text[closing + 1 : closing + 1 + _LOOKAHEAD].lstrip(JSON_WHITESPACE)
        if not after or after[:1] == b":":
            return False
        opening = text.rfind(b'"', 0, first)
        leaf_start = text[opening + 1 : first].lstrip(JSON_WHITESPACE)[:1]
        if leaf_start in (b"{", b"[") or (not leaf_start and text[first : first + 1] in b"{["):
            return False
    return True


def parse_json(text: str) -> Any:
    """The parsed object/array if ``text`` is a JSON object or array, else None.

    ``TOO_DEEP`` when it is JSON nested beyond what the parser can recurse into.
    """
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        parsed = json.loads(text)
    except RecursionError:
        return TOO_DEEP
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None
