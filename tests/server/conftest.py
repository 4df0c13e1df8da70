"""The server-mode suite: the store path over ClickHouse's HTTP interface.

Every test here talks to a ClickHouse server through the real clickhouse-connect HTTP
client, the way the collector, the dashboards and the CLI do in server mode:

* by default, to :mod:`tests.server.chdb_http_endpoint` (ClickHouse's HTTP protocol served
  from chDB, in a process of its own, started once per session): ``server`` is one server,
  ``cluster_server`` a one-shard cluster named ``agentaudit_test`` migrated with
  ``agentaudit migrate --cluster`` (as a real subprocess);
* to a real server when ``AGENTAUDIT_TEST_CLICKHOUSE_URL`` is set (e.g.
  ``http://agentaudit:PASSWORD@127.0.0.1:8123`` after ``docker compose up clickhouse``;
  docs/server.md), and to a real cluster's node when
  ``AGENTAUDIT_TEST_CLICKHOUSE_CLUSTER_URL`` is set (cluster ``agentaudit``, the compose
  ``cluster`` profile). **The tests empty every table of database ``agentaudit`` there:
  point them at a disposable server only.**

Tests that need what only the endpoint offers (its request log, extra users, TLS) skip on
a real server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

import pytest

from agentaudit.config.dsn import parse_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations, create_databases

ROOT = Path(__file__).resolve().parents[2]
SERVER_ENV = "AGENTAUDIT_TEST_CLICKHOUSE_URL"
CLUSTER_ENV = "AGENTAUDIT_TEST_CLICKHOUSE_CLUSTER_URL"
TEST_CLUSTER = "agentaudit_test"
READER = "agentaudit_investigator"
READER_PROFILE = (
    "readonly=2!,max_execution_time=60<,max_memory_usage=2147483648<,"
    "max_result_rows=100000<,result_overflow_mode=break"
)


@dataclass
class Server:
    """A ClickHouse server (or a cluster's node) the suite runs against."""

    url: str
    """``http(s)://user:pass@host:port`` without a database."""
    emulated: bool
    cluster: str | None = None
    reader_url: str | None = None
    process: subprocess.Popen[str] | None = None

    @property
    def dsn(self) -> str:
        return f"{self.url}/agentaudit"

    @property
    def reader_dsn(self) -> str:
        assert self.reader_url is not None
        return f"{self.reader_url}/agentaudit"

    def requests(self) -> list[dict[str, Any]]:
        """What the endpoint served, oldest first (emulated servers only)."""
        parts = urlsplit(self.url)
        plain = urlunsplit(parts._replace(netloc=parts.hostname + f":{parts.port}"))
        with urlopen(f"{plain}/.chdb-http-endpoint/requests", timeout=10) as answer:
            return list(json.loads(answer.read()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_endpoint(data: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the chDB HTTP endpoint in its own process; returns it and its root URL."""
    data.mkdir(parents=True, exist_ok=True)
    errors = (data.parent / f"{data.name}.stderr").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.server.chdb_http_endpoint", "--data", str(data), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        log = (data.parent / f"{data.name}.stderr").read_text()
        raise RuntimeError(f"the chDB HTTP endpoint did not start: {log}")
    return process, str(json.loads(line)["url"])


def _with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}:{parts.port}"))


def _real_reader(url: str) -> str:
    """On a real server: the read-only investigator user of docs/sql.md (test password)."""
    import clickhouse_connect

    password = secrets.token_hex(16)
    client = clickhouse_connect.get_client(dsn=url, autogenerate_session_id=False)
    try:
        client.command(
            "CREATE SETTINGS PROFILE OR REPLACE agentaudit_investigator SETTINGS readonly = 2 "
            "CONST, max_execution_time = 60 MAX 60, max_memory_usage = 2147483648 MAX "
            "2147483648, max_result_rows = 100000 MAX 100000, result_overflow_mode = 'break'"
        )
        client.command(
            f"CREATE USER OR REPLACE {READER} IDENTIFIED WITH sha256_password BY "
            f"'{password}' DEFAULT DATABASE agentaudit SETTINGS PROFILE 'agentaudit_investigator'"
        )
        client.command(f"GRANT SELECT ON agentaudit.* TO {READER}")
    finally:
        client.close()
    return _with_user(url, READER, password)


def _root(url: str) -> str:
    parts = urlsplit(url.rstrip("/"))
    return urlunsplit(parts._replace(path=""))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ClickHouse server: the endpoint, or ``AGENTAUDIT_TEST_CLICKHOUSE_URL``."""
    real = os.environ.get(SERVER_ENV)
    if real:
        url = _root(real)
        yield Server(url, emulated=False, reader_url=_real_reader(url))
        return
    password = secrets.token_hex(8)
    process, url = start_endpoint(
        tmp_path_factory.mktemp("server") / "data",
        "--user",
        f"{READER}:{password}:{READER_PROFILE}",
    )
    endpoint = Server(url, emulated=True, reader_url=_with_user(url, READER, password))
    endpoint.process = process
    try:
        # As CLICKHOUSE_DB does for the compose service: a client names its database.
        create_databases(parse_dsn(endpoint.dsn))
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture(scope="session")
def cluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A cluster migrated by ``agentaudit migrate --cluster`` run as a subprocess."""
    real = os.environ.get(CLUSTER_ENV)
    if real:
        found = Server(_root(real), emulated=False, cluster="agentaudit")
    else:
        process, url = start_endpoint(
            tmp_path_factory.mktemp("cluster") / "data", "--cluster", TEST_CLUSTER
        )
        found = Server(url, emulated=True, cluster=TEST_CLUSTER, process=process)
    try:
        migrate = run_cli("migrate", "--clickhouse", found.dsn, "--cluster", str(found.cluster))
        assert migrate.returncode == 0, migrate.stderr
        yield found
    finally:
        found.stop()


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m agentaudit ARGS`` as a real process, without our environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTAUDIT_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "agentaudit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def empty_tables(store: Store) -> None:
    """Remove every row of the audit tables (the migrations ledger stays)."""
    layout = store.layout
    database = "agentaudit_local" if layout.clustered else "agentaudit"
    tables = store.query(
        "SELECT name FROM system.tables WHERE database = {db:String} "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations'",
        {"db": database},
    ).rows
    on_cluster = f" ON CLUSTER '{layout.cluster}'" if layout.clustered else ""
    for (name,) in tables:
        store.command(f"TRUNCATE TABLE {database}.`{name}`{on_cluster} SYNC")


def open_store(server: Server, **options: Any) -> Store:
    """A migrated, empty store on ``server``."""
    store = Store.open(server.dsn, **options)
    try:
        apply_migrations(store)
        empty_tables(store)
    except BaseException:
        store.close()
        raise
    return store


@pytest.fixture
def server_store(server: Server) -> Iterator[Store]:
    """The store of ``server``: migrated, emptied, closed after the test."""
    with open_store(server) as store:
        yield store


@pytest.fixture(params=["server", "cluster"])
def any_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The store on one server, then on the cluster (Distributed tables)."""
    found: Server = request.getfixturevalue(
        "server" if request.param == "server" else "cluster_server"
    )
    with open_store(found) as store:
        yield store
