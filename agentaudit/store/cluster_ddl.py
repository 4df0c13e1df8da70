"""The cluster schema, generated from the single-node migrations (``agentaudit migrate --cluster``).

A transformation, not a second copy of the DDL: every statement of
``schema/migrations/*.sql`` becomes its cluster form, so a new migration is written
once, for one server, and reaches clusters unchanged.

========================================  =================================================
single-node statement                     on cluster NAME (every statement ``ON CLUSTER``)
========================================  =================================================
``CREATE DATABASE agentaudit``            the same, and ``agentaudit_local``
``CREATE TABLE agentaudit.T (...)``       ``agentaudit_local.T``: the same columns, indexes
``ENGINE = XMergeTree(args) ...``         and clauses, ``ReplicatedXMergeTree('/clickhouse/
                                          agentaudit/NAME/tables/{shard}/T', '{replica}',
                                          args)``; a deduplication window carried over to
                                          the replicated one. Then ``agentaudit.T AS
                                          agentaudit_local.T ENGINE = Distributed(NAME,
                                          agentaudit_local, T, <sharding key>)``
``ALTER TABLE agentaudit.T <commands>``   on ``agentaudit_local.T``; the column commands
                                          (ADD/DROP/MODIFY/RENAME/COMMENT COLUMN) also on
                                          the Distributed ``agentaudit.T``
``CREATE VIEW agentaudit.V AS ...``       the same (it reads the Distributed tables)
``DROP TABLE / VIEW agentaudit.X``        the Distributed table, then the local one
anything else                             refused with :class:`ClusterDdlError`
========================================  =================================================

Sharding keys (:func:`sharding_key`): ``tool_calls``, ``tool_call_server_sides`` and
``otel_traces`` by session (the span's trace when it has none; a tool server records the
caller's session and trace, so both records of an MCP call land on one shard): the
forensic unit is the session (a session's calls, its model calls and the untrusted
content that steered them answer one incident), sessions are many and small so shards
fill evenly, and a hot agent, which holds most of the traffic in a typical deployment,
is spread over every shard instead of filling one. The
agent questions (profile, blast radius, baselines) are aggregations every shard answers
for its part, pruned by the ``(agent_id, ts)`` ordering key. Every other table by the
first column of its ordering key (a chain, an agent, a finding, a revocation stays on one
shard; the versions of a ReplacingMergeTree row share their key, so they meet on one
shard and ``FINAL`` stays correct). Keys are deterministic: a retried insert splits the
same way, so each shard's deduplication token matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from agentaudit.errors import ConfigError
from agentaudit.schema import attributes as A
from agentaudit.store._server import DATABASE, LOCAL_DATABASE
from agentaudit.store._types import StoreError

__all__ = [
    "DEDUPLICATION_WINDOW_SECONDS",
    "SHARDING_KEYS",
    "ClusterDdlError",
    "bootstrap_statements",
    "check_cluster_name",
    "cluster_statements",
    "replicated_everywhere",
    "sharding_key",
]

_SESSION_ATTRIBUTE = A.SESSION_ID
SHARDING_KEYS: Final[Mapping[str, str]] = {
    "tool_calls": "cityHash64(if(session_id != '', session_id, trace_id))",
    "tool_call_server_sides": "cityHash64(if(session_id != '', session_id, trace_id))",
    "otel_traces": (
        f"cityHash64(if(SpanAttributes['{_SESSION_ATTRIBUTE}'] != '', "
        f"SpanAttributes['{_SESSION_ATTRIBUTE}'], TraceId))"
    ),
}
"""Explicit sharding keys; every other table shards by its ordering key's first column."""
DEDUPLICATION_WINDOW_SECONDS: Final = 7 * 86_400
"""How long a replica remembers an insert's deduplication token (with the block-count
window of the single-node table): longer than any WAL replay or client retry."""

_CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
_COLUMN_COMMAND_RE = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.IGNORECASE)
_COMMAND_RE = re.compile(
    r"^(ADD|DROP|MODIFY|RENAME|COMMENT|MATERIALIZE|CLEAR|REMOVE|RESET|UPDATE|DELETE|"
    r"FREEZE|UNFREEZE|ATTACH|DETACH|REPLACE|MOVE|FETCH|APPLY)\b",
    re.IGNORECASE,
)
_CLAUSE_RE = re.compile(
    r"\b(PARTITION\s+BY|ORDER\s+BY|PRIMARY\s+KEY|SAMPLE\s+BY|TTL|SETTINGS|COMMENT)\b",
    re.IGNORECASE,
)
_NAME = r"(?P<db>\w+)\.(?P<name>\w+)"
_CREATE_DATABASE_RE = re.compile(
    r"^\s*CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<db>\w+)\s*$", re.IGNORECASE
)
_CREATE_TABLE_RE = re.compile(
    rf"^\s*CREATE\s+TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?{_NAME}\s*(?P<columns>\(x*\))\s*"
    r"ENGINE\s*=\s*(?P<engine>\w+)\s*(?P<args>\(x*\))?(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_ALTER_RE = re.compile(rf"^\s*ALTER\s+TABLE\s+{_NAME}\s+(?P<body>.+)$", re.IGNORECASE | re.DOTALL)
_CREATE_VIEW_RE = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+AS\b",
    re.IGNORECASE,
)
_DROP_RE = re.compile(
    rf"^\s*DROP\s+(?P<kind>TABLE|VIEW)\s+(?P<ie>IF\s+EXISTS\s+)?{_NAME}(?P<sync>\s+SYNC)?\s*$",
    re.IGNORECASE,
)


class ClusterDdlError(StoreError):
    """A single-node statement has no cluster form (this module must learn it)."""


def check_cluster_name(name: str) -> str:
    """``name`` when it can be a ClickHouse cluster name (``remote_servers``), else ConfigError."""
    if not _CLUSTER_NAME_RE.match(name):
        raise ConfigError(
            f"--cluster: {name!r} is not a cluster name (letters, digits, '_', '-', '.'; "
            "as in the servers' remote_servers configuration)"
        )
    return name


def _mask(sql: str) -> str:
    """``sql`` with everything that is not top-level text blanked, at the same positions.

    String literals and quoted identifiers keep their quotes with ``x`` inside; the
    outermost parentheses stay, what is inside them becomes ``x``; comments become blanks.
    So a regular expression over the mask sees only top-level keywords, commas and
    parenthesised groups, and its positions index the original text.
    """
    out: list[str] = []
    depth, i, n = 0, 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"`":
            end = i + 1
            while end < n and sql[end] != char:
                end += 2 if sql[end] == "\\" else 1
            end = min(end, n - 1)
            out.append(("x" * (end - i + 1)) if depth else char + "x" * (end - i - 1) + char)
            i = end + 1
            continue
        if sql.startswith("--", i) or sql.startswith("/*", i):
            end = sql.find("\n", i) if char == "-" else sql.find("*/", i) + 1
            end = n - 1 if end <= 0 else end
            out.append(" " * (end - i + 1))
            i = end + 1
            continue
        if char == "(":
            out.append("(" if depth == 0 else "x")
            depth += 1
        elif char == ")":
            depth -= 1
            out.append(")" if depth == 0 else "x")
        else:
            out.append("x" if depth else char)
        i += 1
    return "".join(out)


def _split_top(sql: str, start: int = 0, end: int | None = None) -> list[str]:
    """``sql[start:end]`` split at its top-level commas, each piece stripped."""
    end = len(sql) if end is None else end
    mask = _mask(sql)
    pieces, begin = [], start
    for index in range(start, end):
        if mask[index] == ",":
            pieces.append(sql[begin:index].strip())
            begin = index + 1
    pieces.append(sql[begin:end].strip())
    return [p for p in pieces if p]


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _on(cluster: str) -> str:
    return f"ON CLUSTER {_quoted(cluster)}"


def sharding_key(table: str, order_by: str) -> str:
    """The Distributed sharding key of ``table`` whose ORDER BY is ``order_by``."""
    if table in SHARDING_KEYS:
        return SHARDING_KEYS[table]
    text = order_by.strip()
    if text.startswith("(") and text.endswith(")"):
        inner = _split_top(text[1:-1])
        text = inner[0] if inner else ""
    if not text or text.lower().startswith("tuple("):
        raise ClusterDdlError(
            f"table {table}: no ordering key to shard by; give it one in "
            "agentaudit/store/cluster_ddl.py SHARDING_KEYS"
        )
    return f"cityHash64({text})"


