"""Recorded values in Markdown, shown as exactly their text and never as markup.

Everything in the store came from an agent's spans, so any of it may be hostile: an
agent id like ``[click](https://evil.example)`` or ``![x](https://evil.example/b.png)``
would otherwise become a link or a tracking image in the responder's browser. Streamlit
renders Markdown in titles, captions, alerts, ``st.markdown`` and ``st.write`` of
strings, ``st.table`` cells and every widget, metric, expander, tab and page-link label
and help tooltip. Plain-text elements (``st.text``, ``st.code``, ``st.json``,
``st.dataframe`` cells, text-input values, select-box options) need nothing.

Invariant: a value reaches Markdown only through :func:`md` or :func:`fmt`, never
interpolated raw. ``tests/dashboards/test_markdown.py`` checks the page sources (no
f-string or bare value in a Markdown argument, no ``st.table``, ``st.html``,
``st.radio`` or ``unsafe_allow_html``); ``test_safe_rendering.py`` and
``tests/e2e/test_browser_injection.py`` open every page over a hostile session.

Why a code span and not backslash escapes: Streamlit applies part of its Markdown
flavour to the *parsed* text, after escapes are gone: bare URLs and e-mail addresses
become links, ``:smile:`` and ``:streamlit:`` become pictures, ``->`` becomes an arrow.
It leaves a code span's content alone, as CommonMark leaves it alone (no emphasis,
links, images, HTML, entities, LaTeX, ``:color[...]`` directives). The one rewrite
Streamlit makes in the raw source, ``:material/`` (an icon), gets an invisible word
joiner.
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
import string
from typing import Any, Final

__all__ = ["Markdown", "fmt", "md", "visible"]

# Invisible characters that can fake line breaks or reorder what the responder reads
# (Trojan-source bidi controls, zero-width spaces): shown as their code point.
_INVISIBLE: Final = frozenset(
    (0x061C, 0x200B, 0x200E, 0x200F, 0x2028, 0x2029, 0x2060, 0xFEFF)
).union(range(0x202A, 0x202F), range(0x2066, 0x206A))
_WORD_JOINER: Final = "\u2060"
_BACKTICKS: Final = re.compile("`+")
_PUNCTUATION: Final = frozenset(string.punctuation)


class Markdown(str):
    """Markdown source that renders recorded values as text: made by :func:`md` and
    :func:`fmt` only (the source check forbids constructing it anywhere else), so both
    pass it through unchanged and results compose: ``fmt("{} / {}", md(a), fmt(...))``.
    """

    __slots__ = ()


def visible(text: object) -> str:
    """``str(text)`` with control and invisible formatting characters made visible.

    C0 controls become their Unicode control pictures (a newline shows as ``␊``), DEL
    ``␡``; C1 controls, line and paragraph separators, bidi controls and zero-width
    characters ``⟨U+202E⟩``. So a value stays on one line and reads in its real order.
    """
    out: list[str] = []
    for ch in str(text):
        code = ord(ch)
        if code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\u2421")
        elif 0x80 <= code < 0xA0 or code in _INVISIBLE:
            out.append(f"\u27e8U+{code:04X}\u27e9")
        else:
            out.append(ch)
    return "".join(out)


def md(value: object) -> Markdown:
    """Markdown that Streamlit renders as exactly ``visible(value)``, in a code span.

    The fence is one backtick longer than the longest run of backticks in the value,
    and padded with a space where CommonMark would otherwise strip or join one. An
    empty value is the empty string (so ``md(value) or fmt("none")`` works); a
    :class:`Markdown` value is returned as it is.
    """
    if isinstance(value, Markdown):
        return value
    text = visible(value).replace(":material/", ":" + _WORD_JOINER + "material/")
    if not text:
        return Markdown()
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip(" ")):
        text = f" {text} "
    return Markdown(f"{fence}{text}{fence}")


def _plain(text: str) -> str:
    """A number or time we formatted ourselves, as Markdown text (punctuation escaped)."""
    return "".join("&#58;" if ch == ":" else "\\" + ch if ch in _PUNCTUATION else ch for ch in text)


class _MarkdownFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Markdown):
            return value
        if isinstance(value, (list, tuple)):
            return ", ".join(self.format_field(item, format_spec) for item in value)
        formatted = super().format_field(value, format_spec)
        if isinstance(value, (numbers.Number, dt.date, dt.time)):
            return _plain(formatted)  # our own figure or timestamp: plain text
        return md(formatted)


_FORMATTER: Final = _MarkdownFormatter()


def fmt(template: str, /, *args: Any, **kwargs: Any) -> Markdown:
    """``template.format(*args, **kwargs)`` with every value shown as text.

    ``template`` is Markdown we wrote (a literal; the source check enforces it). Strings
    and other values go through :func:`md`; a list or tuple becomes its items, each
    through :func:`md`, joined by ", "; numbers, dates and times are formatted with their
    spec and shown as plain text: ``fmt("{:,} calls by {}", 1200, agent)``; a
    :class:`Markdown` value (from :func:`md` or :func:`fmt`) is inserted as it is.
    """
    return Markdown(_FORMATTER.format(template, *args, **kwargs))
