"""Recorded values in Markdown: ``md``/``fmt`` show them as text, and the pages use nothing else.

Two halves. The helpers: every kind of Markdown, HTML and Streamlit markup a hostile
agent can put in a span comes out as one code span holding exactly its text. The
source check: every string a page hands to something Streamlit renders as Markdown (a
title, caption, alert, ``st.markdown``/``st.write``, a metric, an expander, a page link,
a widget label or help text) is a literal, ``md(...)``, ``fmt("literal", ...)`` or a
``Markdown`` parameter; never an f-string, ``str(...)`` or a bare value. So a new page
cannot show an agent id raw without this test failing.
"""

from __future__ import annotations

import ast
import datetime as dt
import textwrap
from pathlib import Path
from typing import Final

import pytest

from agentaudit.dashboards._markdown import Markdown, fmt, md, visible
from tests.dashboards.markdown_reader import code_spans, outside_code, rendered, split
from tests.dashboards.seed_store import HOSTILE_MARKUP

WORD_JOINER = "\u2060"
ATTACKS = [
    "**bold**",
    "[click](https://evil.example/phish)",
    "![x](https://evil.example/beacon.png)",
    "<img src=x onerror=alert(1)>",
    ":red[text] :blue-background[x] :orange-badge[b] :small[s]",
    "$\\LaTeX$ $$x$$",
    ":smile: :+1: :streamlit:",
    ":material/home:",
    "line\n# Owned",
    "| a | b |\n|---|---|",
    "https://evil.example/bare www.evil.example x@evil.example",
    "a -> b <- c -- d",
    "    indented code",
    "&lt;b&gt; &amp; &#58;",
    "`one` ``two`` ```three```",
    "`",
    "ends with a backtick`",
    " padded ",
    "trailing backslash \\",
    "rtl \u202eevil\u202c zero\u200bwidth",
    HOSTILE_MARKUP,
]


# --- the helpers ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ATTACKS)
def test_md_is_one_code_span_holding_exactly_the_text(value: str) -> None:
    source = md(value)
    (piece,) = split(source)
    assert piece[0], f"not a code span: {source!r}"
    assert piece[1].replace(":" + WORD_JOINER + "material/", ":material/") == visible(value)
    assert "\n" not in source


def test_md_joins_nothing_and_keeps_markdown_it_made() -> None:
    assert md("") == ""
    assert md(None) == "`None`"
    assert md(md("**x**")) == md("**x**")
    assert isinstance(md("x"), Markdown)


def test_visible_shows_controls_and_invisible_characters() -> None:
    assert visible("a\nb\tc\x00\x7f") == "a\u240ab\u2409c\u2400\u2421"
    assert visible("\u202eexe.txt\u200b") == "\u27e8U+202E\u27e9exe.txt\u27e8U+200B\u27e9"
    assert visible("email:msg-42 alice@example.com") == "email:msg-42 alice@example.com"


def test_fmt_quotes_values_and_formats_our_figures_as_plain_text() -> None:
    when = dt.datetime(2026, 11, 28, 10, 0, 5, tzinfo=dt.timezone.utc)
    source = fmt("**{}** made {:,} calls at {:%H:%M:%S}", "**agent**", 12345, when)
    assert code_spans(source) == ["**agent**"]
    assert rendered(source) == "**agent** made 12,345 calls at 10:00:05"
    assert ":" not in outside_code(source).replace("&#58;", "")  # no emoji shortcode
    assert code_spans(fmt("sources: {}", ["a](x)", "b"])) == ["a](x)", "b"]
    assert fmt("{} / {}", md("x"), fmt("**y**")) == "`x` / **y**"
    assert fmt("none") == "none"


def test_a_format_spec_fill_character_is_escaped_too() -> None:
    source = fmt("{:*^7}", 5)
    assert "**" not in source
    assert rendered(source) == "***5***"


# --- the source check ------------------------------------------------------------------

