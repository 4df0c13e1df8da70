"""The cluster schema is a transformation of the single-node migrations: valid ClickHouse,
run by the engine, and column for column the single-node schema.

The engine check runs in a chDB process of its own, configured as a node of a cluster
(``remote_servers`` and the ``{shard}``/``{replica}`` macros): it creates every
Replicated table (without a Keeper they come up read-only, which is enough for their
definition: engine arguments, macros, settings) and every Distributed table (its sharding
key is type-checked against the columns), and applies the column changes to the
Distributed tables; ``ON CLUSTER`` (no DDL queue) and the ALTERs of the read-only
Replicated tables are what it cannot run. The local tables after every ALTER are compared
in the server suite, on the endpoint's one-node cluster (tests/server), where they run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentaudit.errors import ConfigError
from agentaudit.store import Store
from agentaudit.store.cluster_ddl import (
    SHARDING_KEYS,
    ClusterDdlError,
    bootstrap_statements,
    check_cluster_name,
    cluster_statements,
    sharding_key,
)
from agentaudit.store.migrations import LEDGER_DDL, cluster_migration_statements, load_migrations
from agentaudit.store.sql_guard import quote_string

CLUSTER = "audit_cluster"
ROOT = Path(__file__).resolve().parents[2]


def _all_statements(cluster: str = CLUSTER) -> list[str]:
    found = bootstrap_statements(cluster, LEDGER_DDL)
    for migration in load_migrations():
        found += cluster_migration_statements(migration, cluster)
    return found


# --- the transformation ----------------------------------------------------------------


def test_every_packaged_migration_has_a_cluster_form_on_cluster() -> None:
    statements = _all_statements()
    assert statements
    for sql in statements:
        assert f"ON CLUSTER '{CLUSTER}'" in sql, sql[:80]
        if "MergeTree(" in sql:
            assert "ENGINE = Replicated" in sql, sql[:120]


def test_each_table_becomes_a_replicated_local_table_and_a_distributed_one() -> None:
    (migration,) = [m for m in load_migrations() if m.name == "tool_calls"]
    local, distributed = cluster_migration_statements(migration, CLUSTER)
    assert local.startswith(
        f"CREATE TABLE IF NOT EXISTS agentaudit_local.tool_calls ON CLUSTER '{CLUSTER}'"
    )
    path = f"/clickhouse/agentaudit/{CLUSTER}/tables/{{shard}}/tool_calls"
    assert f"ENGINE = ReplicatedMergeTree('{path}', '{{replica}}')" in local
    assert "replicated_deduplication_window = 10000" in local
    assert "non_replicated" not in local
    # The single-node column block, verbatim.
    block = migration.sql[migration.sql.index("(\n") : migration.sql.index("\n)\n") + 2]
    assert block in local
    assert distributed == (
        f"CREATE TABLE IF NOT EXISTS agentaudit.tool_calls ON CLUSTER '{CLUSTER}'\n"
        "AS agentaudit_local.tool_calls\n"
        f"ENGINE = Distributed('{CLUSTER}', 'agentaudit_local', 'tool_calls', "
        f"{SHARDING_KEYS['tool_calls']})"
    )


def test_replacing_tables_keep_their_version_and_shard_by_their_key() -> None:
    (migration,) = [m for m in load_migrations() if m.name == "revocations"]
    local, distributed = cluster_migration_statements(migration, CLUSTER)[:2]
    assert "ENGINE = ReplicatedReplacingMergeTree(" in local
    assert local.rstrip().endswith("'{replica}', updated_at)\nORDER BY id")
    assert distributed.endswith("'revocations', cityHash64(id))")


def test_alter_commands_split_between_the_local_and_the_distributed_table() -> None:
    sql = (
        "ALTER TABLE agentaudit.t ADD COLUMN IF NOT EXISTS a String DEFAULT 'x, SETTINGS y', "
        "ADD INDEX IF NOT EXISTS i a TYPE set(8) GRANULARITY 4, "
        "MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, "
        "DROP COLUMN IF EXISTS b SETTINGS mutations_sync = 2"
    )
    local, distributed = cluster_statements([sql], CLUSTER)
    assert local == (
        f"ALTER TABLE agentaudit_local.t ON CLUSTER '{CLUSTER}'\n"
        "    ADD COLUMN IF NOT EXISTS a String DEFAULT 'x, SETTINGS y',\n"
        "    ADD INDEX IF NOT EXISTS i a TYPE set(8) GRANULARITY 4,\n"
        "    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,\n"
        "    DROP COLUMN IF EXISTS b\n"
        "SETTINGS mutations_sync = 2"
    )
    assert distributed == (
        f"ALTER TABLE agentaudit.t ON CLUSTER '{CLUSTER}'\n"
        "    ADD COLUMN IF NOT EXISTS a String DEFAULT 'x, SETTINGS y',\n"
        "    DROP COLUMN IF EXISTS b\n"
        "SETTINGS mutations_sync = 2"
    )
    assert cluster_statements(["ALTER TABLE agentaudit.t MATERIALIZE INDEX i"], CLUSTER) == [
        f"ALTER TABLE agentaudit_local.t ON CLUSTER '{CLUSTER}'\n    MATERIALIZE INDEX i"
    ]


def test_views_databases_and_drops() -> None:
    view = "CREATE VIEW IF NOT EXISTS agentaudit.v AS SELECT 1 FROM agentaudit.t"
    on = f"ON CLUSTER '{CLUSTER}'"
    assert cluster_statements([view], CLUSTER) == [view.replace(" AS ", f" {on} AS ", 1)]
    assert cluster_statements(["CREATE DATABASE IF NOT EXISTS agentaudit"], CLUSTER) == [
        f"CREATE DATABASE IF NOT EXISTS agentaudit ON CLUSTER '{CLUSTER}'",
        f"CREATE DATABASE IF NOT EXISTS agentaudit_local ON CLUSTER '{CLUSTER}'",
    ]
    assert cluster_statements(["DROP TABLE IF EXISTS agentaudit.t SYNC"], CLUSTER) == [
        f"DROP TABLE IF EXISTS agentaudit.t ON CLUSTER '{CLUSTER}' SYNC",
        f"DROP TABLE IF EXISTS agentaudit_local.t ON CLUSTER '{CLUSTER}' SYNC",
    ]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE agentaudit.m (x UInt8) ENGINE = Memory", "engine Memory"),
        (
            "CREATE TABLE agentaudit.r (x UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') "
            "ORDER BY x",
            "not already replicated",
        ),
        ("CREATE TABLE other.t (x UInt8) ENGINE = MergeTree ORDER BY x", "database 'agentaudit'"),
        ("CREATE TABLE agentaudit.n (x UInt8) ENGINE = MergeTree ORDER BY tuple()", "shard by"),
        ("CREATE MATERIALIZED VIEW agentaudit.mv TO agentaudit.t AS SELECT 1", "no cluster form"),
        ("INSERT INTO agentaudit.t VALUES (1)", "no cluster form"),
        ("ALTER TABLE agentaudit.t FROBNICATE x", "unrecognised ALTER command"),
    ],
)
def test_what_has_no_cluster_form_is_refused(sql: str, message: str) -> None:
    with pytest.raises(ClusterDdlError, match=message):
        cluster_statements([sql], CLUSTER)


def test_sharding_keys() -> None:
    assert "session_id" in SHARDING_KEYS["tool_calls"]
    assert "trace_id" in SHARDING_KEYS["tool_calls"]
    assert sharding_key("findings", " (agent_id, finding_id)\n") == "cityHash64(agent_id)"
    assert sharding_key("agents", "name") == "cityHash64(name)"
    assert sharding_key("x", "(toDate(ts), id)") == "cityHash64(toDate(ts))"


@pytest.mark.parametrize("name", ["", "a b", "x'; DROP", "{shard}", "a/b"])
def test_cluster_names_are_checked(name: str) -> None:
    with pytest.raises(ConfigError, match="not a cluster name"):
        check_cluster_name(name)


# --- the engine --------------------------------------------------------------------------


def test_every_statement_parses_in_the_engine(store: Store) -> None:
    for sql in _all_statements():
        formatted = store.query(f"SELECT formatQuerySingleLine({quote_string(sql)})").rows[0][0]
        assert f"ON CLUSTER {CLUSTER}" in str(formatted), sql[:80]


ENGINE_SCRIPT = r"""
import json, os, re, sys
import chdb
statements, config = json.load(sys.stdin), sys.argv[2]
engine = chdb.connect(f"{sys.argv[1]}?config-file={config}")
skipped = []
for sql in statements:
    local = re.sub(r"\s+ON CLUSTER '[^']*'", "", sql)
    # A Replicated table without a Keeper is read-only: its ALTERs cannot run here.
    if local.startswith("ALTER TABLE agentaudit_local."):
        skipped.append(local)
        continue
    try:
        engine.query(local)
    except Exception as exc:
        print(json.dumps({"failed": local, "error": str(exc)[:500]}))
        os._exit(0)