def _clause(rest: str, keyword: str) -> tuple[int, int] | None:
    """Where the top-level clause ``keyword`` of ``rest`` starts and ends (next clause)."""
    mask = _mask(rest)
    found = [m for m in _CLAUSE_RE.finditer(mask)]
    for index, match in enumerate(found):
        if re.sub(r"\s+", " ", match.group(1).upper()) == keyword:
            end = found[index + 1].start() if index + 1 < len(found) else len(rest)
            return match.end(), end
    return None


def _replicated_settings(rest: str) -> str:
    """``rest`` (the clauses after ENGINE) with its deduplication window made replicated."""
    where = _clause(rest, "SETTINGS")
    if where is None:
        return rest
    start, end = where
    items = []
    for item in _split_top(rest, start, end):
        name, _, value = item.partition("=")
        if name.strip() == "non_replicated_deduplication_window":
            items.append(f"replicated_deduplication_window = {value.strip()}")
            items.append(
                f"replicated_deduplication_window_seconds = {DEDUPLICATION_WINDOW_SECONDS}"
            )
        else:
            items.append(item)
    return f"{rest[:start]} {', '.join(items)}{' ' if end < len(rest) else ''}{rest[end:]}"


def _clauses(rest: str) -> str:
    """The clauses after ENGINE, on a line of their own."""
    return f"\n{rest.strip()}" if rest.strip() else ""


def _check_database(db: str, statement: str) -> None:
    if db != DATABASE:
        raise ClusterDdlError(
            f"only tables of database {DATABASE!r} have a cluster form: {statement[:80]!r}"
        )


def _create_table(sql: str, match: re.Match[str], cluster: str) -> list[str]:
    name, engine = match["name"], match["engine"]
    _check_database(match["db"], sql)
    if not engine.endswith("MergeTree") or engine.startswith("Replicated"):
        raise ClusterDdlError(
            f"table {name}: engine {engine} has no cluster form (a MergeTree-family engine, "
            "not already replicated)"
        )
    columns = sql[match.start("columns") : match.end("columns")]
    args = sql[match.start("args") + 1 : match.end("args") - 1].strip() if match["args"] else ""
    rest = _clauses(sql[match.start("rest") :])
    order_by = _clause(rest, "ORDER BY")
    if order_by is None:
        raise ClusterDdlError(f"table {name}: no ORDER BY")
    key = sharding_key(name, rest[order_by[0] : order_by[1]])
    path = f"/clickhouse/agentaudit/{cluster}/tables/{{shard}}/{name}"
    engine_args = ", ".join([_quoted(path), "'{replica}'", *([args] if args else [])])
    ine = "IF NOT EXISTS " if match["ine"] else ""
    local = (
        f"CREATE TABLE {ine}{LOCAL_DATABASE}.{name} {_on(cluster)}\n{columns}\n"
        f"ENGINE = Replicated{engine}({engine_args}){_replicated_settings(rest)}".rstrip()
    )
    distributed = (
        f"CREATE TABLE {ine}{DATABASE}.{name} {_on(cluster)}\nAS {LOCAL_DATABASE}.{name}\n"
        f"ENGINE = Distributed({_quoted(cluster)}, {_quoted(LOCAL_DATABASE)}, {_quoted(name)}, "
        f"{key})"
    )
    return [local, distributed]


def _commands(body: str) -> tuple[list[str], str]:
    """An ALTER's commands and its query-level ``SETTINGS`` clause ('' when none)."""
    mask = _mask(body)
    settings = re.search(r"\bSETTINGS\b", mask, re.IGNORECASE)
    tail = body[settings.start() :].strip() if settings else ""
    commands: list[str] = []
    for piece in _split_top(body, 0, settings.start() if settings else len(body)):
        if _COMMAND_RE.match(piece) or not commands:
            commands.append(piece)
        else:  # `MODIFY SETTING a = 1, b = 2`: the comma continues the command
            commands[-1] += f", {piece}"
    for command in commands:
        if not _COMMAND_RE.match(command):
            raise ClusterDdlError(f"unrecognised ALTER command {command[:60]!r}")
    return commands, tail


