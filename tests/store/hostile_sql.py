"""Investigator SQL that must be refused, with the words the refusal must contain (data only).

Each entry is ``(query, fragment)``: :func:`agentaudit.store.sql_guard.confine` must raise
``QueryRefused`` whose message contains ``fragment``, so the investigator learns what is not
allowed. ``/etc/passwd`` stands for any host file (``/proc/self/environ``, the broker key).
"""

# ruff: noqa: E501, S608 - hostile SQL built from parts is the point; one query per line

from __future__ import annotations

from typing import Final

__all__ = ["HOSTILE"]

_PASSWD = "'/etc/passwd'"
_FILE = "function 'file'"
_OUTFILE = "INTO OUTFILE and FORMAT"
_SETTINGS = "SETTINGS is not allowed"
_ONE_STATEMENT = "single statement"
_PARAMETERS = "query parameters"
_APPLY = "APPLY"


def _table_function(name: str) -> str:
    return f"table function '{name}'"


def _statement(keyword: str) -> str:
    return f"{keyword} statements are not allowed"


def _table(name: str) -> str:
    return f"table '{name}'"


def _function(name: str) -> str:
    return f"function '{name}'"


HOSTILE: Final[list[tuple[str, str]]] = [
    # file(): reads any file the server can read, wherever it appears in the query
    ("SELECT file('/proc/self/environ')", _FILE),
    ("file('/proc/self/environ')", _FILE),  # implicit SELECT
    (f"SELECT FILE({_PASSWD})", _function("FILE")),
    (f"SELECT File({_PASSWD})", _function("File")),
    (f"SELECT `file`({_PASSWD})", _FILE),
    (f'SELECT "file"({_PASSWD})', _FILE),
    (f"SELECT `fil\\x65`({_PASSWD})", _FILE),
    (f"SELECT fi/**/le({_PASSWD})", "not valid ClickHouse SQL"),
    (f"SELECT fi\nle({_PASSWD})", "not valid ClickHouse SQL"),
    (f"SELECT * FROM (SELECT file({_PASSWD}) AS f)", _FILE),
    (f"WITH f AS (SELECT file({_PASSWD})) SELECT * FROM f", _FILE),
    (f"WITH file({_PASSWD}) AS f SELECT f", _FILE),
    (f"SELECT count() FROM tool_calls WHERE agent_id = file({_PASSWD})", _FILE),
    (
        f"SELECT * FROM tool_calls AS t INNER JOIN revocations AS r ON t.agent_id = file({_PASSWD})",
        _FILE,
    ),
    (
        f"SELECT agent_id FROM tool_calls GROUP BY agent_id HAVING max(user_id) = file({_PASSWD})",
        _FILE,
    ),
    (f"SELECT agent_id FROM tool_calls ORDER BY file({_PASSWD})", _FILE),
    (f"SELECT arrayMap(x -> file(x), [{_PASSWD}])", _FILE),
    (f"SELECT arrayMap(x -> x, [file({_PASSWD})])", _FILE),
    (f"SELECT ifNull(NULL, file({_PASSWD}))", _FILE),
    (f"SELECT coalesce(NULL, lower(file({_PASSWD})))", _FILE),
    (f"SELECT (SELECT file({_PASSWD}))", _FILE),
    (f"SELECT 1 WHERE EXISTS (SELECT file({_PASSWD}))", _FILE),
    (f"SELECT 1 WHERE 'x' IN (SELECT file({_PASSWD}))", _FILE),
    (f"SELECT * FROM tool_calls LIMIT length(file({_PASSWD}))", _FILE),
    (f"SELECT * FROM tool_calls LIMIT 1 BY file({_PASSWD})", _FILE),
    (f"SELECT * FROM tool_calls QUALIFY file({_PASSWD}) = ''", _FILE),
    ("SELECT * FROM tool_calls ARRAY JOIN arrayMap(x -> file(x), source_refs) AS f", _FILE),
    (f"SELECT * REPLACE (file({_PASSWD}) AS p) FROM (SELECT 1 AS p)", _FILE),
    (
        f"SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT file({_PASSWD}))))))",
        _FILE,
    ),
    (f"SELECT agent_id FROM tool_calls UNION ALL SELECT file({_PASSWD})", _FILE),
    (f"SELECT 'a' INTERSECT SELECT file({_PASSWD})", _FILE),
    (f"SELECT 'a' EXCEPT SELECT file({_PASSWD})", _FILE),
    # Window definitions written inline: EXPLAIN in a subquery does not show them
    (f"SELECT sum(1) OVER (PARTITION BY file({_PASSWD}))", _FILE),
    (f"SELECT row_number() OVER (ORDER BY file({_PASSWD}))", _FILE),
    (f"SELECT sum(1) OVER (ROWS BETWEEN length(file({_PASSWD})) PRECEDING AND CURRENT ROW)", _FILE),
    (f"SELECT 1 WINDOW w AS (PARTITION BY file({_PASSWD}))", _FILE),
    (f"SELECT 1 AS x ORDER BY x WITH FILL TO length(file({_PASSWD}))", _FILE),
    (f"SELECT 1 AS x ORDER BY x WITH FILL INTERPOLATE (y AS length(file({_PASSWD})))", _FILE),
    # A function passed by name (ClickHouse calls it), and APPLY (its function is not shown)
    (f"SELECT arrayMap(file, [{_PASSWD}])", _FILE),
    (f"SELECT arrayMap(`file`, [{_PASSWD}])", _FILE),
    (f"SELECT arrayMap((file), [{_PASSWD}])", _FILE),
    (f"SELECT mapApply(file, map({_PASSWD}, 'x'))", _FILE),
    (f"SELECT p AS file, arrayMap(file, [p]) FROM (SELECT {_PASSWD} AS p)", _FILE),
    (f"SELECT * APPLY file FROM (SELECT {_PASSWD} AS p)", _APPLY),
    (f"SELECT COLUMNS('p') APPLY(x -> file(x)) FROM (SELECT {_PASSWD} AS p)", _APPLY),
    (f"WITH x -> file(x) AS f SELECT f({_PASSWD})", _FILE),
    # Table functions
    (f"SELECT * FROM file({_PASSWD}, 'LineAsString')", _table_function("file")),
    (f"SELECT * FROM `file`({_PASSWD}, 'LineAsString')", _table_function("file")),
    (
        "SELECT * FROM url('http://169.254.169.254/latest/meta-data/', 'LineAsString')",
        _table_function("url"),
    ),
    ("SELECT * FROM s3('https://bucket.s3.amazonaws.com/x.csv')", _table_function("s3")),
    ("SELECT * FROM remote('127.0.0.1', system.users)", _table_function("remote")),
    ("SELECT * FROM remoteSecure('127.0.0.1', system.users)", _table_function("remoteSecure")),
    ("SELECT * FROM cluster('default', system.users)", _table_function("cluster")),
    ("SELECT * FROM mysql('db:3306', 'db', 't', 'user', 'password')", _table_function("mysql")),
    (
        "SELECT * FROM postgresql('db:5432', 'db', 't', 'user', 'password')",
        _table_function("postgresql"),
    ),
    ("SELECT * FROM sqlite('/var/lib/app.db', 't')", _table_function("sqlite")),
    (
        "SELECT * FROM mongodb('db:27017', 'db', 'c', 'user', 'password', 'x String')",
        _table_function("mongodb"),
    ),
    ("SELECT * FROM redis('db:6379', 'k', 'k String, v String')", _table_function("redis")),
    ("SELECT * FROM hdfs('hdfs://nn/x', 'CSV')", _table_function("hdfs")),
    (
        "SELECT * FROM executable('cat /etc/passwd', 'LineAsString', 'x String')",
        _table_function("executable"),
    ),
    ("SELECT * FROM input('x String')", _table_function("input")),
    ("SELECT * FROM view(SELECT 1)", _table_function("view")),
    (
        "SELECT * FROM viewIfPermitted(SELECT 1 ELSE null('x String'))",
        _table_function("viewIfPermitted"),
    ),
    ("SELECT * FROM merge('system', '.*')", _table_function("merge")),
    ("SELECT * FROM numbers(10)", _table_function("numbers")),
    ("SELECT * FROM generateRandom('a String')", _table_function("generateRandom")),
    ("SELECT * FROM Python(df)", _table_function("Python")),
    ("SELECT * FROM python(df)", _table_function("python")),
    ("SELECT * FROM format(JSONEachRow, '{\"a\": 1}')", _table_function("format")),
    ("SELECT * FROM values('a UInt8', 1)", _table_function("values")),
    ("SELECT * FROM dictionary('d')", _table_function("dictionary")),
    ("SELECT * FROM null('x String')", _table_function("null")),
    ("SELECT * FROM loop(numbers(1))", _table_function("loop")),
    ("SELECT * FROM mergeTreeIndex('agentaudit', 'tool_calls')", _table_function("mergeTreeIndex")),
    ("SELECT * FROM icebergS3('https://bucket/t')", _table_function("icebergS3")),
    ("SELECT * FROM deltaLake('https://bucket/t')", _table_function("deltaLake")),
    ("SELECT * FROM azureBlobStorage('conn', 'c', 'x.csv')", _table_function("azureBlobStorage")),
    ("SELECT * FROM fuzzJSON('{}')", _table_function("fuzzJSON")),
    (f"SELECT * FROM (EXPLAIN SYNTAX SELECT file({_PASSWD}))", _table_function("viewExplain")),
    (
        "SELECT * FROM tool_calls AS t INNER JOIN url('http://x/', CSV) AS u ON 1",
        _table_function("url"),
    ),
    ("SELECT * FROM (SELECT * FROM numbers(3))", _table_function("numbers")),
    ("SELECT 1 WHERE 1 IN (SELECT number FROM numbers(3))", _table_function("numbers")),
    ("VALUES (1)", _function("VALUES")),
    # INTO OUTFILE (chdb writes it client-side) and FORMAT
    ("SELECT 'x' INTO OUTFILE '/tmp/agentaudit-guard' TRUNCATE", _OUTFILE),
    ("SELECT 'x' INTO OUTFILE '/tmp/agentaudit-guard' APPEND", _OUTFILE),
    ("SELECT 'x' INTO OUTFILE '/tmp/agentaudit-guard' COMPRESSION 'gzip'", _OUTFILE),
    ("SELECT 'x' INTO OUTFILE '/tmp/agentaudit-guard' COMPRESSION 'gzip' LEVEL 3", _OUTFILE),
    ("SELECT 'x' INTO OUTFILE '/tmp/agentaudit-guard' AND STDOUT", _OUTFILE),
    ("select 'x' into outfile '/tmp/agentaudit-guard' truncate", _OUTFILE),
    ("SELECT 1 UNION ALL SELECT 2 INTO OUTFILE '/tmp/agentaudit-guard'", _OUTFILE),
    ("(SELECT 1) INTO OUTFILE '/tmp/agentaudit-guard'", _OUTFILE),
    (
        "WITH a AS (SELECT 1) SELECT * FROM a INTO OUTFILE '/tmp/agentaudit-guard' FORMAT CSV",
        _OUTFILE,
    ),
    ("SELECT 1 FORMAT JSON", _OUTFILE),
    ("select 1 format Null", _OUTFILE),
    ("SELECT 1 SETTINGS max_threads = 1 FORMAT JSON", _OUTFILE),
    ("SELECT 1 FORMAT JSON SETTINGS max_threads = 1", _OUTFILE),
    # SETTINGS, anywhere
    ("SELECT 1 SETTINGS readonly = 0", _SETTINGS),
    ("SELECT 1 SETTINGS max_execution_time = 0", _SETTINGS),
    ("SELECT * FROM (SELECT 1 SETTINGS readonly = 0)", _SETTINGS),
    ("SELECT 1 UNION ALL SELECT 2 SETTINGS max_result_rows = 0", _SETTINGS),
    ("SELECT 1 WHERE 1 IN (SELECT 1 SETTINGS allow_introspection_functions = 1)", _SETTINGS),
    ("WITH a AS (SELECT 1 SETTINGS max_threads = 1) SELECT * FROM a", _SETTINGS),
    # More than one statement
    (f"SELECT 1; SELECT file({_PASSWD})", _ONE_STATEMENT),
    ("SELECT 1; DROP TABLE tool_calls", _ONE_STATEMENT),
    ("SELECT ';'; SELECT 2", _ONE_STATEMENT),
    ("SELECT 1 /* ; */; SELECT 2", _ONE_STATEMENT),
    ("SELECT 1;\nINSERT INTO tool_calls (agent_id) VALUES ('x')", _ONE_STATEMENT),
    # Statements other than SELECT
    ("INSERT INTO tool_calls (agent_id) VALUES ('x')", _statement("INSERT")),
    ("INSERT INTO tool_calls (agent_id) SELECT 'x'", _statement("INSERT")),
    ("ALTER TABLE tool_calls DELETE WHERE 1", _statement("ALTER")),
    ("ALTER TABLE tool_calls UPDATE user_id = '' WHERE 1", _statement("ALTER")),
    ("DELETE FROM tool_calls WHERE 1", _statement("DELETE")),
    ("UPDATE tool_calls SET user_id = '' WHERE 1", _statement("UPDATE")),
    ("DROP TABLE tool_calls", _statement("DROP")),
    ("DROP DATABASE agentaudit", _statement("DROP")),
    ("TRUNCATE TABLE tool_calls", _statement("TRUNCATE")),
    ("CREATE TABLE x (a Int8) ENGINE = Memory", _statement("CREATE")),
    (
        f"CREATE DICTIONARY d (a UInt64) PRIMARY KEY a SOURCE(FILE(path {_PASSWD} format 'CSV')) LAYOUT(FLAT()) LIFETIME(0)",
        _statement("CREATE"),
    ),
    ("CREATE FUNCTION f AS x -> file(x)", _statement("CREATE")),
    (f"CREATE VIEW v AS SELECT file({_PASSWD})", _statement("CREATE")),
    ("CREATE USER u IDENTIFIED BY 'p'", _statement("CREATE")),
    ("SYSTEM FLUSH LOGS", _statement("SYSTEM")),
    ("SYSTEM SHUTDOWN", _statement("SYSTEM")),
    ("KILL QUERY WHERE 1", _statement("KILL")),
    ("SET readonly = 0", _statement("SET")),
    ("USE system", _statement("USE")),
    ("ATTACH TABLE x", _statement("ATTACH")),
    ("DETACH TABLE tool_calls", _statement("DETACH")),
    ("OPTIMIZE TABLE tool_calls FINAL", _statement("OPTIMIZE")),
    ("GRANT ALL ON *.* TO default", _statement("GRANT")),
    ("REVOKE ALL ON *.* FROM default", _statement("REVOKE")),
    ("BACKUP TABLE tool_calls TO File('/tmp/b')", _statement("BACKUP")),
    ("RESTORE TABLE tool_calls FROM File('/tmp/b')", _statement("RESTORE")),
    ("EXPLAIN SELECT 1", _statement("EXPLAIN")),
    (f"EXPLAIN AST SELECT file({_PASSWD})", _statement("EXPLAIN")),
    ("DESCRIBE TABLE tool_calls", _statement("DESCRIBE")),
    (f"DESCRIBE file({_PASSWD})", _statement("DESCRIBE")),
    ("SHOW TABLES", _statement("SHOW")),
    ("SHOW CREATE TABLE tool_calls", _statement("SHOW")),
    ("SHOW GRANTS", _statement("SHOW")),
    ("EXISTS TABLE tool_calls", _statement("EXISTS")),
    ("CHECK TABLE tool_calls", _statement("CHECK")),
    ("RENAME TABLE tool_calls TO x", _statement("RENAME")),
    ("EXCHANGE TABLES tool_calls AND revocations", _statement("EXCHANGE")),
    ("UNDROP TABLE tool_calls", _statement("UNDROP")),
    ("BEGIN TRANSACTION", _statement("BEGIN")),
    ("SELECT 1 PARALLEL WITH SELECT 2", _statement("SELECT")),
    # Other databases, including through IN with a table name
    ("SELECT * FROM system.users", _table("system.users")),
    ("SELECT * FROM system.processes", _table("system.processes")),
    ("SELECT * FROM system.settings", _table("system.settings")),
    ("SELECT * FROM system.one", _table("system.one")),
    ("SELECT * FROM default.x", _table("default.x")),
    ("SELECT * FROM information_schema.tables", _table("information_schema.tables")),
    ("SELECT * FROM INFORMATION_SCHEMA.TABLES", _table("INFORMATION_SCHEMA.TABLES")),
    ("SELECT * FROM `system`.`tables`", _table("system.tables")),
    ("SELECT * FROM _temporary_and_external_tables.x", _table("_temporary_and_external_tables.x")),
    ("SELECT * FROM AgentAudit.tool_calls", _table("AgentAudit.tool_calls")),
    ("SELECT * FROM tool_calls AS t INNER JOIN system.users AS u ON 1", _table("system.users")),
    ("SELECT (SELECT count() FROM system.processes)", _table("system.processes")),
    ("SELECT 1 WHERE 1 IN (SELECT 1 FROM system.tables)", _table("system.tables")),
    ("SELECT 1 WHERE EXISTS (SELECT * FROM system.users)", _table("system.users")),
    ("SELECT 'a' IN system.tables", _table("system.tables")),
    ("SELECT 'a' NOT IN default.t", _table("default.t")),
    ("SELECT 'a' GLOBAL IN system.databases", _table("system.databases")),
    ("SELECT 'a' GLOBAL NOT IN system.databases", _table("system.databases")),
    ("SELECT in('a', system.tables)", _table("system.tables")),
    ("SELECT agent_id FROM tool_calls WHERE agent_id IN t.resource_ids", _table("t.resource_ids")),
    ("SELECT 1 UNION ALL SELECT count() FROM system.users", _table("system.users")),
    ("WITH users AS (SELECT 'x' AS name) SELECT name FROM system.users", _table("system.users")),
    ("WITH tables AS (SELECT 1 AS x) SELECT * FROM system.tables", _table("system.tables")),
    ("SELECT * FROM ѕystem.users", "not valid ClickHouse SQL"),  # Cyrillic 'ѕ'
    # Functions that read outside the audit data, reveal the server, or stall it
    ("SELECT dictGet('agentaudit.d', 'a', 1)", _function("dictGet")),
    ("SELECT dictHas('agentaudit.d', 1)", _function("dictHas")),
    ("SELECT joinGet('agentaudit.j', 'v', 1)", _function("joinGet")),
    ("SELECT catboostEvaluate('/models/m.bin', 1)", _function("catboostEvaluate")),
    ("SELECT naiveBayesClassifier('m', 'text')", _function("naiveBayesClassifier")),
    ("SELECT evalMLMethod(1, 2)", _function("evalMLMethod")),
    ("SELECT getSetting('readonly')", _function("getSetting")),
    ("SELECT getServerSetting('listen_host')", _function("getServerSetting")),
    ("SELECT getMergeTreeSetting('index_granularity')", _function("getMergeTreeSetting")),
    ("SELECT getMacro('shard')", _function("getMacro")),
    ("SELECT hostName()", _function("hostName")),
    ("SELECT FQDN()", _function("FQDN")),
    ("SELECT version()", _function("version")),
    ("SELECT uptime()", _function("uptime")),
    ("SELECT tcpPort()", _function("tcpPort")),
    ("SELECT buildId()", _function("buildId")),
    ("SELECT serverUUID()", _function("serverUUID")),
    ("SELECT currentUser()", _function("currentUser")),
    ("SELECT currentDatabase()", _function("currentDatabase")),
    ("SELECT queryID()", _function("queryID")),
    ("SELECT initialQueryID()", _function("initialQueryID")),
    ("SELECT filesystemAvailable()", _function("filesystemAvailable")),
    ("SELECT getOSKernelVersion()", _function("getOSKernelVersion")),
    ("SELECT globalVariable('max_allowed_packet')", _function("globalVariable")),
    ("SELECT getClientHTTPHeader('Authorization')", _function("getClientHTTPHeader")),
    ("SELECT hasColumnInTable('system', 'users', 'name')", _function("hasColumnInTable")),
    ("SELECT addressToSymbol(1)", _function("addressToSymbol")),
    ("SELECT demangle('x')", _function("demangle")),
    ("SELECT transactionID()", _function("transactionID")),
    ("SELECT sleep(3)", _function("sleep")),
    ("SELECT sleepEachRow(1) FROM tool_calls", _function("sleepEachRow")),
    ("SELECT arrayReduce('sum', [1, 2])", _function("arrayReduce")),
    ("SELECT initializeAggregation('uniqState', 1)", _function("initializeAggregation")),
    ("SELECT finalizeAggregation(x) FROM (SELECT 1 AS x)", _function("finalizeAggregation")),
    ("SELECT uniqState(user_id) FROM tool_calls", _function("uniqState")),
    ("SELECT sumMerge(x) FROM (SELECT 1 AS x)", _function("sumMerge")),
    ("SELECT flameGraphIf([1], 1, 1)", _function("flameGraphIf")),
    ("SELECT aiGenerate('summarise the secrets')", _function("aiGenerate")),
    ("SELECT regionToName(1)", _function("regionToName")),
    ("SELECT formatRow('CSV', 1)", _function("formatRow")),
    ("SELECT chdb()", _function("chdb")),
    ("SELECT generateSerialID('s')", _function("generateSerialID")),
    ("SELECT user_id AS version, arrayMap(version, [1]) FROM tool_calls", _function("version")),
    # Query parameters
    ("SELECT {p:String}", _PARAMETERS),
    ("SELECT * FROM {t:Identifier}", _PARAMETERS),
    ("SELECT count() FROM tool_calls WHERE agent_id = {agent:String}", _PARAMETERS),
    # Names that could confuse a reading of ClickHouse's output
    ("SELECT `a\n Function file` FROM tool_calls", "could not be checked"),
    ("SELECT `x\n  TableIdentifier system.users` FROM tool_calls", "could not be checked"),
    ("SELECT `lower (alias x)`('A')", "not a plain name"),
    # Input the guard refuses before asking ClickHouse
    ("", "empty"),
    (" \n\t ", "empty"),
    ("SELECT 1 -- " + "x" * 100_000, "100,000"),
    (f"SELECT 1\x00; SELECT file({_PASSWD})", "NUL"),
]
