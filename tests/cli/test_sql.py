"""collector.sql_client: output formats, the admin-API client and direct store queries."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import http.server
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from agentaudit.cli.sql import (
    api_is_up,
    format_result,
    query_api,
    query_store,
)
from agentaudit.client import AdminApiError, AdminApiRefused
from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.errors import ExitCode
from agentaudit.store import QueryFailed, QueryRefused, QueryResult, Store, StoreLocked
from tests.collector.admin.gates import gate

ADMIN = "responder-secret"

SAMPLE = QueryResult(
    ("tool", "ts", "scopes", "attrs", "approver", "n"),
    [
        (
            "send_email",
            dt.datetime(2026, 1, 2, 3, 4, 5, 678000),
            ["mail.send"],
            {"k": "v"},
            None,
            1,
        ),
        ('say "hi", ok', dt.datetime(2026, 1, 2, 3, 4, 6), [], {}, "alice", 2),
    ],
)


# --- formats ---------------------------------------------------------------------------


def test_json_is_one_array_of_row_objects() -> None:
    rows = json.loads(format_result(SAMPLE, "json"))
    assert rows == [
        {
            "tool": "send_email",
            "ts": "2026-01-02T03:04:05.678000",
            "scopes": ["mail.send"],
            "attrs": {"k": "v"},
            "approver": None,
            "n": 1,
        },
        {
            "tool": 'say "hi", ok',
            "ts": "2026-01-02T03:04:06",
            "scopes": [],
            "attrs": {},
            "approver": "alice",
            "n": 2,
        },
    ]


def test_json_of_no_rows_is_an_empty_array() -> None:
    assert json.loads(format_result(QueryResult(("a",), []), "json")) == []


def test_json_serialises_clickhouse_value_types() -> None:
    value_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    result = QueryResult(
        ("date", "dec", "uuid", "raw", "tup"),
        [(dt.date(2026, 1, 2), decimal.Decimal("1.50"), value_uuid, b"\xffab", (1, "x"))],
    )
    (row,) = json.loads(format_result(result, "json"))
    assert row == {
        "date": "2026-01-02",
        "dec": "1.50",
        "uuid": str(value_uuid),
        "raw": "\ufffdab",
        "tup": [1, "x"],
    }


def test_csv_has_a_header_and_quotes_properly() -> None:
    text = format_result(SAMPLE, "csv")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(SAMPLE.columns)
    assert parsed[1] == [
        "send_email",
        "2026-01-02T03:04:05.678000",
        '["mail.send"]',
        '{"k": "v"}',
        "NULL",
        "1",
    ]
    assert parsed[2][0] == 'say "hi", ok'
    assert len(parsed) == 3
    assert not text.endswith("\n")


def test_table_is_aligned_and_counts_rows() -> None:
    lines = format_result(SAMPLE, "table").splitlines()
    assert lines[0].split() == list(SAMPLE.columns)
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith("send_email  ")
    assert lines[-1] == "(2 rows)"
    # Columns line up: every value starts where its header starts.
    start = lines[0].index("ts")
    assert lines[2][start:].startswith("2026-01-02T03:04:05.678000 ")
    assert lines[3][start:].startswith("2026-01-02T03:04:06 ")


def test_scalar_cells_are_plain_and_containers_are_json() -> None:
    result = QueryResult(
        ("d", "dec", "b", "f", "t"),
        [(dt.date(2026, 1, 2), decimal.Decimal("1.50"), True, 0.5, (1, "x"))],
    )
    parsed = list(csv.reader(io.StringIO(format_result(result, "csv"))))
    assert parsed[1] == ["2026-01-02", "1.50", "true", "0.5", '[1, "x"]']


def test_table_truncates_long_cells_and_counts_one_row() -> None:
    result = QueryResult(("v",), [("x" * 500,)])
    lines = format_result(result, "table").splitlines()
    assert len(lines[2]) == 60
    assert lines[2].endswith("…")
    assert lines[-1] == "(1 row)"


def test_table_of_no_rows() -> None:
    assert format_result(QueryResult(("a", "b"), []), "table").splitlines()[-1] == "(0 rows)"


# --- through the admin API -------------------------------------------------------------


@pytest.fixture
def api_url(store: Store) -> Iterator[str]:
    server = HttpServer(
        build_admin_app(store, gate=gate(ADMIN)),
        host="127.0.0.1",
        port=0,
        what="the admin API",
        flag="--api-port",
    )
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_query_api_returns_a_query_result(api_url: str, store: Store) -> None:
    store.command("INSERT INTO agentaudit.revocations (id, target) VALUES ('r1', 'agent')")
    result = query_api(api_url + "/", "SELECT id, target FROM agentaudit.revocations", token=ADMIN)
    assert result == QueryResult(("id", "target"), [("r1", "agent")])
    assert api_is_up(api_url)


def test_query_api_without_token_says_which_variable(api_url: str) -> None:
    with pytest.raises(AdminApiRefused, match="AGENTAUDIT_ADMIN_TOKEN") as caught:
        query_api(api_url, "SELECT 1", token=None)
    assert caught.value.exit_code == ExitCode.REFUSED
    with pytest.raises(AdminApiRefused, match="AGENTAUDIT_ADMIN_TOKEN"):
        query_api(api_url, "SELECT 1", token="wrong")


def test_query_api_write_is_refused(api_url: str) -> None:
    with pytest.raises(AdminApiRefused, match="DROP statements are not allowed") as caught:
        query_api(api_url, "DROP TABLE agentaudit.tool_calls", token=ADMIN)
    assert caught.value.exit_code == ExitCode.REFUSED


def test_query_api_syntax_error_is_refused(api_url: str) -> None:
    with pytest.raises(AdminApiRefused, match="not valid ClickHouse SQL"):
        query_api(api_url, "SELEC 1", token=ADMIN)


def test_query_api_query_clickhouse_rejects_is_an_api_error(api_url: str) -> None:
    with pytest.raises(AdminApiError, match="query failed") as caught:
        query_api(api_url, "SELECT no_such_column FROM tool_calls", token=ADMIN)
    assert not isinstance(caught.value, AdminApiRefused)


def test_unreachable_api_is_an_api_error(free_port: Callable[[], int]) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(AdminApiError, match=f"the admin API at {url} is unreachable"):
        query_api(url, "SELECT 1", token=None, timeout=5)
    assert not api_is_up(url)


@pytest.mark.parametrize("url", ["127.0.0.1:4320", "ftp://127.0.0.1", "file:///etc/passwd"])
def test_non_http_api_url_is_refused(url: str) -> None:
    with pytest.raises(AdminApiError, match="not an http"):
        query_api(url, "SELECT 1", token=None)
    assert not api_is_up(url)


# --- directly on a store ---------------------------------------------------------------


def test_query_store_migrates_and_reads(tmp_path: Path) -> None:
    dsn = embedded_dsn(tmp_path / "store")
    result = query_store(dsn, "SELECT count() AS n FROM agentaudit.tool_calls")
    assert result == QueryResult(("n",), [(0,)])
    # The lock was released: a second query opens the store again.
    assert query_store(dsn, "SELECT 1 AS one").rows == [(1,)]


def test_query_store_refuses_writes(tmp_path: Path) -> None:
    dsn = embedded_dsn(tmp_path / "store")
    with pytest.raises(QueryRefused, match="DROP statements are not allowed"):
        query_store(dsn, "DROP TABLE agentaudit.tool_calls")
    assert query_store(dsn, "SELECT count() FROM tool_calls").rows == [(0,)]


def test_query_store_reports_what_clickhouse_rejects(tmp_path: Path) -> None:
    with pytest.raises(QueryFailed, match="no_such_column"):
        query_store(embedded_dsn(tmp_path / "store"), "SELECT no_such_column FROM tool_calls")


def test_query_store_on_a_held_store_is_locked(store: Store, store_dir: Path) -> None:
    with pytest.raises(StoreLocked):
        query_store(embedded_dsn(store_dir), "SELECT 1")


def test_json_of_a_real_store_result(tmp_path: Path) -> None:
    result = query_store(
        embedded_dsn(tmp_path / "store"),
        "SELECT toDateTime64('2026-01-02 03:04:05.123', 3, 'UTC') AS t, "
        "toDecimal64(1.5, 2) AS d, [1, 2] AS a, map('k', 'v') AS m, NULL AS n, "
        "toUUID('12345678-1234-5678-1234-567812345678') AS u, toIPv4('10.0.0.1') AS ip",
    )
    (row,) = json.loads(format_result(result, "json"))
    assert row["t"].startswith("2026-01-02T03:04:05.123")
    assert row["d"] == "1.50"
    assert row["a"] == [1, 2]
    assert row["m"] == {"k": "v"}
    assert row["n"] is None
    assert row["u"] == "12345678-1234-5678-1234-567812345678"
    assert row["ip"] == "10.0.0.1"


# --- something else answers at the API URL --------------------------------------------


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Answers every POST with a fixed status and body (a server that is not agentaudit)."""

    replies: ClassVar[dict[str, tuple[int, bytes]]] = {
        "/html/v1/query": (200, b"<html>dashboard</html>"),
        "/list/v1/query": (200, b"[1, 2]"),
        "/object/v1/query": (200, b'{"status": "ok"}'),
        "/error-list/v1/query": (500, b"[1]"),
        "/error-html/v1/query": (502, b"<html>bad gateway</html>"),
    }

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        status, body = self.replies.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def impostor() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("path", ["/html", "/list", "/object", "/error-list", "/error-html"])
def test_a_server_that_is_not_the_admin_api_is_an_api_error(impostor: str, path: str) -> None:
    with pytest.raises(AdminApiError, match=r"127\.0\.0\.1"):
        query_api(impostor + path, "SELECT 1", token=None, timeout=10)