def _alter(sql: str, match: re.Match[str], cluster: str) -> list[str]:
    _check_database(match["db"], sql)
    name = match["name"]
    commands, tail = _commands(sql[match.start("body") :])
    suffix = f"\n{tail}" if tail else ""
    statements = [
        f"ALTER TABLE {LOCAL_DATABASE}.{name} {_on(cluster)}\n    "
        + ",\n    ".join(commands)
        + suffix
    ]
    columns = [c for c in commands if _COLUMN_COMMAND_RE.match(c)]
    if columns:
        statements.append(
            f"ALTER TABLE {DATABASE}.{name} {_on(cluster)}\n    " + ",\n    ".join(columns) + suffix
        )
    return statements


def _statement(sql: str, cluster: str) -> Iterator[str]:
    mask = _mask(sql)
    if match := _CREATE_DATABASE_RE.match(mask):
        _check_database(match["db"], sql)
        for db in (DATABASE, LOCAL_DATABASE):
            yield f"CREATE DATABASE IF NOT EXISTS {db} {_on(cluster)}"
    elif match := _CREATE_TABLE_RE.match(mask):
        yield from _create_table(sql, match, cluster)
    elif match := _ALTER_RE.match(mask):
        yield from _alter(sql, match, cluster)
    elif match := _CREATE_VIEW_RE.match(mask):
        _check_database(match["db"], sql)
        at = match.end("name")
        yield f"{sql[:at]} {_on(cluster)}{sql[at:]}"
    elif match := _DROP_RE.match(mask):
        _check_database(match["db"], sql)
        ie, sync = ("IF EXISTS " if match["ie"] else ""), (" SYNC" if match["sync"] else "")
        name, kind = match["name"], match["kind"].upper()
        yield f"DROP {kind} {ie}{DATABASE}.{name} {_on(cluster)}{sync}"
        if kind == "TABLE":
            yield f"DROP TABLE {ie}{LOCAL_DATABASE}.{name} {_on(cluster)}{sync}"
    else:
        raise ClusterDdlError(
            f"no cluster form for {' '.join(sql.split())[:80]!r}; teach "
            "agentaudit/store/cluster_ddl.py how to run it on a cluster"
        )


def cluster_statements(statements: Iterable[str], cluster: str) -> list[str]:
    """The cluster form of single-node ``statements`` (one migration's, in order)."""
    check_cluster_name(cluster)
    return [out for sql in statements for out in _statement(sql, cluster)]


def replicated_everywhere(sql: str, cluster: str) -> str:
    """A single-node ``CREATE TABLE agentaudit.T`` as one table replicated to every node.

    For the migrations ledger: small, read on any node, never sharded. The replica name
    ``{shard}-{replica}`` is unique across the cluster when ``{replica}`` is only unique
    within a shard.
    """
    match = _CREATE_TABLE_RE.match(_mask(sql))
    if match is None:
        raise ClusterDdlError(f"not a CREATE TABLE: {sql[:60]!r}")
    name = match["name"]
    _check_database(match["db"], sql)
    columns = sql[match.start("columns") : match.end("columns")]
    path = _quoted(f"/clickhouse/agentaudit/{cluster}/{name}")
    ine = "IF NOT EXISTS " if match["ine"] else ""
    return (
        f"CREATE TABLE {ine}{DATABASE}.{name} {_on(cluster)}\n{columns}\n"
        f"ENGINE = Replicated{match['engine']}({path}, '{{shard}}-{{replica}}')"
        f"{_clauses(sql[match.start('rest') :])}"
    ).rstrip()


def bootstrap_statements(cluster: str, ledger_ddl: str) -> list[str]:
    """The databases and the ledger, on every node, before any migration."""
    check_cluster_name(cluster)
    return [
        f"CREATE DATABASE IF NOT EXISTS {DATABASE} {_on(cluster)}",
        f"CREATE DATABASE IF NOT EXISTS {LOCAL_DATABASE} {_on(cluster)}",
        replicated_everywhere(ledger_ddl, cluster),
    ]
