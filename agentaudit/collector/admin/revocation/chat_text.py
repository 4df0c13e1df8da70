"""Span-derived values made inert for a chat message (Slack mrkdwn, Teams Markdown).

Every agentaudit message a person reads in a channel — the revocation webhook's
``text`` and the detector's finding alerts — carries values an audited agent chose
(ids, tool names, arguments, resource ids, source refs). :func:`inert` turns one into
one line of literal text in both dialects:

* Slack mrkdwn: ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;``, ``&gt;`` (Slack's own
  escaping), so ``<https://evil.example|click>``, ``<!here>`` or ``<@U123>`` show as text,
  never as a link or a mention;
* Teams / Markdown: the value is an inline code span, inside which ``*bold*``,
  ``[label](url)`` and ``![img](url)`` are not parsed (a backtick in the value becomes
  ``'``, so it cannot close the span);
* both: line breaks become a space and other control or format characters (bidi
  overrides, zero-width marks) ``\ufffd``, so a value cannot forge a line of the message
  or reorder it; ``://`` becomes ``[:]//`` (defanged), so no client links a URL in a
  value; values are cut to a bounded length.

Only our own deep links stay live (:func:`live_link`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["MAX_VALUE_CHARS", "NEWLINE", "inert", "live_link"]

MAX_VALUE_CHARS: Final = 200
NEWLINE: Final = "  \n"
"""Lines end with two spaces: a Markdown hard break (Teams), invisible in Slack."""

_LINE_BREAKS: Final = frozenset("\n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_SPACES: Final = re.compile(r"\s+")


def _one_line(value: str) -> str:
    out: list[str] = []
    for char in value:
        if char in _LINE_BREAKS:
            out.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co"):
            out.append("\ufffd")
        else:
            out.append(char)
    return _SPACES.sub(" ", "".join(out)).strip()


def inert(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``value`` as an inline code span no chat client turns into markup (module doc)."""
    text = _one_line(str(value)).replace("`", "'").replace("://", "[:]//")
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = text or "-"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"`{text}`"


def live_link(url: str) -> str:
    """Our own deep link: left live; only Slack's three control characters escaped."""
    return url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