def rows(sql):
    text = engine.query(sql, "JSONCompact").bytes()
    return json.loads(text)["data"]
print(json.dumps({
    "columns": rows("SELECT database, table, name, type, default_kind, default_expression, "
                    "compression_codec FROM system.columns WHERE database LIKE 'agentaudit%' "
                    "ORDER BY database, table, position"),
    "engines": rows("SELECT database, name, engine, engine_full FROM system.tables "
                    "WHERE database LIKE 'agentaudit%' ORDER BY database, name"),
    "replicas": rows("SELECT table, zookeeper_path, replica_name FROM system.replicas "
                     "ORDER BY table"),
    "skipped": skipped,
}))
sys.stdout.flush()
os._exit(0)
"""


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("cluster-ddl")
    config = folder / "node.xml"
    config.write_text(
        "<clickhouse><tcp_port>9000</tcp_port>"
        "<zookeeper><implementation>testkeeper</implementation></zookeeper>"
        "<macros><shard>02</shard><replica>node-b</replica></macros>"
        f"<remote_servers><{CLUSTER}><shard><internal_replication>true</internal_replication>"
        "<replica><host>127.0.0.1</host><port>9000</port></replica></shard>"
        f"</{CLUSTER}></remote_servers></clickhouse>"
    )
    done = subprocess.run(
        [sys.executable, "-c", ENGINE_SCRIPT, str(folder / "data"), str(config)],
        input=json.dumps(_all_statements()),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.stdout, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "failed" not in result, result
    return result


def _described(store: Store) -> dict[str, list[list[Any]]]:
    rows = store.query(
        "SELECT table, name, type, default_kind, default_expression, compression_codec "
        "FROM system.columns WHERE database = 'agentaudit' ORDER BY table, position"
    ).rows
    found: dict[str, list[list[Any]]] = {}
    for table, *column in rows:
        found.setdefault(str(table), []).append([str(c) for c in column])
    return found


def test_the_engine_creates_every_replicated_and_distributed_table(
    engine_run: dict[str, Any], store: Store
) -> None:
    engines = {(db, name): (engine, full) for db, name, engine, full in engine_run["engines"]}
    single = _described(store)
    for table in single:
        if table == "schema_migrations":
            assert engines[("agentaudit", table)][0] == "ReplicatedMergeTree"
            continue
        if (engine := engines.get(("agentaudit", table), ("", ""))[0]) == "View":
            continue
        assert engine == "Distributed", table
        assert engines[("agentaudit_local", table)][0].startswith("Replicated"), table
    assert engine_run["skipped"] == [
        s
        for s in (re.sub(r"\s+ON CLUSTER '[^']*'", "", x) for x in _all_statements())
        if s.startswith("ALTER TABLE agentaudit_local.")
    ]
    replicas = {table: (path, name) for table, path, name in engine_run["replicas"]}
    assert replicas["tool_calls"] == (
        f"/clickhouse/agentaudit/{CLUSTER}/tables/02/tool_calls",
        "node-b",
    )
    assert replicas["schema_migrations"] == (
        f"/clickhouse/agentaudit/{CLUSTER}/schema_migrations",
        "02-node-b",
    )


def test_the_distributed_tables_have_the_single_node_columns(
    engine_run: dict[str, Any], store: Store
) -> None:
    """Column for column (name, type, default, codec) as the single-node migrations make
    them, after every migration: created from the local tables, then ALTERed alongside."""
    cluster: dict[str, list[list[Any]]] = {}
    for db, table, *column in engine_run["columns"]:
        if db == "agentaudit":
            cluster.setdefault(table, []).append([str(c) for c in column])
    assert cluster == _described(store)


def test_the_printed_cluster_ddl_is_what_migrate_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentaudit", "migrate", "--cluster", CLUSTER, "--print"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    statements = [s.strip() for s in done.stdout.split(";\n") if s.strip()]
    body = [
        "\n".join(line for line in s.splitlines() if not line.startswith("-- ")) for s in statements
    ]
    assert [b.strip().rstrip(";") for b in body] == _all_statements()
