"""Principal identifiers compared as one: agent ids, so look-alikes cannot pass as others.

An agent id is text a client chose. Two ids name the same principal when their
:func:`canonical_id` is equal: NFKC-normalised (full-width and compatibility forms fold
to their plain letters), case-folded, with surrounding whitespace removed. Ids that
still contain characters outside printable ASCII after that (Cyrillic ``а`` posing as
Latin ``a``, zero-width joiners, control characters) are not canonical at all:
:func:`canonical_id` returns None and callers that grant something (the broker, a
registry) refuse them, so a look-alike never reaches a comparison it could win.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_ID_CHARS", "canonical_id", "same_principal"]

MAX_ID_CHARS = 256
_PRINTABLE_ASCII = frozenset(chr(c) for c in range(0x21, 0x7F))


def canonical_id(value: str) -> str | None:
    """The canonical form of an id, or None when it is empty, too long or not ASCII."""
    folded = unicodedata.normalize("NFKC", value).strip().casefold()
    if not folded or len(folded) > MAX_ID_CHARS or not _PRINTABLE_ASCII.issuperset(folded):
        return None
    return folded


def same_principal(left: str, right: str) -> bool:
    """True when both ids are canonical and name the same principal."""
    canonical = canonical_id(left)
    return canonical is not None and canonical == canonical_id(right)