DASHBOARDS: Final = Path(__file__).resolve().parents[2] / "agentaudit" / "dashboards"
PAGE_SOURCES: Final = sorted([DASHBOARDS / "app.py", DASHBOARDS / "_ui.py"]) + sorted(
    (DASHBOARDS / "views").glob("*.py")
)
_LABEL: Final = (0, "label", "help")
_BODY: Final = (0, "body", "help")
# Streamlit calls whose text arguments are Markdown: positions and keywords.
SINKS: Final[dict[str, tuple[int | str, ...]]] = {
    **dict.fromkeys(("title", "header", "subheader", "caption", "markdown"), _BODY),
    **dict.fromkeys(("info", "error", "warning", "success", "toast"), _BODY),
    "metric": (0, 1, 2, "label", "value", "delta", "help"),
    **dict.fromkeys(("expander", "popover", "status"), (0, "label")),
    "page_link": (1, "label", "help"),
    **dict.fromkeys(
        (
            "button",
            "download_button",
            "form_submit_button",
            "link_button",
            "checkbox",
            "toggle",
            "selectbox",
            "multiselect",
            "text_input",
            "text_area",
            "number_input",
            "slider",
            "select_slider",
            "date_input",
            "time_input",
            "file_uploader",
            "color_picker",
        ),
        _LABEL,
    ),
    **dict.fromkeys(
        ("Column", "TextColumn", "NumberColumn", "CheckboxColumn", "LinkColumn", "ListColumn"),
        _LABEL,
    ),
    **dict.fromkeys(("DatetimeColumn", "DateColumn", "TimeColumn", "JSONColumn"), _LABEL),
    # Plain-text elements whose tooltip is still Markdown.
    **dict.fromkeys(("text", "code", "json", "dataframe"), ("help",)),
}
# Every argument is Markdown.
ALL_ARGS: Final = frozenset({"write", "tabs"})
FORBIDDEN: Final = {
    "html": "renders HTML",
    "table": "its cells are Markdown: use st.dataframe",
    "radio": "its options are Markdown",
    "pills": "its options are Markdown",
    "segmented_control": "its options are Markdown",
    "latex": "renders LaTeX",
    "badge": "its label is Markdown",
    "write_stream": "streams Markdown",
}
SAFE_CALLS: Final = frozenset({"md", "fmt", "len", "int"})  # int(), len(): digits only


def _names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _bound_otherwise(node: ast.AST) -> set[str]:
    """Names ``node`` binds to values the check cannot see: loops, with, except, import."""
    if isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor | ast.comprehension):
        return _names(node.target)
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return _names(node.optional_vars)
    if isinstance(node, ast.ExceptHandler) and node.name:
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {alias.asname or alias.name for alias in node.names}
    return set()


class _Checker:
    """The rules above, over one module's syntax tree."""

    def __init__(self, source: str, name: str) -> None:
        self.tree = ast.parse(source)
        self.name = name
        self.problems: list[str] = []
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    def fail(self, node: ast.AST, why: str) -> None:
        self.problems.append(f"{self.name}:{getattr(node, 'lineno', '?')}: {why}")

    def scope_of(self, node: ast.AST) -> ast.AST:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                return node
        return self.tree

    def bindings(self, scope: ast.AST, name: str) -> list[ast.expr] | None:
        """The values ``name`` is assigned in ``scope``; None if bound any other way."""
        values: list[ast.expr] = []
        for node in ast.walk(scope):
            if node is scope or self.scope_of(node) is not scope:
                continue
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        values.append(node.value)
                    elif name in _names(target):
                        return None  # unpacked from a tuple: unknown
            elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and name in _names(node.target):
                if node.value is not None:
                    values.append(node.value)
            elif name in _bound_otherwise(node):
                return None
        return values

    def safe(self, node: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        """``node`` is Markdown we wrote, or values made text by md/fmt."""
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str | int | float | bool) or node.value is None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "fmt":
                template = node.args[0] if node.args else None
                return isinstance(template, ast.Constant) and isinstance(template.value, str)
            return node.func.id in SAFE_CALLS
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.safe(node.left, seen) and self.safe(node.right, seen)
        if isinstance(node, ast.IfExp):
            return self.safe(node.body, seen) and self.safe(node.orelse, seen)
        if isinstance(node, ast.BoolOp):
            return all(self.safe(value, seen) for value in node.values)
        if isinstance(node, ast.List | ast.Tuple):
            return all(self.safe(item, seen) for item in node.elts)
        if isinstance(node, ast.Name) and node.id not in seen:
            scope = self.scope_of(node)
            if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = scope.args
                for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                    if argument.arg == node.id:
                        return ast.unparse(argument.annotation or ast.Pass()) == "Markdown"
            values = self.bindings(scope, node.id)
            if values == [] and scope is not self.tree:
                values = self.bindings(self.tree, node.id)  # a module-level name
            return bool(values) and all(self.safe(v, seen | {node.id}) for v in values)
        return False

    def check(self) -> list[str]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module == "streamlit":
                self.fail(node, "import streamlit as st; no names from it (the check reads st.x)")
            if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
                self.fail(node, "unsafe_allow_html renders HTML")
            if isinstance(node, ast.FunctionDef | ast.Assign) and (
                getattr(node, "name", None) in ("md", "fmt")
                or any(
                    isinstance(t, ast.Name) and t.id in ("md", "fmt")
                    for t in getattr(node, "targets", [])
                )
            ):
                self.fail(node, "md and fmt come from agentaudit.dashboards._markdown")
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "Markdown":
                self.fail(node, "Markdown(...) only in _markdown.py: use md() or fmt()")
            if isinstance(node, ast.Attribute):
                self.check_attribute(node)
        return self.problems

    def check_attribute(self, node: ast.Attribute) -> None:
        name = node.attr
        parent = self.parents.get(node)
        called = isinstance(parent, ast.Call) and parent.func is node
        if name in FORBIDDEN and called:
            self.fail(node, f"st.{name}: {FORBIDDEN[name]}")
        if name not in SINKS and name not in ALL_ARGS and name not in ("graphviz_chart",):
            return
        if not called:
            if isinstance(node.value, ast.Name) and node.value.id == "st":
                self.fail(node, f"st.{name} used as a value: call it, so its text is checked")
            return
        assert isinstance(parent, ast.Call)
        if name == "graphviz_chart":
            spec = parent.args[0] if parent.args else None
            if not (
                isinstance(spec, ast.Call)
                and isinstance(spec.func, ast.Name)
                and spec.func.id == "provenance_dot"
            ):
                self.fail(node, "st.graphviz_chart takes provenance_dot(...) (escaped DOT)")
            return
        if name in ALL_ARGS:
            checked = list(parent.args) + [k.value for k in parent.keywords if k.arg]
        else:
            where = SINKS[name]
            checked = [a for i, a in enumerate(parent.args) if i in where]
            checked += [k.value for k in parent.keywords if k.arg in where]
        if name == "download_button":
            checked += [k.value for k in parent.keywords if k.arg == "file_name"]
        for argument in checked:
            if isinstance(argument, ast.JoinedStr):
                self.fail(argument, f"f-string in st.{name}: use fmt('...{{}}...', value)")
            elif not self.safe(argument):
                self.fail(
                    argument,
                    f"st.{name} gets {ast.unparse(argument)!r}: pass md(value) or "
                    "fmt('literal {}', value)",
                )


