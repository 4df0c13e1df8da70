"""collector.store: locking, bad directories, read-only enforcement, parameters, close."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentaudit.config import embedded_dsn
from agentaudit.store import (
    LOCK_FILE,
    QueryRefused,
    ReadOnlyViolation,
    Store,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)
from agentaudit.store.migrations import apply_migrations

HOLD_STORE = """
import sys
from agentaudit.store import Store
store = Store.open(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
store.close()
"""


def revocation_count(store: Store) -> int:
    return int(store.query("SELECT count() FROM agentaudit.revocations").rows[0][0])


# --- the directory lock ----------------------------------------------------------------


def test_second_open_in_process_is_locked_and_names_the_pid(store: Store, store_dir: Path) -> None:
    with pytest.raises(StoreLocked, match=f"pid {os.getpid()}") as caught:
        Store.open(embedded_dsn(store_dir))
    assert caught.value.exit_code == 4
    assert "agentaudit sql --api" in str(caught.value)
    assert (store_dir / LOCK_FILE).read_text() == str(os.getpid())
    # The refused open did not disturb the owner.
    assert revocation_count(store) == 0


def test_open_from_a_second_process_is_locked(store_dir: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_STORE, embedded_dsn(store_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked, match=f"pid {holder.pid}"):
            Store.open(embedded_dsn(store_dir))
    finally:
        holder.communicate(input="", timeout=30)
    assert holder.returncode == 0
    # Once the holder exits the directory is free again.
    Store.open(embedded_dsn(store_dir)).close()


def test_close_is_idempotent_and_releases_the_lock(store_dir: Path) -> None:
    first = Store.open(embedded_dsn(store_dir))
    apply_migrations(first)
    first.command("INSERT INTO agentaudit.revocations (id) VALUES ('kept')")
    first.close()
    first.close()
    with Store.open(embedded_dsn(store_dir)) as second:
        assert second.query("SELECT id FROM agentaudit.revocations").rows == [("kept",)]


def test_a_closed_store_is_an_error_not_a_retryable_one(store_dir: Path) -> None:
    closed = Store.open(embedded_dsn(store_dir))
    closed.close()
    calls: list[Callable[[], object]] = [
        lambda: closed.command("SELECT 1"),
        lambda: closed.query("SELECT 1"),
        lambda: closed.read_only("SELECT 1"),
        lambda: closed.insert_arrow("agentaudit.tool_calls", None),
    ]
    for call in calls:
        with pytest.raises(StoreError, match="is closed") as caught:
            call()
        assert not isinstance(caught.value, StoreUnavailable)


def test_store_under_a_regular_file_is_a_clear_store_error(tmp_path: Path) -> None:
    # A path below a regular file cannot be created, even by root (chmod would not stop root).
    (tmp_path / "afile").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot use store directory") as caught:
        Store.open(embedded_dsn(tmp_path / "afile" / "store"))
    assert caught.value.exit_code == 3
    assert "--store" in str(caught.value)


@pytest.mark.parametrize("name", ["st#ore", "st ore", "st%41ore"])
def test_store_directory_names_with_url_characters(tmp_path: Path, name: str) -> None:
    with Store.open(embedded_dsn(tmp_path / name)) as opened:
        apply_migrations(opened)
    assert (tmp_path / name / LOCK_FILE).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_unreachable_server_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open("http://default:hunter2@127.0.0.1:1/agentaudit")
    assert "hunter2" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


# --- read-only queries -----------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO agentaudit.revocations (id) VALUES ('x')",
        "CREATE TABLE agentaudit.evil (a UInt8) ENGINE = Memory",
        "DROP TABLE agentaudit.tool_calls",
        "TRUNCATE TABLE agentaudit.tool_calls",
        "ALTER TABLE agentaudit.tool_calls DELETE WHERE 1",
        "ALTER TABLE agentaudit.tool_calls ADD COLUMN evil UInt8",
        "SET readonly = 0",
        "SELECT 1 SETTINGS readonly = 0",
        "INSERT INTO FUNCTION file('evil.csv', 'CSV', 'a UInt8') SELECT 1",
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')",
        "SELECT * FROM executable('id', 'LineAsString', 'x String')",
        "SYSTEM DROP MARK CACHE",
    ],
)
def test_read_only_refuses_writes(store: Store, sql: str) -> None:
    with pytest.raises(ReadOnlyViolation, match="only read queries"):
        store.read_only(sql)
    assert store.read_only("SELECT getSetting('readonly')").rows == [(1,)]
    tables = {r[0] for r in store.read_only("SHOW TABLES FROM agentaudit").rows}
    assert {"tool_calls", "otel_traces", "revocations"} <= tables
    assert "evil" not in tables


def test_read_only_refuses_multiple_statements(store: Store) -> None:
    with pytest.raises(StoreError):
        store.read_only("SELECT 1; DROP TABLE agentaudit.revocations")
    assert revocation_count(store) == 0


def test_read_only_still_reads(store: Store) -> None:
    store.command("INSERT INTO agentaudit.revocations (id, target) VALUES ('r1', 'agent')")
    result = store.read_only("SELECT id, target FROM agentaudit.revocations")
    assert result.columns == ("id", "target")
    assert result.rows == [("r1", "agent")]
    assert result.as_dicts() == [{"id": "r1", "target": "agent"}]
    assert store.read_only("DESCRIBE TABLE agentaudit.revocations").rows
    assert store.read_only("EXPLAIN SELECT 1").rows


def test_write_handle_still_writes_after_a_refused_read_only_query(store: Store) -> None:
    with pytest.raises(ReadOnlyViolation):
        store.read_only("INSERT INTO agentaudit.revocations (id) VALUES ('refused')")
    with pytest.raises(ReadOnlyViolation):
        store.read_only("SET readonly = 0")
    store.command("INSERT INTO agentaudit.revocations (id) VALUES ('written')")
    assert store.query("SELECT id FROM agentaudit.revocations").rows == [("written",)]
    assert store.read_only("SELECT id FROM agentaudit.revocations").rows == [("written",)]


def test_syntax_error_is_a_store_error_not_a_violation(store: Store) -> None:
    with pytest.raises(StoreError, match="query failed") as caught:
        store.read_only("SELEC 1")
    assert not isinstance(caught.value, ReadOnlyViolation)


HOSTILE = [
    "'; DROP TABLE agentaudit.revocations; --",
    "' OR 1=1 --",
    'quote " and \\ backslash',
    "{x:String}",
    "%(x)s %s",
    "line\nbreak\ttab\x00nul",
    "ünïcødé ✓",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_parameters_are_bound_not_spliced(store: Store, value: str) -> None:
    result = store.read_only("SELECT {x:String} AS v, length({x:String}) AS n", {"x": value})
    assert result.rows == [(value, len(value.encode()))]
    store.command("INSERT INTO agentaudit.revocations (id) VALUES ({x:String})", {"x": value})
    matched = store.read_only(
        "SELECT id FROM agentaudit.revocations WHERE id = {x:String}", {"x": value}
    )
    assert matched.rows == [(value,)]
    assert revocation_count(store) == 1


def test_braces_in_sql_without_parameters_are_literal(store: Store) -> None:
    result: Any = store.read_only("SELECT '{not_a_param}' AS a, '%s' AS b")
    assert result.rows == [("{not_a_param}", "%s")]


def test_read_only_is_for_trusted_sql_and_investigate_for_typed_sql(
    store: Store, tmp_path: Path
) -> None:
    """Readonly mode alone lets a query read host files: typed SQL goes to investigate."""
    secret = tmp_path / "environ"
    secret.write_text("AGENTAUDIT_ADMIN_TOKEN=s3cr3t\n")
    sql = f"SELECT file('{secret}') AS leaked"
    assert "s3cr3t" in store.read_only(sql).rows[0][0]  # why read_only never gets typed SQL
    with pytest.raises(QueryRefused, match="function 'file'") as refused:
        store.investigate(sql)
    assert "s3cr3t" not in str(refused.value)
    assert store.investigation_stats["executed"] == 0
