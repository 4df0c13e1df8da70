"""collector.migrations: ordering, idempotence, the ledger, checksums, statement splitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentaudit.config import embedded_dsn
from agentaudit.store import Store, StoreError
from agentaudit.store.migrations import (
    LEDGER_DDL,
    Migration,
    apply_migrations,
    load_migrations,
)


def test_packaged_migrations_are_ordered_and_unique() -> None:
    migrations = load_migrations()
    versions = [m.version for m in migrations]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert versions[:4] == [1, 2, 3, 4]
    assert all(m.name and m.sql.strip() for m in migrations)
    assert all(len(m.checksum) == 64 for m in migrations)


def test_every_packaged_statement_is_a_single_statement() -> None:
    for migration in load_migrations():
        for statement in migration.statements():
            assert not statement.endswith(";")
            assert ";\n" not in statement


def test_second_apply_applies_nothing_and_ledger_matches(store: Store) -> None:
    # The fixture already applied everything once.
    assert apply_migrations(store) == []
    ledger = store.query(
        "SELECT version, name, checksum FROM agentaudit.schema_migrations ORDER BY version"
    ).rows
    assert ledger == [(m.version, m.name, m.checksum) for m in load_migrations()]
    tables = {r[0] for r in store.query("SHOW TABLES FROM agentaudit").rows}
    assert {"tool_calls", "otel_traces", "revocations", "schema_migrations"} <= tables


def test_first_apply_returns_every_migration(tmp_path: Path) -> None:
    with Store.open(embedded_dsn(tmp_path / "fresh")) as store:
        applied = apply_migrations(store)
        assert [m.version for m in applied] == [m.version for m in load_migrations()]
        assert apply_migrations(store) == []


def test_changed_checksum_is_refused(tmp_path: Path) -> None:
    with Store.open(embedded_dsn(tmp_path / "tampered")) as store:
        store.command("CREATE DATABASE IF NOT EXISTS agentaudit")
        store.command(LEDGER_DDL)
        store.command(
            "INSERT INTO agentaudit.schema_migrations (version, name, checksum) "
            "VALUES (2, 'tool_calls', 'not-the-checksum')"
        )
        with pytest.raises(StoreError, match=r"0002_tool_calls changed after it was applied"):
            apply_migrations(store)


def test_statements_split_on_semicolon_at_end_of_line() -> None:
    sql = (
        "-- a comment; with a semicolon;\n"
        "CREATE TABLE a (x String DEFAULT ';') ENGINE = Memory;\n"
        "\n"
        "  -- indented comment\n"
        "INSERT INTO a VALUES ('x;y');\n"
        "SELECT 1\n"
        "FROM a;\n"
        "SELECT 2"
    )
    assert list(Migration(1, "t", sql).statements()) == [
        "CREATE TABLE a (x String DEFAULT ';') ENGINE = Memory",
        "INSERT INTO a VALUES ('x;y')",
        "SELECT 1\nFROM a",
        "SELECT 2",
    ]


def test_statements_split_with_crlf_and_trailing_blanks() -> None:
    sql = "SELECT 1;\r\nSELECT 2;   \nSELECT 3;\t\n\n;\n"
    assert list(Migration(1, "t", sql).statements()) == ["SELECT 1", "SELECT 2", "SELECT 3"]


def test_only_comments_yields_nothing() -> None:
    assert list(Migration(1, "t", "-- nothing\n   -- here;\n").statements()) == []


def test_checksum_depends_on_the_text() -> None:
    assert Migration(1, "a", "SELECT 1").checksum != Migration(1, "a", "SELECT 1 ").checksum
    assert Migration(1, "a", "SELECT 1").checksum == Migration(7, "b", "SELECT 1").checksum


def test_a_receipt_window_reads_only_the_parts_received_in_it(tmp_path: Path) -> None:
    """Migration 0044: two inserts a day apart; a window on the second day's receipts
    reads its part alone, whatever times the calls claim (all of them: one old day)."""
    insert = (
        "INSERT INTO agentaudit.tool_calls (ts, received_at, agent_id, trace_id, span_id) "
        "SELECT toDateTime64('2026-01-01 00:00:00', 9, 'UTC') + toIntervalSecond(number), "
        "toDateTime64({day:String}, 3, 'UTC') + toIntervalMillisecond(number * 100), "
        "concat('agent-', toString(number % 3)), hex(number), hex(number) FROM numbers(20000)"
    )
    count = (
        "SELECT count() FROM agentaudit.tool_calls "
        "WHERE received_at >= toDateTime64('2026-12-02 00:00:00', 9, 'UTC') "
        "AND received_at < toDateTime64('2026-12-03 00:00:00', 9, 'UTC')"
    )
    with Store.open(embedded_dsn(tmp_path / "received")) as store:
        apply_migrations(store)
        for day in ("2026-12-01 00:00:00", "2026-12-02 00:00:00"):
            store.command(insert, {"day": day})
        plan = "\n".join(str(row[0]) for row in store.query("EXPLAIN indexes = 1 " + count).rows)
        skip = plan[plan.index("Name: idx_received") :]
        assert "Parts: 1/2" in skip, plan
        assert store.query(count).rows == [(20000,)]
