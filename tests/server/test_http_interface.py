"""The ClickHouse HTTP interface as clickhouse-connect uses it: parameters, settings, ids,
formats, compression, errors, users, sessions.

These hold for a real server and for the chDB endpoint alike (they run against whichever
the suite uses); they are what makes the endpoint a faithful stand-in for the store tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode, urlsplit

import clickhouse_connect
import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.server.conftest import READER, Server
from tests.store.slow_sql import slow_query


def client(server: Server, **options: Any) -> Any:
    return clickhouse_connect.get_client(
        dsn=server.dsn, **{"autogenerate_session_id": False, **options}
    )


def http(
    server: Server,
    params: dict[str, str],
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    user: tuple[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One raw request (status, headers, body), as any HTTP client would send it."""
    parts = urlsplit(server.url)
    url = f"{parts.scheme}://{parts.hostname}:{parts.port}/?{urlencode(params)}"
    request = urllib.request.Request(url, data=body, headers=headers or {})
    name, password = user or (parts.username or "default", parts.password or "")
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def scratch(server: Server) -> Any:
    """A client and a scratch table in ``agentaudit`` with the types the store uses."""
    opened = client(server)
    opened.command("CREATE DATABASE IF NOT EXISTS agentaudit")
    opened.command("DROP TABLE IF EXISTS agentaudit.http_interface_scratch")
    opened.command(
        "CREATE TABLE agentaudit.http_interface_scratch (n UInt64, ts DateTime64(9, 'UTC'), "
        "name LowCardinality(String), tags Array(String), attrs Map(LowCardinality(String), "
        "String), maybe Nullable(String)) ENGINE = MergeTree ORDER BY n "
        "SETTINGS non_replicated_deduplication_window = 100"
    )
    yield opened
    opened.command("DROP TABLE IF EXISTS agentaudit.http_interface_scratch")
    opened.close()


ROWS = [
    (1, dt.datetime(2025, 1, 2, 3, 4, 5, 123456), "a", ["x", "y"], {"k": "v"}, None),
    (2**63 + 7, dt.datetime(2025, 6, 1), "b\tc'\n", [], {}, "é ü"),
]


def test_ping_and_the_handshake(server: Server) -> None:
    parts = urlsplit(server.url)
    with urllib.request.urlopen(f"{parts.scheme}://{parts.hostname}:{parts.port}/ping") as ok:
        assert ok.read() == b"Ok.\n"
    opened = client(server)
    assert opened.server_version
    assert opened.query("SELECT currentDatabase()").result_rows == [("agentaudit",)]


def test_parameters_are_bound_by_the_server_and_settings_ride_in_the_url(
    server: Server,
) -> None:
    opened = client(server)
    value = "it's a \\ 'quote'\n{x:String}"
    result = opened.query("SELECT {v:String}, {n:UInt32} + 1", parameters={"v": value, "n": 41})
    assert result.result_rows == [(value, 42)]
    threads = opened.query("SELECT getSetting('max_threads')", settings={"max_threads": 3})
    assert threads.result_rows == [(3,)]
    # ... and only for that query: the next one has the server's value.
    assert opened.query("SELECT getSetting('max_threads')").result_rows != [(3,)]


def test_query_id_is_kept_and_a_query_is_killed_by_it(server: Server) -> None:
    opened = client(server)
    summary = opened.query("SELECT 1", settings={"query_id": "agentaudit-test-id"}).summary
    assert summary["query_id"] == "agentaudit-test-id"
    failure: list[BaseException] = []

    def slow() -> None:
        try:
            client(server).query(
                slow_query(), settings={"query_id": "agentaudit-test-slow", "max_threads": 1}
            )
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=slow)
    started = time.monotonic()
    worker.start()
    time.sleep(1.0)
    opened.command(
        "KILL QUERY WHERE query_id = {id:String} SYNC", parameters={"id": "agentaudit-test-slow"}
    )
    worker.join(30)
    assert not worker.is_alive()
    assert time.monotonic() - started < 20
    assert failure
    assert getattr(failure[0], "code", None) == 394  # QUERY_WAS_CANCELLED


def test_native_arrow_and_row_formats_round_trip(scratch: Any, server: Server) -> None:
    scratch.command("TRUNCATE TABLE agentaudit.http_interface_scratch")
    scratch.insert(
        "agentaudit.http_interface_scratch",
        ROWS,
        column_names=["n", "ts", "name", "tags", "attrs", "maybe"],
    )
    native = scratch.query("SELECT * FROM agentaudit.http_interface_scratch ORDER BY n")
    assert native.result_rows == ROWS
    arrow = scratch.query_arrow("SELECT n, name, tags FROM agentaudit.http_interface_scratch")
    assert sorted(arrow.column("n").to_pylist()) == [1, 2**63 + 7]
    rows = scratch.raw_query(
        "SELECT n, name FROM agentaudit.http_interface_scratch ORDER BY n FORMAT JSONEachRow"
    )
    first = json.loads(rows.splitlines()[0])  # a UInt64 is quoted or not, by version
    assert (int(first["n"]), first["name"]) == (1, "a")
    binary = scratch.raw_query("SELECT toUInt8(7) AS x", fmt="RowBinaryWithNamesAndTypes")
    assert binary == b"\x01\x01x\x05UInt8\x07"


