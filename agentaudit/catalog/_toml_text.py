"""Writing TOML text by hand: keys, strings and comments that stay what they are.

The values come from the store, so from the agents' spans: any of them may be hostile
(a tool name holding a newline and ``[agents.evil]``). Strings are TOML basic strings
with every control and invisible formatting character escaped; keys are bare when they
can be; comment text has those characters replaced, so nothing ends a comment early.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

__all__ = ["comment", "key", "string", "strings"]

_BARE: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def string(text: str) -> str:
    """``text`` as a TOML basic string."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif _hidden(char):
            code = ord(char)
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def strings(items: Iterable[str]) -> str:
    """A one-line TOML array of strings."""
    return "[" + ", ".join(string(i) for i in items) + "]"


def key(text: str) -> str:
    """``text`` as one TOML key: bare when it can be, else quoted."""
    return text if _BARE.match(text) else string(text)


def comment(text: str) -> str:
    """``text`` safe inside a ``#`` comment: one line, no hidden characters."""
    return "".join(f"<U+{ord(c):04X}>" if _hidden(c) else c for c in text)
