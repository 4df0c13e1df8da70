"""The redactor's working set: strings to scan and where each one is written back.

Helpers of :mod:`._redactor` with no policy of their own: the batch of scanned strings
with their back-references, the JSON and digest shape checks, and the key-word trigger.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

__all__: list[str] = []

MIN_NUMBER = 10**8
"""Numbers of at least nine integer digits are scanned as text (cards sent as numbers)."""

# Slot kinds: how a scanned string is written back.
# STR: container[key]; BYTES: the same, re-encoded; INT: a number, replaced by text;
# FIELD: setattr(container, key) on a span, event or link; KEY: a nested dict's key,
# renamed after every value is written; ATTR_KEY: a top-level attribute name, scanned
# once per request, renamed in every attribute dict holding it (see Batch.holders).
STR, BYTES, INT, FIELD, KEY, ATTR_KEY = 0, 1, 2, 3, 4, 5
TOO_DEEP = object()

Ref = tuple[Any, Any, int, Any, Any]
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

    __slots__ = (
        "fields",
        "holders",
        "keys",
        "owner_starts",
        "owners",
        "refs",
        "renames",
        "texts",
    )

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.refs: list[Any] = []
        self.owner_starts: list[int] = []
        self.owners: list[tuple[Any, dict[str, int]]] = []
        # Redacted dict keys, applied after every value is written: (dict, old, new|None).
        self.renames: list[tuple[dict[Any, Any], Any, str | None]] = []
        # Attribute names not yet known to be clean: name -> (class, slot).
        self.keys: dict[str, tuple[Any, int]] = {}
        # Attribute names with a match -> the (attribute dict, counter) pairs holding them.
        self.holders: dict[str, list[tuple[dict[str, Any], dict[str, int]]]] = {}
        # Span/event names and scopes not yet known to be clean: (slot, text).
        self.fields: list[tuple[int, str]] = []

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

    def find_holders(self, names: set[str]) -> None:
        """Fill :attr:`holders` for ``names``: one pass over the request's attribute dicts.

        Run only when some attribute name matched a rule (rare), so collecting needs no
        per-attribute bookkeeping for names that turn out clean.
        """
        self.holders = {name: [] for name in names}
        seen: set[int] = set()
        for container, counter in self.owners:
            if type(container) is not dict or id(container) in seen:
                continue  # a list, or a dict declared again after one of its lists
            seen.add(id(container))
            if len(names) < len(container):
                present: Iterable[str] = (n for n in names if n in container)
            else:
                present = (k for k in container if k in names)
            for name in present:
                self.holders[name].append((container, counter))

    def truncate(self, length: int) -> None:
        del self.texts[length:]
        del self.refs[length:]
        while self.owner_starts and self.owner_starts[-1] >= length:
            self.owner_starts.pop()
            self.owners.pop()


def add_scalar(  # noqa: PLR0917 - positional on the per-value hot path
    batch: Batch, value: Any, container: Any, key: Any, counter: dict[str, int], root: Any
) -> None:
    """Queue bytes and long numbers for scanning (as Latin-1 text / decimal digits).

    A double is scanned as its integer digits when it is integral (``4111111111111111.0``
    as ``4111111111111111``; ``repr`` would write ``4.1e+18`` past 16 digits), else as
    ``repr``. A number that matches a rule is replaced by its replacement text.
    """
    if isinstance(value, bytes):
        batch.add(value.decode("latin-1"), (container, key, BYTES, counter, root))
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MIN_NUMBER:
        batch.add(str(value), (container, key, INT, counter, root))
    elif isinstance(value, float) and abs(value) >= MIN_NUMBER and math.isfinite(value):
        text = str(int(value)) if value.is_integer() else repr(value)
        batch.add(text, (container, key, INT, counter, root))


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


_GONE = object()


def apply_renames(
    renames: list[tuple[dict[Any, Any], Any, str | None]],
) -> dict[tuple[int, Any], str | None]:
    """Apply redacted dict keys (None: drop the entry); a clash gets a ``#n`` suffix.

    Within one dict, keys are renamed in the dict's own order, so the suffixes a span's
    keys get depend only on that span (not on the engine or on other spans). Returns
    where each (dict id, old key) went, for JSON strings stored under them.
    """
    moved: dict[tuple[int, Any], str | None] = {}
    by_node: dict[int, tuple[dict[Any, Any], list[tuple[Any, str | None]]]] = {}
    for node, old, new in renames:
        by_node.setdefault(id(node), (node, []))[1].append((old, new))
    for node, items in by_node.values():
        if len(items) > 1:
            order = {key: index for index, key in enumerate(node)}
            items.sort(key=lambda item: order.get(item[0], -1))
        for old, new in items:
            if (id(node), old) in moved:  # the same dict reached twice (a shared resource)
                continue
            value = node.pop(old, _GONE)
            if new is None or value is _GONE:  # dropped key, or its value was dropped
                moved[(id(node), old)] = None
                continue
            name, suffix = new, 2
            while name in node:
                name, suffix = f"{new}#{suffix}", suffix + 1
            node[name] = value
            moved[(id(node), old)] = name
    return moved
