"""``POST /v1/query`` under load: refusals run nothing, 503 when full, 504 past the limits.

The admin app served by uvicorn (the real HttpServer) over a real chdb store opened with
small limits: one query runs, one waits, the engine stops a query after 3 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.store import InvestigationLimits, Store
from agentaudit.store.migrations import apply_migrations
from tests.collector.admin.gates import gate
from tests.store.documented_sql import DOCUMENTED
from tests.store.hostile_sql import HOSTILE
from tests.store.slow_sql import slow_query

ADMIN = "responder-secret"
AUTH = {"authorization": f"Bearer {ADMIN}"}
LIMITS = InvestigationLimits(
    max_running=1, max_waiting=1, queue_seconds=5, max_execution_time=3, max_threads=1
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("query-limits") / "store"
    with Store.open(embedded_dsn(directory), limits=LIMITS) as opened:
        apply_migrations(opened)
        yield opened


def _serve(store: Store, **options: Any) -> Iterator[httpx.Client]:
    app = build_admin_app(store, gate=gate(ADMIN), **options)
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=60) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(store: Store) -> Iterator[httpx.Client]:
    yield from _serve(store)


@pytest.fixture(scope="module")
def impatient_api(store: Store) -> Iterator[httpx.Client]:
    """The same store behind a 1 s wall clock (shorter than the engine's 3 s limit)."""
    yield from _serve(store, query_timeout=1.0)


def query(client: httpx.Client, sql: str) -> httpx.Response:
    return client.post("/v1/query", json={"sql": sql}, headers=AUTH)


def in_thread(client: httpx.Client, sql: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        outcome["reply"] = query(client, sql)
        outcome["seconds"] = time.monotonic() - started

    outcome["thread"] = threading.Thread(target=run)
    outcome["thread"].start()
    return outcome


def wait_executed(store: Store, count: int) -> None:
    deadline = time.monotonic() + 10
    while store.investigation_stats["executed"] < count:
        assert time.monotonic() < deadline, "the query did not start"
        time.sleep(0.01)


def test_hostile_corpus_is_403_and_runs_nothing(api: httpx.Client, store: Store) -> None:
    before = store.investigation_stats["executed"]
    for sql, fragment in HOSTILE:
        reply = query(api, sql)
        if not sql.strip():  # no query at all: a bad request body, before the guard
            assert reply.status_code == 400
            continue
        assert reply.status_code == 403, (sql, reply.text)
        error = reply.json()["error"]
        assert error.startswith("refused: ")
        assert fragment in error, (sql, error)
    assert store.investigation_stats["executed"] == before


@pytest.mark.parametrize(("where", "sql"), DOCUMENTED, ids=[w for w, _ in DOCUMENTED])
def test_documented_queries_answer_200(api: httpx.Client, where: str, sql: str) -> None:
    reply = query(api, sql)
    assert reply.status_code == 200, reply.text


def test_one_running_one_waiting_then_503_with_retry_after(api: httpx.Client, store: Store) -> None:
    start = store.investigation_stats["executed"]
    running = in_thread(api, slow_query())
    wait_executed(store, start + 1)
    waiting = in_thread(api, "SELECT 2 AS two")
    time.sleep(0.3)
    started = time.monotonic()
    busy = query(api, "SELECT 3")
    assert time.monotonic() - started < 0.5  # refused at once, not queued
    assert busy.status_code == 503
    assert "too many queries" in busy.json()["error"]
    assert busy.headers["retry-after"].isdigit()
    running["thread"].join(30)
    waiting["thread"].join(30)
    assert running["reply"].status_code == 504
    assert "longer than 3 s" in running["reply"].json()["error"]
    assert waiting["reply"].status_code == 200
    assert waiting["reply"].json()["rows"] == [[2]]


def test_engine_time_limit_answers_504(api: httpx.Client) -> None:
    started = time.monotonic()
    reply = query(api, slow_query())
    assert reply.status_code == 504
    assert "longer than 3 s" in reply.json()["error"]
    assert 2.5 < time.monotonic() - started < 10


def test_wall_clock_answers_504_and_kills_the_query(
    impatient_api: httpx.Client, store: Store
) -> None:
    timed_out = store.investigation_stats["timed_out"]
    started = time.monotonic()
    reply = query(impatient_api, slow_query())
    assert reply.status_code == 504
    assert "took longer than 1 s and was cancelled" in reply.json()["error"]
    assert time.monotonic() - started < 2
    # The query was killed in the engine (not left to run to the 3 s limit): the one slot
    # is free again at once.
    started = time.monotonic()
    assert query(impatient_api, "SELECT 7 AS seven").json()["rows"] == [[7]]
    assert time.monotonic() - started < 1
    assert store.investigation_stats["timed_out"] == timed_out + 1
