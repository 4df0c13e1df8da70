"""store.sql_guard: investigator SQL reads only the audit data, checked on a real engine.

The engine is embedded chdb with the real schema (every file of ``schema/migrations``) and
a few rows. ``run`` executes text the way chdb does for the store, including several
statements in one text, so a quoting mistake would show as a second statement running.
"""

# ruff: noqa: S608 - the tests build SQL on purpose (seed rows, hostile input)

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.dashboards.examples import EXAMPLES
from agentaudit.schema import attributes as A
from agentaudit.store._sql_functions import (
    AGGREGATE_FUNCTIONS,
    CASE_INSENSITIVE,
    PARSER_FUNCTIONS,
    SCALAR_FUNCTIONS,
)
from agentaudit.store.sql_guard import (
    MAX_QUERY_CHARS,
    QueryRefused,
    confine,
    function_allowed,
    quote_string,
)
from tests.store.hostile_sql import HOSTILE

SECRET = "AGENTAUDIT_TOKEN=s3cr3t-do-not-leak"


class Engine:
    """A chdb session on a throwaway store, default database ``agentaudit``."""

    def __init__(self, directory: Path) -> None:
        chdb_session: Any = importlib.import_module("chdb.session")
        self.session: Any = chdb_session.Session(str(directory))
        self.run("SET output_format_json_quote_64bit_integers = 0")

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        out = str(self.session.query(sql, "JSONCompact"))
        if not out.strip():
            return []
        return [tuple(row) for row in json.loads(out)["data"]]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` in a stable order (for comparing two runs)."""
        return sorted(self.run(sql), key=repr)


def _migrate(engine: Engine) -> None:
    """Apply ``schema/migrations/*.sql`` in order: ``;`` ends a statement, ``--`` a comment."""
    folder = resources.files("agentaudit.schema") / "migrations"
    for path in sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=str):
        lines = [line for line in path.read_text().splitlines() if not line.startswith("--")]
        for statement in "\n".join(lines).split(";\n"):
            if statement.strip().rstrip(";").strip():
                engine.run(statement.strip().rstrip(";"))


def _seed(engine: Engine) -> None:
    engine.run(
        """INSERT INTO agentaudit.tool_calls
        (ts, agent_id, user_id, session_id, tool_name, arguments, source_refs, source_kinds,
         source_trust, untrusted_source, resource_ids, approval_status, credential_id,
         credential_scopes, duration_ns, status)
        VALUES
        (now64(9) - INTERVAL 10 MINUTE, 'mail-assistant', 'alice', 's1', 'send_email',
         '{"to": "attacker@evil.example", "subject": "invoice"}',
         ['email:msg-42', 'doc:readme'], ['email', 'doc'], ['untrusted', 'trusted'], 1,
         ['email:outbound/attacker@evil.example'], 'none', 'cred-mail-7f3a', ['mail.send'],
         5000000, 'ok'),
        (now64(9) - INTERVAL 20 MINUTE, 'mail-assistant', 'alice', 's1', 'read_inbox',
         '{"folder": "inbox"}', [], [], [], 0, ['mailbox:alice'], 'none', 'cred-mail-7f3a',
         ['mail.read'], 1000000, 'ok'),
        (now64(9) - INTERVAL 2 HOUR, 'research-bot', 'bob', 's2', 'web_search',
         '{"q": "file(\\'/etc/passwd\\') INTO OUTFILE; SETTINGS"}', ['url:https://x.example'],
         ['web'], ['untrusted'], 1, [], 'approved', 'cred-web-1', ['web'], 9000000, 'ok'),
        (now64(9) - INTERVAL 3 DAY, 'research-bot', 'carol', 's3', 'fetch_url',
         '{"url": "https://x.example/a"}', ['url:https://x.example'], ['web'], ['untrusted'],
         1, ['url:https://x.example/a'], 'none', 'cred-web-1', ['web'], 3000000, 'error')"""
    )
    engine.run(
        """INSERT INTO agentaudit.revocations
        (id, requested_at, updated_at, target, target_id, reason, requested_by, status)
        VALUES ('r1', now64(3), now64(3), 'agent', 'mail-assistant', 'exfiltration', 'soc',
                'done')"""
    )
    engine.run(
        """INSERT INTO agentaudit.quarantine (agent_id, updated_at, state, since, reason)
        VALUES ('mail-assistant', now64(6), 'quarantined', now64(6), 'exfiltration')"""
    )
    engine.run(
        f"""INSERT INTO agentaudit.otel_traces (Timestamp, TraceId, SpanName, SpanAttributes)
        VALUES (now64(9), 't1', 'chat', map('{A.GEN_AI_REQUEST_MODEL}', 'gpt-x',
                '{A.GEN_AI_OPERATION_NAME}', '{A.OPERATION_CHAT}')),
               (now64(9), 't1', 'chat', map('{A.GEN_AI_REQUEST_MODEL}', 'gpt-x',
                '{A.GEN_AI_OPERATION_NAME}', '{A.OPERATION_CHAT}'))"""
    )
    engine.run("CREATE TABLE agentaudit.canary (x String) ENGINE = Memory")
    engine.run("USE agentaudit")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated, seeded engine per module (chdb runs one engine per process)."""
    opened = Engine(tmp_path_factory.mktemp("guard-store"))
    try:
        _migrate(opened)
        _seed(opened)
        yield opened
    finally:
        opened.session.close()


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file the engine can read, standing for /proc/self/environ or the broker key."""
    path = tmp_path_factory.mktemp("host") / "environ"
    path.write_text(SECRET + "\n")
    return path


def _snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    return engine.rows(
        "SELECT database, name, total_rows FROM system.tables "
        "WHERE database IN ('agentaudit', 'default')"
    )


# -- hostile queries ---------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "fragment"), HOSTILE, ids=[sql[:60] for sql, _ in HOSTILE])
def test_hostile_query_is_refused_naming_what_is_not_allowed(
    engine: Engine, sql: str, fragment: str
) -> None:
    with pytest.raises(QueryRefused) as refused:
        confine(sql, engine.run)
    message = str(refused.value)
    assert message.startswith("refused: ")
    assert fragment in message
    assert "\n" not in message


def test_refusing_the_hostile_corpus_changes_nothing(engine: Engine) -> None:
    before = _snapshot(engine)
    for sql, _ in HOSTILE:
        with pytest.raises(QueryRefused):
            confine(sql, engine.run)
    assert _snapshot(engine) == before


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("SELECT file({path})", "function 'file'"),
        ("SELECT arrayMap(file, [{path}])", "function 'file'"),
        ("SELECT arrayMap(x -> file(x), [{path}])", "function 'file'"),
        ("SELECT * APPLY file FROM (SELECT {path} AS p)", "APPLY"),
    ],
)
def test_engine_reads_host_files_that_the_guard_refuses(
    engine: Engine, secret_file: Path, template: str, fragment: str
) -> None:
    sql = template.format(path=quote_string(str(secret_file)))
    assert SECRET in json.dumps(engine.run(sql))  # the hole is real on the bare engine
    with pytest.raises(QueryRefused, match=fragment) as refused:
        confine(sql, engine.run)
    assert SECRET not in str(refused.value)


def test_inline_window_that_leaks_a_file_through_an_error_is_refused(
    engine: Engine, secret_file: Path
) -> None:
    # EXPLAIN in a subquery drops inline window definitions; the plain EXPLAIN AST has them.
    sql = f"SELECT sum(1) OVER (PARTITION BY toUInt8(file({quote_string(str(secret_file))})))"
    with pytest.raises(Exception, match="s3cr3t"):
        engine.run(sql)
    with pytest.raises(QueryRefused, match="function 'file'") as refused:
        confine(sql, engine.run)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("tail", ["TRUNCATE", "APPEND", "AND STDOUT", "COMPRESSION 'gzip'"])
def test_into_outfile_is_refused_and_writes_nothing(
    engine: Engine, tmp_path: Path, tail: str
) -> None:
    target = tmp_path / "exfil.txt"
    sql = f"SELECT agent_id FROM tool_calls INTO OUTFILE {quote_string(str(target))} {tail}"
    with pytest.raises(QueryRefused, match="INTO OUTFILE"):
        confine(sql, engine.run)
    assert not target.exists()


def test_into_outfile_would_write_on_the_bare_engine(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "exfil.txt"
    engine.run(f"SELECT 'x' INTO OUTFILE {quote_string(str(target))} TRUNCATE")
    assert target.exists()


def test_watch_is_read_as_a_harmless_select(engine: Engine) -> None:
    # ClickHouse's implicit SELECT turns `WATCH t` into `SELECT WATCH AS t`: it passes the
    # guard, and what runs is that SELECT (an unknown identifier), not a WATCH.
    confined = confine("WATCH tool_calls", engine.run)
    assert confined.sql == "SELECT WATCH AS tool_calls"
    with pytest.raises(Exception, match="WATCH"):
        engine.run(confined.sql)


def test_input_is_refused_before_it_reaches_the_engine() -> None:
    def no_engine(sql: str) -> list[tuple[Any, ...]]:
        raise AssertionError(f"the engine was asked: {sql[:80]}")

    for sql, fragment in [
        ("", "empty"),
        ("   \n", "empty"),
        ("SELECT 1" + " " * MAX_QUERY_CHARS, "100,000"),
        ("SELECT 1\x00", "NUL"),
        ("SELECT '\ud800'", "Unicode"),
    ]:
        with pytest.raises(QueryRefused, match=fragment):
            confine(sql, no_engine)


def test_query_just_under_the_length_limit_passes(engine: Engine) -> None:
    head = "SELECT count() FROM tool_calls WHERE arguments != '"
    sql = head + "x" * (MAX_QUERY_CHARS - len(head) - 1) + "'"
    assert len(sql) == MAX_QUERY_CHARS
    confined = confine(sql, engine.run)
    assert engine.run(confined.sql) == [(4,)]


def test_engine_failures_that_are_not_about_the_query_propagate() -> None:
    def down(sql: str) -> list[tuple[Any, ...]]:
        raise ConnectionError("connection refused")

    with pytest.raises(ConnectionError):
        confine("SELECT 1", down)


def test_alias_named_like_a_function_is_only_a_value(engine: Engine, secret_file: Path) -> None:
    path = quote_string(str(secret_file))
    confined = confine(f"SELECT p AS file FROM (SELECT {path} AS p)", engine.run)
    assert engine.run(confined.sql) == [(str(secret_file),)]


# -- legitimate queries ------------------------------------------------------------------

LEGITIMATE: list[tuple[str, set[str]]] = [
    ("SELECT 1", set()),
    ("SELECT count() FROM tool_calls", {"tool_calls"}),
    ("SELECT count() FROM agentaudit.tool_calls -- ; DROP TABLE tool_calls", {"tool_calls"}),
    ("SELECT count() /* ; SELECT file('/etc/passwd') */ FROM tool_calls;", {"tool_calls"}),
    (
        "WITH recent AS (SELECT agent_id, ts FROM tool_calls WHERE ts >= now() - INTERVAL 1 DAY) "
        "SELECT agent_id, count() AS calls FROM recent GROUP BY agent_id ORDER BY agent_id",
        {"tool_calls"},
    ),
    (
        "SELECT agent_id, tool_name, row_number() OVER (PARTITION BY agent_id ORDER BY ts) AS n, "
        "lag(tool_name) OVER (PARTITION BY agent_id ORDER BY ts) AS previous "
        "FROM tool_calls ORDER BY agent_id, n",
        {"tool_calls"},
    ),
    (
        "SELECT agent_id, sum(duration_ns) OVER w AS running FROM tool_calls "
        "WINDOW w AS (PARTITION BY agent_id ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING "
        "AND CURRENT ROW) ORDER BY agent_id, running",
        {"tool_calls"},
    ),
    (
        "SELECT c.agent_id, c.tool_name, r.reason, q.state FROM tool_calls AS c "
        "INNER JOIN revocations AS r ON c.agent_id = r.target_id "
        "LEFT JOIN agentaudit.quarantine AS q ON q.agent_id = c.agent_id ORDER BY c.ts",
        {"tool_calls", "revocations", "quarantine"},
    ),
    (
        "SELECT arrayJoin(resource_ids) AS resource, count() FROM tool_calls "
        "GROUP BY resource ORDER BY resource",
        {"tool_calls"},
    ),
    (
        "SELECT arrayFilter(x -> x LIKE 'email:%', source_refs), "
        "arrayMap((r, t) -> concat(r, '/', t), source_refs, source_trust) FROM tool_calls "
        "ORDER BY ts",
        {"tool_calls"},
    ),
    (
        "SELECT agent_id, countIf(untrusted_source = 1) AS untrusted, "
        "quantile(0.99)(duration_ns) AS p99, uniqExact(user_id) AS users, "
        "topK(2)(tool_name) AS tools, sumIf(duration_ns, status = 'ok') AS ok_ns "
        "FROM tool_calls GROUP BY agent_id ORDER BY agent_id",
        {"tool_calls"},
    ),
    (
        "SELECT toStartOfHour(ts) AS hour, count() FROM tool_calls GROUP BY hour ORDER BY hour",
        {"tool_calls"},
    ),
    (
        "SELECT JSONExtractString(arguments, 'to') AS recipient FROM tool_calls "
        "WHERE has(source_trust, 'untrusted') AND recipient != ''",
        {"tool_calls"},
    ),
    (
        "SELECT tool_name FROM tool_calls WHERE tool_name LIKE 'send%' OR user_id ILIKE 'BOB' "
        "OR match(arguments, '\"folder\"\\\\s*:') ORDER BY tool_name",
        {"tool_calls"},
    ),
    (
        "SELECT tool_name FROM tool_calls WHERE agent_id IN (SELECT target_id FROM revocations) "
        "AND approval_status IN ('none', 'rejected') ORDER BY tool_name",
        {"tool_calls", "revocations"},
    ),
    (
        "WITH q AS (SELECT agent_id FROM quarantine) "
        "SELECT count() FROM tool_calls WHERE agent_id IN q",
        {"tool_calls", "quarantine"},
    ),
    (
        "SELECT agent_id, tool_name FROM tool_calls ORDER BY ts DESC LIMIT 1 BY agent_id",
        {"tool_calls"},
    ),
    (
        "SELECT toStartOfDay(ts) AS day, count() AS calls FROM tool_calls GROUP BY day "
        "ORDER BY day WITH FILL STEP toIntervalDay(1)",
        {"tool_calls"},
    ),
    (
        "SELECT 'file(''/etc/passwd'') url( INTO OUTFILE ''/tmp/x'' SETTINGS readonly=0; "
        "SELECT 2' AS text, '; DROP TABLE tool_calls --' AS other",
        set(),
    ),
    (
        "SELECT count() FROM tool_calls WHERE arguments LIKE '%INTO OUTFILE; SETTINGS%'",
        {"tool_calls"},
    ),
    ("SELECT * EXCEPT (arguments, attributes) FROM tool_calls ORDER BY ts", {"tool_calls"}),
    ("SELECT COLUMNS('^source_') FROM tool_calls ORDER BY ts", {"tool_calls"}),
    (
        "SELECT agent_id FROM tool_calls INTERSECT SELECT target_id FROM revocations",
        {"tool_calls", "revocations"},
    ),
    (
        "SELECT DISTINCT agent_id FROM tool_calls EXCEPT SELECT agent_id FROM quarantine",
        {"tool_calls", "quarantine"},
    ),
    (
        "SELECT agent_id, multiIf(count() > 1, 'busy', 'quiet'), "
        "CASE WHEN max(untrusted_source) = 1 THEN 'exposed' ELSE 'clean' END "
        "FROM tool_calls GROUP BY agent_id ORDER BY agent_id",
        {"tool_calls"},
    ),
    (
        "SELECT agent_id FROM tool_calls GROUP BY agent_id "
        "HAVING count() > 1 QUALIFY row_number() OVER (ORDER BY agent_id) = 1",
        {"tool_calls"},
    ),
    (
        "SELECT lower(SpanAttributes['gen_ai.request.model']) AS model FROM otel_traces "
        "WHERE SpanName = 'chat'",
        {"otel_traces"},
    ),
    (
        "SELECT domain(JSONExtractString(arguments, 'url')), SHA256(arguments) != '', "
        "hex(cityHash64(arguments)), base64Encode(user_id), toUUIDOrNull(session_id) "
        "FROM tool_calls ORDER BY ts",
        {"tool_calls"},
    ),
    (
        "SELECT (SELECT count() FROM revocations) AS revoked, "
        "EXISTS (SELECT 1 FROM quarantine WHERE state = 'quarantined') AS any_quarantined",
        {"revocations", "quarantine"},
    ),
    ("SELECT " + "(" * 150 + "1" + ")" * 150, set()),
    (
        "SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM "
        "(SELECT agent_id FROM tool_calls))))) ORDER BY agent_id",
        {"tool_calls"},
    ),
    ("SELECT agent_id, ts FROM tool_calls ORDER BY ts LIMIT 2 OFFSET 1", {"tool_calls"}),
    ("SELECT reason FROM revocations FINAL", {"revocations"}),
]


@pytest.mark.parametrize(("sql", "tables"), LEGITIMATE, ids=[s[:60] for s, _ in LEGITIMATE])
def test_investigator_query_passes_and_returns_the_same_rows(
    engine: Engine, sql: str, tables: set[str]
) -> None:
    confined = confine(sql, engine.run)
    assert confined.tables == tables
    assert "\n" not in confined.sql
    assert engine.rows(confined.sql) == engine.rows(sql)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_saved_forensic_query_passes(engine: Engine, name: str) -> None:
    sql = EXAMPLES[name]
    confined = confine(sql, engine.run)
    assert confined.tables <= {"tool_calls", "otel_traces", "revocations"}
    assert confined.tables
    assert engine.rows(confined.sql) == engine.rows(sql)


def test_saved_queries_find_the_seeded_incident(engine: Engine) -> None:
    who = confine(EXAMPLES["Who touched a resource"], engine.run)
    assert [row[1:3] for row in engine.run(who.sql)] == [("mail-assistant", "alice")]
    models = confine(EXAMPLES["Model calls (chat spans) per model"], engine.run)
    assert engine.run(models.sql) == [("gpt-x", 2)]


def test_aggregates_return_the_right_numbers(engine: Engine) -> None:
    confined = confine(
        "SELECT agent_id, countIf(untrusted_source = 1), count(), uniqExact(user_id) "
        "FROM tool_calls GROUP BY agent_id ORDER BY agent_id",
        engine.run,
    )
    assert engine.run(confined.sql) == [("mail-assistant", 1, 2, 1), ("research-bot", 2, 2, 2)]


def test_literals_that_look_like_attacks_come_back_unchanged(engine: Engine) -> None:
    text = "x'); SELECT file('/etc/passwd') INTO OUTFILE '/tmp/x' SETTINGS readonly = 0; --"
    confined = confine(f"SELECT {quote_string(text)}", engine.run)
    assert engine.run(confined.sql) == [(text,)]


# -- tables and WITH subqueries ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("WITH tool_calls AS (SELECT 1 AS x) SELECT x FROM tool_calls", set()),
        (
            "WITH tool_calls AS (SELECT 1 AS x) SELECT count() FROM agentaudit.tool_calls",
            {"tool_calls"},
        ),
        ("WITH 1 AS tool_calls SELECT count() FROM tool_calls", {"tool_calls"}),
        ("WITH users AS (SELECT 'x' AS name) SELECT name FROM users", set()),
        (
            "SELECT (WITH revocations AS (SELECT 1) SELECT count() FROM revocations), "
            "count() FROM revocations",
            {"revocations"},
        ),
        (
            "WITH c AS (SELECT agent_id FROM tool_calls) SELECT * FROM c UNION ALL SELECT * FROM c",
            {"tool_calls"},
        ),
        (
            "WITH c AS (SELECT agent_id FROM tool_calls) SELECT * FROM c UNION ALL "
            "(WITH d AS (SELECT target_id FROM revocations) SELECT * FROM d)",
            {"tool_calls", "revocations"},
        ),
        (
            "WITH a AS (SELECT agent_id FROM quarantine), b AS (SELECT * FROM a) "
            "SELECT * FROM b WHERE agent_id IN (SELECT agent_id FROM a)",
            {"quarantine"},
        ),
        (
            "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
            "SELECT * FROM r",
            set(),
        ),
    ],
)  # fmt: skip
def test_tables_are_the_audit_tables_read_not_with_subqueries(
    engine: Engine, sql: str, tables: set[str]
) -> None:
    confined = confine(sql, engine.run)
    assert confined.tables == tables
    assert engine.rows(confined.sql) == engine.rows(sql)


def test_every_column_of_the_schema_can_be_used_as_an_argument(engine: Engine) -> None:
    columns: dict[str, list[str]] = {}
    for table, column in engine.run(
        "SELECT table, name FROM system.columns WHERE database = 'agentaudit' "
        "AND table NOT IN ('canary', 'schema_migrations') ORDER BY table, position"
    ):
        columns.setdefault(table, []).append(column)
    assert {"tool_calls", "otel_traces", "revocations"} <= set(columns)
    for table, names in columns.items():
        listed = ", ".join(f"count({name})" for name in names if "." not in name)
        confined = confine(f"SELECT {listed} FROM {table}", engine.run)
        assert confined.tables == {table}
        engine.run(confined.sql)


# -- the function allowlist --------------------------------------------------------------


def test_every_allowed_function_exists_in_the_engine(engine: Engine) -> None:
    engine_names = {name for (name,) in engine.run("SELECT name FROM system.functions")}
    allowed = SCALAR_FUNCTIONS | AGGREGATE_FUNCTIONS
    assert not SCALAR_FUNCTIONS & AGGREGATE_FUNCTIONS
    assert allowed - PARSER_FUNCTIONS - engine_names == set()
    assert PARSER_FUNCTIONS & engine_names == set()
    assert 300 <= len(allowed) <= 1300


def test_no_function_left_off_the_list_passes_the_guard(engine: Engine) -> None:
    allowed = SCALAR_FUNCTIONS | AGGREGATE_FUNCTIONS
    left_out = [
        name for (name,) in engine.run("SELECT name FROM system.functions") if name not in allowed
    ]
    assert len(left_out) > 500
    assert [name for name in left_out if function_allowed(name)] == []


def test_case_insensitive_names_are_case_insensitive_in_the_engine(engine: Engine) -> None:
    insensitive = {
        name.lower()
        for (name,) in engine.run("SELECT name FROM system.functions WHERE case_insensitive")
    }
    assert CASE_INSENSITIVE - insensitive == set()


@pytest.mark.parametrize(
    "name",
    ["countIf", "COUNTIf", "sumArrayIf", "uniqExactIf", "countDistinct", "avgOrNull",
     "sumForEach", "sumMap", "quantileIf", "quantilesTDigestIf", "argMaxIf", "maxArgMin",
     "groupArrayDistinct", "sumResample", "COUNT", "Sum", "lambda", "tuple"],
)  # fmt: skip
def test_allowed_function_spellings(name: str) -> None:
    assert function_allowed(name)


@pytest.mark.parametrize(
    "name",
    ["file", "FILE", "uniqState", "sumMerge", "uniqMergeState", "sumSimpleState", "fileIf",
     "sleepIf", "lowerIf", "flameGraphIf", "ArgMax", "OrNull", "dictGetOrNull", "arrayReduce",
     "fil\u0435", "lower(", ""],
)  # fmt: skip
def test_refused_function_spellings(name: str) -> None:
    assert not function_allowed(name)


# -- quoting -----------------------------------------------------------------------------

_PAYLOADS = [
    "'",
    "\\",
    "\\'",
    "''",
    "'; INSERT INTO agentaudit.canary VALUES ('x'); SELECT '",
    "\\'; INSERT INTO agentaudit.canary VALUES ('x'); --",
    "\x00",
    "\n",
    "\r\n",
    "`",
    '"',
    "$$",
    "{p:String}",
    "/*",
    "--",
    ";",
]


@settings(max_examples=150, deadline=None)
@given(text=st.lists(st.one_of(st.text(), st.sampled_from(_PAYLOADS)), max_size=6).map("".join))
def test_quoted_text_round_trips_through_canonical_form_as_one_statement(
    engine: Engine, text: str
) -> None:
    literal = quote_string(text)
    assert "\x00" not in literal
    assert "\n" not in literal
    assert engine.run(f"SELECT {literal}") == [(text,)]
    confined = confine(f"SELECT {literal} AS v", engine.run)
    assert confined.tables == frozenset()
    assert engine.run(confined.sql) == [(text,)]
    assert engine.run("SELECT count() FROM agentaudit.canary") == [(0,)]