def problems_in(source: str, name: str = "<test>") -> list[str]:
    return _Checker(textwrap.dedent(source), name).check()


@pytest.mark.parametrize("path", PAGE_SOURCES, ids=lambda p: p.name)
def test_pages_put_recorded_values_in_markdown_only_through_md_or_fmt(path: Path) -> None:
    assert problems_in(path.read_text(), path.name) == []


def test_pages_are_all_checked() -> None:
    names = {p.name for p in PAGE_SOURCES}
    assert {"overview.py", "investigate.py", "session.py", "agent.py"} <= names
    assert {"blast_radius.py", "revoke.py", "sql.py", "app.py", "_ui.py", "agents.py"} <= names


@pytest.mark.parametrize(
    ("snippet", "complaint"),
    [
        ("st.caption(f'agent {agent}')", "f-string in st.caption"),
        ("st.error('Could not load ' + str(exc))", "st.error gets"),
        ("st.warning('Excess: ' + ', '.join(scopes))", "st.warning gets"),
        ("a.metric('Agent', agent_id)", "st.metric gets"),
        ("st.page_link('views/session.py', label=row.session_id)", "st.page_link gets"),
        ("with st.expander(label):\n    pass", "st.expander gets"),
        ("st.selectbox(name, options)", "st.selectbox gets"),
        ("st.write(text)", "st.write gets"),
        ("st.markdown(fmt(template, x))", "st.markdown gets"),
        ("st.markdown(body, unsafe_allow_html=True)", "unsafe_allow_html"),
        ("st.table(rows)", "st.table: its cells are Markdown"),
        ("st.radio('Agent', agents)", "st.radio: its options are Markdown"),
        ("st.html(x)", "st.html"),
        ("box = {'done': st.success}", "st.success used as a value"),
        ("st.graphviz_chart(dot)", "provenance_dot"),
        ("st.download_button('CSV', b'', file_name=f'{agent}.csv')", "f-string in st.download"),
        ("x = Markdown(agent)", "Markdown(...) only"),
        ("from streamlit import caption", "import streamlit as st"),
        ("label = row.agent_id\nst.info(label)", "st.info gets"),
        ("def show(body: str) -> None:\n    st.error(body)", "st.error gets"),
        ("def md(x):\n    return x", "md and fmt come from"),
    ],
)
def test_the_source_check_catches_raw_values(snippet: str, complaint: str) -> None:
    found = problems_in(snippet)
    assert any(complaint in p for p in found), found


@pytest.mark.parametrize(
    "snippet",
    [
        "st.caption(fmt('{:,} rows', len(result)))",
        "st.error(md(exc))",
        "st.metric('Tool calls', len(calls))",
        "label = fmt('{} x', a)\nst.info(label)",
        "def show(body: Markdown) -> None:\n    st.error(body)",
        "st.expander(fmt('{}', a) + (' flag' if alert else ''))",
        "st.metric('User', fmt('{}', users) or 'unknown')",
        "st.graphviz_chart(provenance_dot(chain), width='stretch')",
        "st.download_button('CSV', b'', file_name='agentaudit.csv')",
    ],
)
def test_the_source_check_accepts_escaped_values(snippet: str) -> None:
    assert problems_in(snippet) == []
