"""Confine investigator SQL to reading the audit data, using ClickHouse's own parser.

Seam: :func:`confine` takes the investigator's text and a ``run`` callable that executes
trusted internal queries on the engine (a handle that is not in ``readonly = 1`` mode:
ClickHouse refuses ``EXPLAIN`` in a subquery there). It returns a :class:`ConfinedQuery`
or raises :class:`QueryRefused` naming what is not allowed.

How a query is checked:

1. ``formatQuerySingleLine`` canonicalises it; this fails unless the text is exactly one
   statement. The canonical text must format to itself (a fixed point).
2. ``SELECT explain FROM (EXPLAIN AST <canonical>)``: ClickHouse refuses anything but a
   plain SELECT there (no INSERT, SYSTEM, SET..., no FORMAT or INTO OUTFILE). Its output
   is the analyzer's rewrite of the query, so it only gates; a ``Set`` in it is refused.
3. ``EXPLAIN AST <canonical>`` gives the parse tree (it shows inline window definitions,
   which the rewrite drops). Every node is checked against allowlists: node kinds,
   functions (:mod:`._sql_functions`), tables (only ``database``, or a WITH subquery),
   no table functions, no SETTINGS, no query parameters.
4. Identifiers passed as function arguments are looked up in ``system.functions``:
   ClickHouse accepts a bare function name where a lambda is expected
   (``arrayMap(file, ...)`` calls ``file``).

Invariants:

* The caller executes :attr:`ConfinedQuery.sql`, the exact text that was checked, never
  the original, with ``database`` as its default database.
* What the query is, is decided by ClickHouse's parser. The small lexer here only names
  WITH subqueries (for the tables reported) and refuses quoted function names; it never
  lets anything through.
* Fail closed: a node kind, name or tree shape the checker does not recognise is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agentaudit.errors import AgentAuditError, ExitCode
from agentaudit.store._sql_functions import (
    AGGREGATE_FUNCTIONS,
    ALLOWED_COMBINATORS,
    CASE_INSENSITIVE,
    SCALAR_FUNCTIONS,
)

__all__ = [
    "MAX_QUERY_CHARS",
    "ConfinedQuery",
    "QueryRefused",
    "confine",
    "function_allowed",
    "quote_string",
]

MAX_QUERY_CHARS: Final = 100_000
"""Longest investigator query accepted, in characters."""

Run = Callable[[str], Sequence[tuple[Any, ...]]]


class QueryRefused(AgentAuditError):
    """An investigator query that does not only read the audit data; the message says why."""

    exit_code = ExitCode.REFUSED


@dataclass(frozen=True)
class ConfinedQuery:
    """A checked query: execute :attr:`sql`, nothing else."""

    sql: str
    """ClickHouse's canonical single-line text of the query; what was checked."""
    tables: frozenset[str]
    """The tables of the confined database that the query reads (names without database)."""


_ROOTS: Final = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery", "SelectQuery"})
_KINDS: Final = _ROOTS | {
    "ArrayJoin", "Asterisk", "ColumnsExceptTransformer", "ColumnsListMatcher",
    "ColumnsRegexpMatcher", "ColumnsReplaceTransformer", "ColumnsReplaceTransformer::Replacement",
    "ColumnsTransformerList", "ExpressionList", "Function", "Identifier", "InterpolateElement",
    "Literal", "OrderByElement", "QualifiedAsterisk", "QualifiedColumnsListMatcher",
    "QualifiedColumnsRegexpMatcher", "SampleRatio", "Subquery", "TableExpression",
    "TableIdentifier", "TableJoin", "TablesInSelectQuery", "TablesInSelectQueryElement",
    "WindowDefinition", "WindowListElement", "WithElement",
}  # fmt: skip
_REFUSED_KINDS: Final = {
    "Set": "SETTINGS is not allowed in investigator queries (agentaudit sets the limits)",
    "QueryParameter": "query parameters ({name:Type}) are not allowed in investigator queries",
    "ColumnsApplyTransformer": (
        "the APPLY column transformer is not allowed in investigator queries (ClickHouse "
        "does not show which function it applies); call the function on the columns instead"
    ),
}
_IN_FUNCTIONS: Final = frozenset(
    {"in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn", "globalNullIn",
     "globalNotNullIn"}
)  # fmt: skip
_CI_AGGREGATES: Final = frozenset(
    name.lower() for name in AGGREGATE_FUNCTIONS if name.lower() in CASE_INSENSITIVE
)

