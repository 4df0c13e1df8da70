"""Percent-encoded text: decode for matching, map matches back to the original bytes.

``bob%40example.com`` hides an email from every rule, and ``a%20AKIA…`` glues a key to
the characters before it. The redactor scans a percent-decoded copy of every value that
holds a ``%XX`` escape (the engine reports which ones do) and redacts what it finds in
the *original* text, so values are stored as they were sent, minus the secret.

Both functions agree on what an escape is: ``%`` followed by two hex digits, read left to
right without overlap (as :func:`urllib.parse.unquote_to_bytes` decodes).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from urllib.parse import unquote_to_bytes

__all__ = ["TRIGGER_PATTERN", "decode", "to_original"]

TRIGGER_PATTERN = r"%[0-9A-Fa-f]{2}[^\n]*(?:\n|$)"
"""The engine trigger that marks a value for a decoded scan: from its first escape to
the separator after it. Every match in one value ends at the same place, so Hyperscan
reports a value once, however many escapes it holds (one Python callback each)."""
_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}")


def decode(raw: bytes) -> bytes:
    """``raw`` with every ``%XX`` escape replaced by its byte."""
    return unquote_to_bytes(raw)


def to_original(raw: bytes, matches: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Matches (start, end, rule) in ``decode(raw)`` as ranges of ``raw``.

    Each escape is one decoded byte and three original ones, so an offset moves right by
    two for every escape decoded before it; a match covering part of an escape covers the
    whole escape.
    """
    # Decoded position of each escape: its original position minus 2 per earlier escape.
    decoded = [m.start() - 2 * i for i, m in enumerate(_ESCAPE.finditer(raw))]
    return [
        (first + 2 * bisect_left(decoded, first), last + 2 * bisect_left(decoded, last), rule)
        for first, last, rule in matches
    ]
