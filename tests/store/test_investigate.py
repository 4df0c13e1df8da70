"""store.Store.investigate: the guard first, then read-only handles with limits and a queue.

Embedded: a real chdb store per module (chdb opens one engine per process). Server mode
cannot run here (no ClickHouse server): its code path is checked with recording fake
clients, which shows what would be sent, not what a server would do with it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from agentaudit.config import embedded_dsn, load_config
from agentaudit.config.dsn import parse_dsn
from agentaudit.errors import ConfigError
from agentaudit.store import (
    InvestigationLimits,
    QueryBusy,
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    Store,
    StoreError,
    Ticket,
)
from agentaudit.store._investigate import Investigator, Slot
from agentaudit.store._store import _server_investigator, _set
from agentaudit.store.migrations import apply_migrations
from agentaudit.store.sql_guard import quote_string
from tests.store.documented_sql import DOCUMENTED
from tests.store.hostile_sql import HOSTILE
from tests.store.slow_sql import slow_query
from tests.store.test_sql_guard import LEGITIMATE

LIMITS = InvestigationLimits(
    max_running=1, max_waiting=1, queue_seconds=2, max_execution_time=3, max_threads=1
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("investigate") / "store"
    with Store.open(embedded_dsn(directory), limits=LIMITS) as opened:
        apply_migrations(opened)
        opened.command(
            "INSERT INTO agentaudit.tool_calls (agent_id, tool_name, resource_ids) "
            "VALUES ('mail-assistant', 'send_email', ['email:outbound/attacker@evil.example'])"
        )
        yield opened


def executed(store: Store) -> int:
    return store.investigation_stats["executed"]


# --- the guard comes first ---------------------------------------------------------------


def test_hostile_corpus_is_refused_and_runs_nothing(store: Store) -> None:
    before = executed(store)
    for sql, fragment in HOSTILE:
        with pytest.raises(QueryRefused) as refused:
            store.investigate(sql)
        assert fragment in str(refused.value), sql
    assert executed(store) == before
    assert store.investigation_stats["refused"] >= len(HOSTILE)


@pytest.mark.parametrize(("where", "sql"), DOCUMENTED, ids=[w for w, _ in DOCUMENTED])
def test_documented_queries_run(store: Store, where: str, sql: str) -> None:
    store.investigate(sql)


@pytest.mark.parametrize(("sql", "tables"), LEGITIMATE, ids=[s[:60] for s, _ in LEGITIMATE])
def test_the_guards_legitimate_queries_run_through_the_store(
    store: Store, sql: str, tables: set[str]
) -> None:
    # The guard's own tests use a bare chdb session; the store goes through
    # clickhouse-connect (which appends FORMAT Native): the same queries pass.
    store.investigate(sql)


def test_unqualified_tables_read_the_audit_database(store: Store) -> None:
    result = store.investigate("SELECT agent_id, tool_name FROM tool_calls")
    assert result.rows == [("mail-assistant", "send_email")]
    assert store.investigate("SELECT count() FROM agentaudit.tool_calls").rows == [(1,)]


def test_what_clickhouse_rejects_is_query_failed(store: Store) -> None:
    with pytest.raises(QueryFailed, match=r"query failed: .*no_such_column"):
        store.investigate("SELECT no_such_column FROM tool_calls")


# --- limits ------------------------------------------------------------------------------


def _handle_setting(store: Store, name: str) -> Any:
    """A setting of the investigation handle, read with a trusted query on it."""
    slot = store._investigations()._slots[0]
    return slot.client.query(f"SELECT getSetting('{name}')").result_rows[0][0]


def test_handles_have_the_limits_and_are_read_only(store: Store) -> None:
    assert _handle_setting(store, "readonly") == 1
    assert _handle_setting(store, "max_execution_time") == 3
    assert _handle_setting(store, "max_memory_usage") == LIMITS.max_memory_usage
    assert _handle_setting(store, "max_result_rows") == LIMITS.max_result_rows
    assert _handle_setting(store, "max_threads") == 1
    slot = store._investigations()._slots[0]
    with pytest.raises(Exception, match="readonly"):
        slot.client.command("SET readonly = 0")


def test_engine_time_limit_stops_a_slow_query(store: Store) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="longer than 3 s"):
        store.investigate(slow_query(200_000))
    assert 2.5 < time.monotonic() - started < 10
    assert store.investigate("SELECT 1 AS one").rows == [(1,)]


def test_result_rows_are_capped(store: Store) -> None:
    rows = store.investigate(
        "SELECT a FROM (SELECT arrayJoin(range(1000)) AS a) AS l "
        "CROSS JOIN (SELECT arrayJoin(range(1000)) AS b) AS r"
    ).rows
    assert LIMITS.max_result_rows <= len(rows) < 1_000_000


def test_memory_limit_is_a_query_failure(store: Store) -> None:
    import clickhouse_connect

    small = InvestigationLimits(max_running=1, max_memory_usage=50 << 20)
    # A second investigator over a fresh handle of the same engine, with a tiny limit.
    client = clickhouse_connect.get_client(dsn=store.dsn.raw, path=str(store.dsn.path))
    try:
        _set(client, {**small.engine_settings(), "readonly": 1})
        tiny = Investigator(
            check=store._investigations()._check,
            slots=[Slot(client, lambda: (None, lambda: None))],
            limits=small,
        )
        with pytest.raises(QueryFailed, match=r"needs more than .* GiB of memory"):
            tiny.run("SELECT groupArray(n) FROM (SELECT arrayJoin(range(20000000)) AS n)")
    finally:
        client.close()


# --- the queue ---------------------------------------------------------------------------


def _in_thread(store: Store, sql: str, ticket: Ticket | None = None) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            outcome["result"] = store.investigate(sql, ticket)
        except Exception as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    outcome["thread"] = thread
    return outcome


def _wait_running(store: Store, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while store.investigation_stats["executed"] < count:
        assert time.monotonic() < deadline, "the query did not start"
        time.sleep(0.01)


def test_one_running_one_waiting_and_the_next_is_busy(store: Store) -> None:
    start = executed(store)
    ticket = Ticket()
    slow = _in_thread(store, slow_query(200_000), ticket)
    _wait_running(store, start + 1)
    waiting = _in_thread(store, "SELECT 2 AS two")
    time.sleep(0.2)
    with pytest.raises(QueryBusy, match="too many queries"):
        store.investigate("SELECT 3")
    assert store.investigation_stats["busy"] >= 1
    ticket.cancel()  # the slot frees at once, and the waiting query runs
    slow["thread"].join(20)
    waiting["thread"].join(20)
    assert isinstance(slow["error"], QueryTimeout)
    assert waiting["result"].rows == [(2,)]


def test_waiting_too_long_is_busy(store: Store) -> None:
    start = executed(store)
    slow = _in_thread(store, slow_query(200_000))
    _wait_running(store, start + 1)
    started = time.monotonic()
    with pytest.raises(QueryBusy, match="within 2 s"):
        store.investigate("SELECT 4")
    assert 1.8 < time.monotonic() - started < 3
    slow["thread"].join(20)


def test_a_cancelled_ticket_kills_the_running_query_and_frees_the_slot(store: Store) -> None:
    ticket = Ticket()
    start = executed(store)
    slow = _in_thread(store, slow_query(200_000), ticket)
    _wait_running(store, start + 1)
    time.sleep(0.3)
    ticket.cancel()
    slow["thread"].join(10)
    assert isinstance(slow["error"], QueryTimeout)
    assert slow["seconds"] < 2  # killed, not stopped by the 3 s engine limit
    started = time.monotonic()
    assert store.investigate("SELECT 5 AS five").rows == [(5,)]
    assert time.monotonic() - started < 1


def test_a_cancelled_ticket_leaves_the_queue(store: Store) -> None:
    start = executed(store)
    slow = _in_thread(store, slow_query(200_000))
    _wait_running(store, start + 1)
    ticket = Ticket()
    waiting = _in_thread(store, "SELECT 6", ticket)
    time.sleep(0.2)
    ticket.cancel()
    waiting["thread"].join(5)
    assert isinstance(waiting["error"], QueryTimeout)
    assert waiting["seconds"] < 1
    assert executed(store) == start + 1  # the cancelled query never ran
    slow["thread"].join(20)


def test_dashboards_and_the_writer_are_not_blocked_by_an_investigation(store: Store) -> None:
    start = executed(store)
    slow = _in_thread(store, slow_query(200_000))
    _wait_running(store, start + 1)
    started = time.monotonic()
    assert store.read_only("SELECT count() FROM agentaudit.tool_calls").rows == [(1,)]
    store.command("INSERT INTO agentaudit.revocations (id) VALUES ('during-investigation')")
    assert store.query("SELECT count() FROM agentaudit.revocations").rows[0][0] >= 1
    assert time.monotonic() - started < 1
    slow["thread"].join(20)


# --- configuration -----------------------------------------------------------------------


def test_limits_are_validated_and_derive_the_wall_clock() -> None:
    limits = InvestigationLimits(queue_seconds=10, max_execution_time=60, grace_seconds=5)
    assert limits.wall_seconds == 75
    assert limits.engine_settings()["max_execution_time"] == 60
    with pytest.raises(ValueError, match="max_running"):
        InvestigationLimits(max_running=0)
    with pytest.raises(ValueError, match="negative"):
        InvestigationLimits(max_waiting=-1)


def test_reader_dsn_is_for_a_server_only(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="embedded store has read-only handles"):
        Store.open(embedded_dsn(tmp_path / "s"), reader_dsn="http://r:p@127.0.0.1:1/agentaudit")
    assert not (tmp_path / "s").exists()


def test_reader_setting_is_parsed_at_start_up() -> None:
    config = load_config(
        {"clickhouse_url": "http://w:p@db:8123/agentaudit"},
        {"AGENTAUDIT_READER_CLICKHOUSE_URL": "http://investigator:s3cret@db:8123/agentaudit"},
    )
    assert config.reader_clickhouse_url == "http://investigator:s3cret@db:8123/agentaudit"
    assert "s3cret" not in repr(config)
    with pytest.raises(ConfigError, match="AGENTAUDIT_READER_CLICKHOUSE_URL"):
        load_config({}, {"AGENTAUDIT_READER_CLICKHOUSE_URL": "chdb:///tmp/x"})
    with pytest.raises(ConfigError, match="--reader-clickhouse"):
        load_config({"reader_clickhouse_url": "ftp://x"}, {})


def test_unreachable_reader_server_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open(
            "http://default:hunter2@127.0.0.1:1/agentaudit",
            reader_dsn="http://investigator:s3cret@127.0.0.1:1/agentaudit",
        )
    assert "hunter2" not in str(caught.value)
    assert "s3cret" not in str(caught.value)


# --- server mode, with recording fake clients --------------------------------------------


class _Result:
    def __init__(self, rows: list[tuple[Any, ...]], columns: tuple[str, ...] = ("c",)) -> None:
        self.result_rows = rows
        self.column_names = columns


class FakeClient:
    """Records what a clickhouse-connect HTTP client would send."""

    def __init__(self, readonly: int = 0, guard: Any = None) -> None:
        self.database: str | None = None
        self.readonly = readonly
        self.guard = guard  # answers the guard's queries (a chdb handle), when given
        self.queries: list[tuple[str, Mapping[str, Any] | None]] = []
        self.commands: list[tuple[str, Mapping[str, Any] | None]] = []

    def query(self, sql: str, settings: Mapping[str, Any] | None = None) -> _Result:
        self.queries.append((sql, settings))
        if "getSetting('readonly')" in sql:
            return _Result([(self.readonly,)])
        if self.guard is not None:
            return _Result(self.guard.query(sql).result_rows)
        return _Result([(1,)], ("one",))

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self.commands.append((sql, parameters))

    def close(self) -> None:
        pass


def _server(
    store: Store, reader_readonly: int | None, limits: InvestigationLimits = LIMITS
) -> tuple[Investigator, FakeClient, FakeClient]:
    checker = store._investigations()._check
    guard = type("Guard", (), {"query": lambda self, sql: _Result(list(checker(sql)))})()
    writer = FakeClient(guard=guard)
    reader = FakeClient(readonly=reader_readonly or 0)

    def client(source: Any = None) -> FakeClient:
        return reader

    dsn = None if reader_readonly is None else parse_dsn("http://ro:pw@db:8123/agentaudit")
    return _server_investigator(client, writer, limits, dsn), writer, reader


def test_server_mode_sends_readonly_limits_and_a_query_id(store: Store) -> None:
    investigator, writer, reader = _server(store, None)
    assert investigator.run("SELECT count() FROM tool_calls").rows == [(1,)]
    assert reader.database == "agentaudit"
    sql, settings = reader.queries[-1]
    assert sql == "SELECT count() FROM tool_calls"
    assert settings is not None
    assert settings["readonly"] == 2
    assert settings["max_execution_time"] == 3
    assert settings["max_memory_usage"] == LIMITS.max_memory_usage
    assert settings["max_result_rows"] == LIMITS.max_result_rows
    assert str(settings["query_id"]).startswith("agentaudit-investigation-")
    # The guard's queries ran on the store's own connection, readonly = 2.
    assert writer.queries
    assert all(s == {"readonly": 2, "max_execution_time": 10} for _, s in writer.queries)


def test_server_mode_refuses_before_sending_anything(store: Store) -> None:
    investigator, _, reader = _server(store, None)
    with pytest.raises(QueryRefused, match="function 'file'"):
        investigator.run("SELECT file('/proc/self/environ')")
    assert reader.queries == []


def test_server_mode_cancel_kills_by_query_id(store: Store) -> None:
    investigator, writer, reader = _server(store, None)
    gate = threading.Event()
    release = threading.Event()

    def blocking_query(sql: str, settings: Mapping[str, Any] | None = None) -> _Result:
        reader.queries.append((sql, settings))
        gate.set()
        release.wait(10)
        raise RuntimeError("Code: 394. DB::Exception: Query was cancelled. (QUERY_WAS_CANCELLED)")

    reader.query = blocking_query  # type: ignore[method-assign]
    ticket = Ticket()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            investigator.run("SELECT 1", ticket)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert gate.wait(10)
    ticket.cancel()
    release.set()
    thread.join(10)
    assert isinstance(outcome["error"], QueryTimeout)
    query_id = reader.queries[-1][1]["query_id"]  # type: ignore[index]
    assert writer.commands == [("KILL QUERY WHERE query_id = {id:String} ASYNC", {"id": query_id})]


def test_server_mode_reader_user_with_readonly_2_gets_limits_without_readonly(
    store: Store,
) -> None:
    investigator, _, reader = _server(store, 2)
    investigator.run("SELECT 1")
    settings = reader.queries[-1][1]
    assert settings is not None
    assert "readonly" not in settings
    assert settings["max_execution_time"] == 3


def test_server_mode_reader_user_with_readonly_1_relies_on_its_profile(store: Store) -> None:
    investigator, _, reader = _server(store, 1)
    investigator.run("SELECT 1")
    settings = reader.queries[-1][1]
    assert settings is not None
    assert set(settings) == {"query_id"}


def test_server_mode_reader_user_that_can_write_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="not read-only"):
        _server(store, 0)


def test_server_mode_too_many_queries_for_the_user_is_busy(store: Store) -> None:
    investigator, _, reader = _server(store, 2)

    def refused(sql: str, settings: Mapping[str, Any] | None = None) -> _Result:
        raise RuntimeError(
            "Code: 202. DB::Exception: Too many simultaneous queries for user "
            "agentaudit_investigator. (TOO_MANY_SIMULTANEOUS_QUERIES)"
        )

    reader.query = refused  # type: ignore[method-assign]
    with pytest.raises(QueryBusy, match="too many queries"):
        investigator.run("SELECT 1")


def test_documented_reader_user_ddl_parses_and_grants_only_select(store: Store) -> None:
    # No server here: ClickHouse's parser (the same engine version) checks the syntax.
    text = (Path(__file__).resolve().parents[2] / "docs" / "sql.md").read_text()
    block = re.search(r"```sql\n(CREATE SETTINGS PROFILE.*?)```", text, re.DOTALL)
    assert block is not None
    statements = [s.strip() for s in block.group(1).split(";") if s.strip()]
    for statement in statements:
        store.query(f"SELECT formatQuerySingleLine({quote_string(statement)})")
    grants = [s for s in statements if s.startswith("GRANT")]
    assert grants == ["GRANT SELECT ON agentaudit.* TO agentaudit_investigator"]
    assert "readonly = 2 CONST" in statements[0]
