"""collector.admin_api served by the real HttpServer (uvicorn) over a real store.

One store and one server per module (starting them per test would dominate the run
time), so tests use unique values instead of counting every row of a table.
"""

# ruff: noqa: S608 - investigator SQL takes literals; the spliced values are uuids

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentaudit.collector.admin.api import MAX_BODY_BYTES, build_admin_app
from agentaudit.collector.errors import BindError
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.collector.admin.gates import gate

ADMIN = "responder-secret"
AGENT = "agent-secret"
AUTH = {"authorization": f"Bearer {ADMIN}"}


def serve(
    store: Store, admin_token: str | None, agent_token: str | None = None, **options: Any
) -> Iterator[httpx.Client]:
    app = build_admin_app(
        store,
        gate=gate(admin_token, agent_token),
        health=lambda: {"spans_written": 7},
        **options,
    )
    server = HttpServer(
        app,
        host="127.0.0.1",
        port=0,
        what="the admin API",
        flag="--api-port",
    )
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """This module's migrated store (overrides the per-test one from conftest)."""
    directory: Path = tmp_path_factory.mktemp("admin") / "store"
    with Store.open(embedded_dsn(directory)) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture(scope="module")
def api(store: Store) -> Iterator[httpx.Client]:
    """The admin API with a responder token configured."""
    yield from serve(store, ADMIN)


@pytest.fixture(scope="module")
def open_api(store: Store) -> Iterator[httpx.Client]:
    """The admin API with no token (a loopback-only deployment)."""
    yield from serve(store, None)


@pytest.fixture(scope="module")
def agent_only_api(store: Store) -> Iterator[httpx.Client]:
    """The admin API with only the agents' token configured."""
    yield from serve(store, None, AGENT)


@pytest.fixture(scope="module")
def gated_api(store: Store) -> Iterator[httpx.Client]:
    """The admin API authenticating /v1/query through the admin gate, as the collector does."""
    yield from serve(store, ADMIN, AGENT)


def unique() -> str:
    return uuid.uuid4().hex


def query(client: httpx.Client, sql: str, **extra: Any) -> httpx.Response:
    return client.post("/v1/query", json={"sql": sql, **extra}, headers=AUTH)


# --- health and auth -------------------------------------------------------------------


def test_healthz_is_open_even_with_a_token(api: httpx.Client) -> None:
    reply = api.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "spans_written": 7}


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": ADMIN}],
)
def test_query_needs_the_admin_token(api: httpx.Client, headers: dict[str, str]) -> None:
    reply = api.post("/v1/query", json={"sql": "SELECT 1"}, headers=headers)
    assert reply.status_code == 401
    assert "AGENTAUDIT_ADMIN_TOKEN" in reply.json()["error"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"authorization": f"Bearer {AGENT}"}, 403), ({"authorization": "Bearer x"}, 401)],
)
def test_with_only_the_agent_token_configured_nobody_can_query(
    agent_only_api: httpx.Client, headers: dict[str, str], status: int
) -> None:
    reply = agent_only_api.post("/v1/query", json={"sql": "SELECT 1"}, headers=headers)
    assert reply.status_code == status
    assert agent_only_api.get("/healthz").status_code == 200


def test_through_the_gate_agents_get_403_and_others_401(gated_api: httpx.Client) -> None:
    body = {"sql": "SELECT 1 AS one"}
    assert gated_api.post("/v1/query", json=body).status_code == 401
    assert gated_api.post("/v1/query", json=body, headers={"authorization": "x"}).status_code == 401
    as_agent = gated_api.post("/v1/query", json=body, headers={"authorization": f"Bearer {AGENT}"})
    assert as_agent.status_code == 403
    assert "agents may not" in as_agent.json()["error"]
    reply = gated_api.post("/v1/query", json=body, headers=AUTH)
    assert reply.json() == {"columns": ["one"], "rows": [[1]]}


def test_no_token_configured_means_open(open_api: httpx.Client) -> None:
    reply = open_api.post("/v1/query", json={"sql": "SELECT 1 AS one"})
    assert reply.status_code == 200
    assert reply.json() == {"columns": ["one"], "rows": [[1]]}


# --- queries ---------------------------------------------------------------------------


