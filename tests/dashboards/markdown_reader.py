"""Read the Markdown the pages emit the way CommonMark does: code spans and the text around.

AppTest hands back an element's Markdown source, not what the browser draws. The pages
put every recorded value in a code span (``agentaudit.dashboards._markdown.md``), and
nothing inside a code span is Markdown, so these helpers let a test say what a responder
sees: :func:`code_spans` (the values shown as text), :func:`outside_code` (the Markdown
that is interpreted) and :func:`rendered` (roughly the visible text, for ``in`` checks).
"""

from __future__ import annotations

import html
import re
import string
from typing import Final

__all__ = ["code_spans", "outside_code", "rendered", "split"]

_PUNCTUATION: Final = frozenset(string.punctuation)
_ESCAPE: Final = re.compile(r"\\([!-/:-@\[-`{-~])")


def _run_end(source: str, start: int) -> int:
    end = start
    while end < len(source) and source[end] == "`":
        end += 1
    return end


def _closing(source: str, start: int, length: int) -> int:
    """Where the next backtick run of exactly ``length`` starts, or -1."""
    index = start
    while index < len(source):
        if source[index] != "`":
            index += 1
            continue
        end = _run_end(source, index)
        if end - index == length:
            return index
        index = end
    return -1


def split(source: str) -> list[tuple[bool, str]]:
    """``(is_code, text)`` pieces of ``source`` (CommonMark code-span rules).

    A backslash-escaped backtick outside a code span is text; a backtick run without a
    closing run of the same length is text; a code span's line endings become spaces
    and one space is stripped from each end when both ends have one.
    """
    pieces: list[tuple[bool, str]] = []
    text: list[str] = []
    index = 0
    while index < len(source):
        ch = source[index]
        if ch == "\\" and index + 1 < len(source) and source[index + 1] in _PUNCTUATION:
            text.append(source[index : index + 2])
            index += 2
            continue
        if ch != "`":
            text.append(ch)
            index += 1
            continue
        end = _run_end(source, index)
        close = _closing(source, end, end - index)
        if close < 0:
            text.append(source[index:end])
            index = end
            continue
        content = source[end:close].replace("\n", " ")
        if len(content) > 1 and content[0] == content[-1] == " " and content.strip(" "):
            content = content[1:-1]
        if text:
            pieces.append((False, "".join(text)))
            text = []
        pieces.append((True, content))
        index = close + (end - index)
    if text:
        pieces.append((False, "".join(text)))
    return pieces


def code_spans(source: str) -> list[str]:
    """The contents of the code spans in ``source``: text shown exactly as it is."""
    return [text for is_code, text in split(source) if is_code]


def outside_code(source: str) -> str:
    """Everything outside code spans: the part Streamlit interprets as Markdown."""
    return "".join(text for is_code, text in split(source) if not is_code)


def rendered(source: str) -> str:
    """Roughly the visible text: code spans unwrapped, escapes, entities, ``**`` removed."""
    out: list[str] = []
    for is_code, text in split(source):
        if is_code:
            out.append(text)
        else:
            plain = _ESCAPE.sub(r"\1", text.replace("**", "").replace("  \n", "\n"))
            out.append(html.unescape(plain))
    return "".join(out)