def test_arrow_insert_with_a_token_is_stored_once(scratch: Any) -> None:
    scratch.command("TRUNCATE TABLE agentaudit.http_interface_scratch")
    table = pa.table(
        {
            "n": pa.array([10, 11], pa.uint64()),
            "name": ["p", "q"],
            "attrs": pa.array([[("a", "b")], []], pa.map_(pa.string(), pa.string())),
        }
    )
    for _ in range(2):
        scratch.insert_arrow(
            "agentaudit.http_interface_scratch",
            table,
            settings={"insert_deduplication_token": "t1"},
        )
    scratch.insert_arrow(
        "agentaudit.http_interface_scratch", table, settings={"insert_deduplication_token": "t2"}
    )
    count = scratch.command("SELECT count() FROM agentaudit.http_interface_scratch")
    assert count == 4


def test_compression_both_ways(server: Server, scratch: Any) -> None:
    status, headers, body = http(
        server,
        {"query": "SELECT 'compressed' FORMAT TabSeparated", "enable_http_compression": "1"},
        headers={"Accept-Encoding": "gzip"},
    )
    assert status == 200
    assert headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(body) == b"compressed\n"
    data = gzip.compress(b'{"n": 99, "name": "gz"}\n')
    status, _, body = http(
        server,
        {"query": "INSERT INTO agentaudit.http_interface_scratch (n, name) FORMAT JSONEachRow"},
        body=data,
        headers={"Content-Encoding": "gzip"},
    )
    assert status == 200, body
    assert (
        scratch.command("SELECT name FROM agentaudit.http_interface_scratch WHERE n = 99") == "gz"
    )


def test_errors_carry_the_code_the_status_and_the_message(server: Server) -> None:
    status, headers, body = http(server, {"query": "SELECT * FROM agentaudit.no_such_table"})
    assert (status, headers.get("X-ClickHouse-Exception-Code")) == (404, "60")
    assert body.startswith(b"Code: 60. DB::Exception:")
    status, headers, _ = http(server, {"query": "SELEC 1"})
    assert (status, headers.get("X-ClickHouse-Exception-Code")) == (400, "62")
    with pytest.raises(DatabaseError) as caught:
        client(server).query("SELECT no_such_function()")
    assert caught.value.code == 46


def test_get_requests_and_readonly_refuse_writes(server: Server) -> None:
    statement = "CREATE TABLE agentaudit.http_interface_never (x UInt8) ENGINE = Memory"
    parts = urlsplit(server.url)
    request = urllib.request.Request(
        f"{parts.scheme}://{parts.hostname}:{parts.port}/?{urlencode({'query': statement})}"
    )
    token = base64.b64encode(f"{parts.username or 'default'}:{parts.password or ''}".encode())
    request.add_header("Authorization", f"Basic {token.decode()}")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.headers["X-ClickHouse-Exception-Code"] == "164"
    with pytest.raises(DatabaseError) as refused:
        client(server).command(statement, settings={"readonly": 2})
    assert refused.value.code == 164


def test_users_passwords_and_a_const_readonly_profile(server: Server) -> None:
    status, headers, _ = http(server, {"query": "SELECT 1"}, user=(READER, "wrong"))
    assert (status, headers.get("X-ClickHouse-Exception-Code")) == (403, "516")
    reader = clickhouse_connect.get_client(dsn=server.reader_dsn, autogenerate_session_id=False)
    assert reader.query("SELECT getSetting('readonly')").result_rows == [(2,)]
    with pytest.raises(DatabaseError) as caught:
        reader.command("CREATE TABLE agentaudit.http_interface_never (x UInt8) ENGINE = Memory")
    assert caught.value.code == 164
    password = urlsplit(server.reader_url or "").password or ""
    status, headers, _ = http(
        server, {"query": "SELECT 1", "readonly": "0"}, user=(READER, password)
    )
    assert headers.get("X-ClickHouse-Exception-Code") == "452"  # SETTING_CONSTRAINT_VIOLATION


def test_a_session_runs_one_query_at_a_time_and_keeps_its_settings(server: Server) -> None:
    session = {"session_id": "agentaudit-test-session", "session_timeout": "30"}
    status, _, _ = http(server, {**session, "query": "SET max_threads = 5"})
    assert status == 200
    _, _, body = http(server, {**session, "query": "SELECT getSetting('max_threads')"})
    assert body == b"5\n"
    answers: list[tuple[int, dict[str, str], bytes]] = []

    def sleeper() -> None:
        answers.append(http(server, {**session, "query": "SELECT sleep(2)"}))

    worker = threading.Thread(target=sleeper)
    worker.start()
    time.sleep(0.5)
    status, headers, _ = http(server, {**session, "query": "SELECT 1"})
    worker.join(30)
    assert (status, headers.get("X-ClickHouse-Exception-Code")) == (500, "373")
    assert answers[0][0] == 200