def test_query_returns_columns_and_rows(api: httpx.Client, store: Store) -> None:
    rid = unique()
    store.command(
        "INSERT INTO agentaudit.revocations (id, requested_at, target) "
        "VALUES ({id:String}, '2026-01-02 03:04:05.678', 'agent')",
        {"id": rid},
    )
    reply = query(
        api,
        f"SELECT id, requested_at, target, results FROM agentaudit.revocations WHERE id = '{rid}'",
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {
        "columns": ["id", "requested_at", "target", "results"],
        "rows": [[rid, "2026-01-02T03:04:05.678000", "agent", {}]],
    }


def test_unqualified_tables_are_the_audit_tables(api: httpx.Client, store: Store) -> None:
    rid = unique()
    store.command("INSERT INTO agentaudit.revocations (id) VALUES ({id:String})", {"id": rid})
    reply = query(api, f"SELECT id FROM revocations WHERE id = '{rid}'")
    assert reply.json() == {"columns": ["id"], "rows": [[rid]]}


def test_query_parameters_are_refused(api: httpx.Client) -> None:
    # Investigator queries take literals: {name:Type} is refused by the guard, and a
    # "parameters" object is refused before anything runs.
    reply = query(api, "SELECT {v:String} AS v")
    assert reply.status_code == 403
    assert "query parameters" in reply.json()["error"]
    reply = query(api, "SELECT 1", parameters={"v": "x"})
    assert reply.status_code == 400
    assert '"parameters"' in reply.json()["error"]
    assert query(api, "SELECT 1 AS one", parameters={}).status_code == 200


def test_literals_that_look_like_attacks_are_values(api: httpx.Client) -> None:
    hostile = "'; DROP TABLE agentaudit.revocations; --"
    escaped = hostile.replace("'", "\\'")
    reply = query(api, f"SELECT '{escaped}' AS v")
    assert reply.status_code == 200
    assert reply.json()["rows"] == [[hostile]]
    assert query(api, "SELECT count() > -1 FROM revocations").json()["rows"] == [[True]]


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("DROP TABLE agentaudit.tool_calls", "DROP statements are not allowed"),
        ("INSERT INTO agentaudit.revocations (id) VALUES ('x')", "INSERT statements"),
        ("ALTER TABLE agentaudit.tool_calls DELETE WHERE 1", "ALTER statements"),
        ("SELECT 1 SETTINGS readonly = 0", "SETTINGS is not allowed"),
        ("SELEC 1", "not valid ClickHouse SQL"),
    ],
)
def test_refused_query_is_403_naming_what_is_not_allowed(
    api: httpx.Client, sql: str, fragment: str
) -> None:
    reply = query(api, sql)
    assert reply.status_code == 403
    assert reply.json()["error"].startswith("refused: ")
    assert fragment in reply.json()["error"]
    assert query(api, "SELECT count() >= 0 FROM tool_calls").json()["rows"] == [[True]]


@pytest.mark.parametrize(
    "sql", ["SELECT no_such_column FROM tool_calls", "SELECT * FROM agentaudit.no_such_table"]
)
def test_query_clickhouse_rejects_is_422(api: httpx.Client, sql: str) -> None:
    reply = query(api, sql)
    assert reply.status_code == 422
    assert reply.json()["error"].startswith("query failed")


# --- bad request bodies ----------------------------------------------------------------


def test_wrong_content_type_is_415(api: httpx.Client) -> None:
    reply = api.post(
        "/v1/query", content=b'{"sql": "SELECT 1"}', headers={**AUTH, "content-type": "text/plain"}
    )
    assert reply.status_code == 415
    assert "application/json" in reply.json()["error"]


def test_content_type_with_charset_is_accepted(api: httpx.Client) -> None:
    reply = api.post(
        "/v1/query",
        content=b'{"sql": "SELECT 1"}',
        headers={**AUTH, "content-type": "application/json; charset=utf-8"},
    )
    assert reply.status_code == 200


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'["SELECT 1"]', "JSON object"),
        (b'"SELECT 1"', "JSON object"),
        (b"{}", '{"sql"'),
        (b'{"sql": ""}', '{"sql"'),
        (b'{"sql": "   "}', '{"sql"'),
        (b'{"sql": 42}', '{"sql"'),
        (b'{"query": "SELECT 1"}', '{"sql"'),
        (b'{"sql": "SELECT 1", "parameters": [1]}', '"parameters"'),
        (b'{"sql": "SELECT 1", "parameters": {"a": 1}}', '"parameters"'),
    ],
)
def test_bad_body_is_400(api: httpx.Client, body: bytes, needle: str) -> None:
    reply = api.post(
        "/v1/query", content=body, headers={**AUTH, "content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert needle in reply.json()["error"]


def test_oversized_body_is_413(api: httpx.Client) -> None:
    sql = "SELECT '" + "x" * MAX_BODY_BYTES + "'"
    reply = query(api, sql)
    assert reply.status_code == 413


def test_oversized_chunked_body_is_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"sql": "SELECT \''
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b"'\"}"

    reply = api.post(
        "/v1/query", content=chunks(), headers={**AUTH, "content-type": "application/json"}
    )
    assert reply.status_code == 413


def test_declared_oversized_body_is_refused_before_it_is_sent(api: httpx.Client) -> None:
    """A client announcing a huge body gets 413 at once; the server does not wait for it."""
    host, port = str(api.base_url.host), int(api.base_url.port or 0)
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/query HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {ADMIN}\r\n".encode()
            + f"content-length: {100 * MAX_BODY_BYTES}\r\n\r\n".encode()
        )
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413")


# --- routing --------------------------------------------------------------------------


def test_unknown_route_and_method(api: httpx.Client) -> None:
    assert api.get("/v1/nothing").status_code == 404
    assert api.get("/v1/query", headers=AUTH).status_code == 405


# --- the HTTP server -------------------------------------------------------------------


def test_http_server_port_in_use_is_a_bind_error(store: Store, busy_port: int) -> None:
    app = build_admin_app(store, gate=gate(None))
    with pytest.raises(BindError, match=f"127.0.0.1:{busy_port}.*--api-port"):
        HttpServer(app, host="127.0.0.1", port=busy_port, what="the admin API", flag="--api-port")


def test_http_server_stop_releases_the_port(store: Store) -> None:
    app = build_admin_app(store, gate=gate(None))
    first = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    first.start()
    port = first.port
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
    first.stop()
    second = HttpServer(app, host="127.0.0.1", port=port, what="the admin API", flag="--api-port")
    second.start()
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30)
        assert json.loads(reply.content)["status"] == "ok"
    finally:
        second.stop()