_ROW = re.compile(r"(?P<indent> *)(?P<kind>[A-Za-z][A-Za-z_:]*)(?P<text>.*)", re.DOTALL)
_CHILDREN = re.compile(r" \(children (?P<n>[0-9]+)\)\Z")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FUNCTION = re.compile(r" (?P<name>[^ ]+)(?: \(alias .*\))?\Z", re.DOTALL)
_TABLE = re.compile(r" (?P<name>[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)(?: \(alias [^()]*\))?\Z")
_IDENTIFIER = re.compile(r" (?P<name>[^ .]+)(?: \(alias .*\))?\Z", re.DOTALL)
_TOKEN = re.compile(
    r"""(?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<quoted>`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*")
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<space>\s+)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


def quote_string(text: str) -> str:
    """``text`` as a ClickHouse string literal that cannot end early.

    Backslash and quote are escaped, and every control character becomes ``\\xHH``, so
    the literal holds no raw NUL, newline or quote whatever ``text`` contains.
    """
    out = []
    for char in text:
        if char in "\\'":
            out.append("\\" + char)
        elif char < " " or char == "\x7f":
            out.append(f"\\x{ord(char):02X}")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"


def confine(sql: str, run: Run, *, database: str = "agentaudit") -> ConfinedQuery:
    """Check ``sql`` with ClickHouse's parser; return what to execute, or raise.

    Raises :class:`QueryRefused` for a query that is not a single SELECT reading only
    tables of ``database`` with allowed functions. Errors of ``run`` that are not
    ClickHouse's verdict on the query (the store is down, say) propagate unchanged.
    """
    _precheck(sql)
    canonical = _canonicalise(sql, run)
    # The canonical text is one statement that formats to itself, so it cannot close the
    # parenthesis around it: these two queries only parse it.
    gate = f"SELECT explain FROM (EXPLAIN AST {canonical})"  # noqa: S608 - see above
    for (row,) in _text_rows(_engine(run, gate, canonical)):
        kind = row.strip().split(" ", 1)[0]
        if kind in ("Set", "QueryParameter"):
            raise QueryRefused("refused: " + _REFUSED_KINDS[kind])
    tree = _tree(_text_rows(_engine(run, f"EXPLAIN AST {canonical}", canonical)))
    checker = _Checker(database, _cte_names(canonical, tree))
    checker.walk(tree)
    _check_function_references(checker.argument_names, run)
    return ConfinedQuery(canonical, frozenset(checker.tables))


def _precheck(sql: str) -> None:
    if not sql.strip():
        raise QueryRefused("refused: the query is empty")
    if len(sql) > MAX_QUERY_CHARS:
        raise QueryRefused(
            f"refused: the query is {len(sql):,} characters long; the limit is {MAX_QUERY_CHARS:,}"
        )
    if "\x00" in sql:
        raise QueryRefused("refused: the query contains a NUL byte")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryRefused("refused: the query is not valid Unicode text") from None


def _canonicalise(sql: str, run: Run) -> str:
    rows = _text_rows(
        _engine(
            run,
            "SELECT c, formatQuerySingleLine(c) FROM "  # noqa: S608 - a quoted literal
            f"(SELECT formatQuerySingleLine({quote_string(sql)}) AS c)",
            sql,
        ),
        width=2,
    )
    if len(rows) != 1:
        raise QueryRefused("refused: ClickHouse did not return one canonical form of the query")
    canonical, again = rows[0]
    if canonical != again:
        raise QueryRefused(
            "refused: ClickHouse formats the query differently each time, so it cannot be "
            "checked; simplify the query"
        )
    return canonical


def _engine(run: Run, query: str, subject: str) -> Sequence[tuple[Any, ...]]:
    """Run an internal query; ClickHouse's errors about ``subject`` become refusals."""
    try:
        return run(query)
    except Exception as exc:
        text = str(exc)
        if "DB::Exception" not in text and not re.search(r"Code: [0-9]+", text):
            raise
        raise QueryRefused(_engine_reason(text, subject)) from exc


def _engine_reason(text: str, subject: str) -> str:
    detail = text.strip().splitlines()[0] if text.strip() else text
    detail = re.sub(r"^.*?DB::Exception: ", "", detail)
    detail = re.split(r"[.:] In scope ", detail)[0][:300]
    if "Multi-statements are not allowed" in text:
        return "refused: the query must be a single statement (found more after ';')"
    if "supports only SELECT queries" in text:
        keyword = re.match(r"[A-Za-z]+", subject)
        kind = keyword.group(0).upper() if keyword else "this"
        return (
            f"refused: {kind} statements are not allowed; an investigator query must be a "
            "single SELECT"
        )
    if "cannot have output options" in text:
        return (
            "refused: INTO OUTFILE and FORMAT are not allowed in investigator queries "
            "(agentaudit returns the results)"
        )
    if "Cannot modify" in text and "readonly mode" in text:
        return "refused: " + _REFUSED_KINDS["Set"]
    if "UNKNOWN_QUERY_PARAMETER" in text or "Substitution" in text:
        return "refused: " + _REFUSED_KINDS["QueryParameter"]
    if "Max query size exceeded" in text:
        return "refused: the query is too long for ClickHouse's parser"
    if "SYNTAX_ERROR" in text or "Syntax error" in text:
        return f"refused: the query is not valid ClickHouse SQL: {detail}"
    return f"refused: ClickHouse could not check the query: {detail}"


def _text_rows(rows: Sequence[tuple[Any, ...]], *, width: int = 1) -> list[tuple[str, ...]]:
    out = []
    for row in rows:
        if len(row) != width or not all(isinstance(value, str) for value in row):
            raise TypeError(f"run() must return rows of {width} string(s), got {row!r}")
        out.append(tuple(row))
    return out


@dataclass
class _Node:
    kind: str
    text: str
    declared: int
    children: list[_Node] = field(default_factory=list)


def _tree(rows: Sequence[tuple[str, ...]]) -> _Node:
    """Build the tree from ``EXPLAIN AST`` rows, one row per node, indented by depth.

    A name may contain a newline and so add rows; the exact depth, child counts and one
    root required here make such rows refuse the query rather than hide a real node.
    """
    root: _Node | None = None
    stack: list[tuple[int, _Node]] = []
    for (row,) in rows:
        match = _ROW.fullmatch(row)
        if match is None:
            raise _unreadable()
        text = match["text"]
        children = _CHILDREN.search(text)
        node = _Node(
            kind=match["kind"],
            text=text[: children.start()] if children else text,
            declared=int(children["n"]) if children else 0,
        )
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            if depth != stack[-1][0] + 1:
                raise _unreadable()
            stack[-1][1].children.append(node)
        elif root is None and depth == 0:
            root = node
        else:
            raise _unreadable()
        stack.append((depth, node))
    if root is None:
        raise _unreadable()
    for node in _preorder(root):
        if len(node.children) != node.declared:
            raise _unreadable()
    return root


def _unreadable() -> QueryRefused:
    return QueryRefused(
        "refused: the query's syntax tree could not be checked (unusual names, such as "
        "identifiers with line breaks, are not allowed)"
    )


def _preorder(root: _Node) -> Iterable[_Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def _cte_names(canonical: str, tree: _Node) -> dict[int, str]:
    """Map each written ``WithElement`` node (by id) to its name, read from the canonical text.

    ``EXPLAIN AST`` does not print these names. In ClickHouse's formatting a WITH subquery
    reads ``name AS (SELECT|WITH|(...``; the names pair with the nodes in order, and a count
    that differs refuses the query. Copies that ClickHouse adds to the later branches of a
    union (its global WITH) get no name: :meth:`_Checker._defined` propagates those.
    """
    tokens = [
        (match.lastgroup or "", match.group())
        for match in _TOKEN.finditer(canonical)
        if match.lastgroup != "space"
    ]
    names: list[str] = []
    for index, (kind, value) in enumerate(tokens):
        after = tokens[index + 1 : index + 4]
        if kind == "quoted" and after[:1] == [("other", "(")] and not _PLAIN.match(value[1:-1]):
            raise QueryRefused(f"refused: function name {value} is not a plain name")
        if kind not in ("word", "quoted") or len(after) < 3 or index == 0:
            continue
        if (
            tokens[index - 1][1].upper() in ("WITH", "RECURSIVE", ",")
            and after[0][1].upper() == "AS"
            and after[1][1] == "("
            and (after[2][1].upper() in ("SELECT", "WITH") or after[2][1] == "(")
        ):
            names.append(value[1:-1] if kind == "quoted" else value)
    copies = _global_with_copies(tree)
    written = [
        node for node in _preorder(tree) if node.kind == "WithElement" and id(node) not in copies
    ]
    if len(written) != len(names):
        raise QueryRefused(
            "refused: the names of the query's WITH subqueries could not be read; "
            "simplify the WITH clause"
        )
    return {id(node): name for node, name in zip(written, names, strict=True)}


def _global_with_copies(tree: _Node) -> set[int]:
    """Ids of the ``WithElement`` copies ClickHouse adds to a union's later SELECTs."""
    signature: dict[int, int] = {}
    for node in reversed(list(_preorder(tree))):
        children = tuple(signature[id(child)] for child in node.children)
        signature[id(node)] = hash((node.kind, node.text, children))
    copies: set[int] = set()
    for union in _preorder(tree):
        if union.kind != "SelectWithUnionQuery":
            continue
        selects = _union_selects(union)
        if len(selects) < 2:
            continue
        first = {signature[id(element)] for element in _with_elements(selects[0])}
        for select in selects[1:]:
            copies.update(
                id(element) for element in _with_elements(select) if signature[id(element)] in first
            )
    return copies


def _union_selects(union: _Node) -> list[_Node]:
    """The SELECTs of a union, in order, through nested unions and INTERSECT/EXCEPT."""
    selects: list[_Node] = []
    stack = [union]
    while stack:
        node = stack.pop()
        if node.kind == "SelectQuery":
            selects.append(node)
        elif node.kind in ("SelectWithUnionQuery", "SelectIntersectExceptQuery", "ExpressionList"):
            stack.extend(reversed(node.children))
    return selects


def _with_elements(select: _Node) -> list[_Node]:
    return [
        element
        for part in select.children
        if part.kind == "ExpressionList"
        for element in part.children
        if element.kind == "WithElement"
    ]


def function_allowed(name: str) -> bool:
    """Whether investigator SQL may call ``name`` (as ClickHouse spells it in the tree)."""
    if not _PLAIN.match(name):
        return False
    if name in SCALAR_FUNCTIONS or name in AGGREGATE_FUNCTIONS:
        return True
    if name.lower() in CASE_INSENSITIVE:
        return True
    pending = [name]
    while pending:
        current = pending.pop()
        for suffix in ALLOWED_COMBINATORS:
            if current.endswith(suffix) and len(current) > len(suffix):
                base = current[: -len(suffix)]
                if base in AGGREGATE_FUNCTIONS or base.lower() in _CI_AGGREGATES:
                    return True
                pending.append(base)
    return False


def _why(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith(("file", "dict", "joinget", "hascolumnintable", "region")) or re.match(
        "(ai|AI)[A-Z]", name
    ):
        return "it reads outside the audit data"
    if lowered.startswith("sleep"):
        return "it can stall the server"
    if lowered.startswith(
        ("get", "host", "fqdn", "version", "uptime", "tcpport", "buildid", "serveruuid",
         "filesystem", "current", "initial", "query", "user", "database", "revision")
    ):  # fmt: skip
        return "it reveals the server or its configuration"
    return "only functions that compute over the audit data are allowed"


class _Checker:
    """One walk over the tree: refuses what is not allowed, collects tables and names."""

    def __init__(self, database: str, cte_names: dict[int, str]) -> None:
        self.database = database
        self.cte_names = cte_names
        self.tables: set[str] = set()
        self.argument_names: set[str] = set()

    def walk(self, root: _Node) -> None:
        if root.kind not in _ROOTS:
            raise QueryRefused("refused: an investigator query must be a single SELECT")
        stack: list[tuple[_Node, frozenset[str]]] = [(root, frozenset())]
        while stack:
            node, scope = stack.pop()
            scope = scope | self._defined(node)
            self._check(node, scope)
            stack.extend((child, scope) for child in reversed(node.children))

    def _defined(self, node: _Node) -> frozenset[str]:
        """CTE names that ``node`` brings into scope for its subtree."""
        if node.kind == "SelectQuery":
            return frozenset(
                self.cte_names[id(element)]
                for element in _with_elements(node)
                if id(element) in self.cte_names
            )
        if node.kind == "SelectWithUnionQuery" and node.children:
            # ClickHouse propagates the WITH of a union's first SELECT to the others.
            first = node.children[0]
            while first.kind != "SelectQuery" and first.children:
                first = first.children[0]
            return self._defined(first) if first.kind == "SelectQuery" else frozenset()
        return frozenset()

    def _check(self, node: _Node, scope: frozenset[str]) -> None:
        if node.kind in _REFUSED_KINDS:
            raise QueryRefused("refused: " + _REFUSED_KINDS[node.kind])
        if node.kind not in _KINDS:
            raise QueryRefused(
                f"refused: query element {node.kind!r} is not allowed in investigator "
                "queries (the checker does not recognise it)"
            )
        if node.kind == "TableExpression":
            for child in node.children:
                if child.kind == "Function":
                    name = child.text.strip().split(" ", 1)[0]
                    raise QueryRefused(
                        f"refused: table function {name!r} is not allowed in investigator "
                        "queries (it reads outside the audit data)"
                    )
        elif node.kind == "TableIdentifier":
            self._table(node.text, scope, after_in=False)
        elif node.kind == "Function":
            self._function(node, scope)

    def _function(self, node: _Node, scope: frozenset[str]) -> None:
        match = _FUNCTION.fullmatch(node.text)
        name = match["name"] if match else node.text.strip()
        if match is None or node.text.count(" (alias ") > 1 or not function_allowed(name):
            raise QueryRefused(
                f"refused: function {name!r} is not allowed in investigator queries ({_why(name)})"
            )
        arguments = [child for child in node.children if child.kind == "ExpressionList"]
        if name in _IN_FUNCTIONS and arguments and len(arguments[0].children) == 2:
            right = arguments[0].children[1]
            if right.kind == "Identifier":
                self._table(right.text, scope, after_in=True)
        for argument_list in arguments:
            for argument in argument_list.children:
                if argument.kind == "Identifier":
                    plain = _IDENTIFIER.fullmatch(argument.text)
                    if plain and not function_allowed(plain["name"]):
                        self.argument_names.add(plain["name"])

    def _table(self, text: str, scope: frozenset[str], *, after_in: bool) -> None:
        match = _TABLE.fullmatch(text)
        shown = text.strip().split(" (alias ", 1)[0]
        if match is not None:
            database, _, table = match["name"].rpartition(".")
            if not database and table in scope:
                return
            if database in ("", self.database):
                self.tables.add(table)
                return
        where = " after IN" if after_in else ""
        hint = "; to test an array column, use has(array, value)" if after_in else ""
        raise QueryRefused(
            f"refused: table {shown!r}{where} is not allowed in investigator queries (only "
            f"tables of database {self.database!r} can be read{hint})"
        )


def _check_function_references(names: set[str], run: Run) -> None:
    """Refuse identifiers that ClickHouse could resolve to a function left off the list."""
    if not names:
        return
    exact = ", ".join(quote_string(name) for name in sorted(names))
    lowered = ", ".join(quote_string(name.lower()) for name in sorted(names))
    found = _text_rows(
        _engine(
            run,
            f"SELECT name FROM system.functions WHERE name IN ({exact}) "  # noqa: S608 - quoted
            f"OR (case_insensitive AND lower(name) IN ({lowered}))",
            "",
        )
    )
    functions = {name for (name,) in found}
    for name in sorted(names):
        if name in functions or any(f.lower() == name.lower() for f in functions):
            raise QueryRefused(
                f"refused: function {name!r} is not allowed in investigator queries "
                f"({_why(name)}; ClickHouse calls a function named as an argument, so "
                "rename the column or alias)"
            )
