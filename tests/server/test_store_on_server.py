"""The store path on a ClickHouse server: migrations, Arrow inserts with deduplication
tokens, the writer and the audit chain, ``agentaudit verify``, read-only and investigator
queries, and what server mode does differently (no HTTP session, synchronous
deduplicated inserts, the reader user, TLS).

``any_store`` runs a test on one server and again on the cluster (Distributed tables over
the local ones, written and read as the collector does).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.writer import Writer
from agentaudit.config.dsn import parse_dsn
from agentaudit.store import (
    InvestigationLimits,
    QueryRefused,
    QueryTimeout,
    ReadOnlyViolation,
    Store,
    StoreError,
    Ticket,
)
from agentaudit.store.audit_chain import AuditChain, verify_chain
from agentaudit.store.migrations import apply_migrations, create_databases, load_migrations
from tests.conftest import SpanFactory
from tests.server.conftest import Server, open_store, run_cli, start_endpoint
from tests.store.documented_sql import DOCUMENTED
from tests.store.hostile_sql import HOSTILE
from tests.store.slow_sql import slow_query

DESCRIBE = "SELECT name, type, default_kind, default_expression, compression_codec "


def _columns(store: Store, table: str, database: str = "agentaudit") -> list[tuple[Any, ...]]:
    return store.query(
        f"{DESCRIBE}FROM system.columns WHERE database = {{d:String}} AND table = {{t:String}} "
        "ORDER BY position",
        {"d": database, "t": table},
    ).rows


def _tables(store: Store, database: str = "agentaudit") -> list[str]:
    return [
        str(r[0])
        for r in store.query(
            "SELECT name FROM system.tables WHERE database = {d:String} ORDER BY name",
            {"d": database},
        ).rows
    ]


def _count(store: Store, table: str = "tool_calls") -> int:
    return int(store.query(f"SELECT count() FROM agentaudit.{table}").rows[0][0])  # noqa: S608


# --- migrations ------------------------------------------------------------------------


def test_migrations_are_recorded_once_and_match_the_embedded_schema(
    any_store: Store, store: Store
) -> None:
    """Every migration applied once; every table column for column as in chdb."""
    assert apply_migrations(any_store) == []
    ledger = any_store.query("SELECT version FROM agentaudit.schema_migrations").rows
    assert sorted(int(r[0]) for r in ledger) == [m.version for m in load_migrations()]
    assert _tables(any_store) == _tables(store)
    for table in _tables(store):
        assert _columns(any_store, table) == _columns(store, table), table
    if any_store.layout.clustered:  # and the Replicated tables under the Distributed ones
        local = _tables(any_store, "agentaudit_local")
        stored = store.query(
            "SELECT name FROM system.tables WHERE database = 'agentaudit' AND engine LIKE "
            "'%MergeTree' AND name != 'schema_migrations' ORDER BY name"
        ).rows
        assert local == [str(r[0]) for r in stored]
        for table in local:
            assert _columns(any_store, table, "agentaudit_local") == _columns(store, table)


# --- Arrow inserts and deduplication ---------------------------------------------------


def _calls_table(batch: str, count: int = 3) -> pa.Table:
    ts = [1_700_000_000_000_000_000 + i for i in range(count)]
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            "trace_id": [f"{i:032x}" for i in range(count)],
            "span_id": [f"{i:016x}" for i in range(count)],
            "agent_id": ["agent-1"] * count,
            "session_id": [f"sess-{i % 2}" for i in range(count)],
            "tool_name": ["send_email"] * count,
            "resource_ids": [["mailbox:a@example.com"]] * count,
            "attributes": pa.array([[("k", "v")]] * count, pa.map_(pa.string(), pa.string())),
            "batch_id": [batch] * count,
        }
    )


def test_the_same_token_twice_stores_one_copy(any_store: Store) -> None:
    rows = _calls_table("batch-1")
    any_store.insert_arrow("agentaudit.tool_calls", rows, dedup_token="batch-1")
    any_store.insert_arrow("agentaudit.tool_calls", rows, dedup_token="batch-1")
    assert _count(any_store) == 3
    any_store.insert_arrow("agentaudit.tool_calls", rows, dedup_token="batch-2")
    assert _count(any_store) == 6
    stored = any_store.query(
        "SELECT attributes['k'], resource_ids FROM agentaudit.tool_calls LIMIT 1"
    ).rows
    assert stored == [("v", ["mailbox:a@example.com"])]


def test_inserts_are_synchronous_and_deduplicated_whatever_the_profile(
    server: Server, server_store: Store
) -> None:
    if not server.emulated:
        pytest.skip("reads the endpoint's request log")
    seen = len(server.requests())
    server_store.insert_arrow("agentaudit.tool_calls", _calls_table("b"), dedup_token="b")
    inserts = [r for r in server.requests()[seen:] if r["query"].startswith("INSERT")]
    assert inserts
    settings = inserts[-1]["settings"]
    assert settings["insert_deduplication_token"] == "b"
    assert (settings["async_insert"], settings["insert_deduplicate"]) == ("0", "1")
    assert "session_id" not in settings


# --- the writer, the chain and verify --------------------------------------------------


def _seal(store: Store) -> None:
    """Seal the tables the batch chain does not cover, as a collector does at shutdown."""
    try:
        from agentaudit.store.evidence.seal import Sealer
    except ImportError:  # a tree without the evidence tables: verify checks batches only
        return
    Sealer(store, "server-suite").seal(grace_seconds=0)


def _write_batches(store: Store, tmp_path: Path, make_span: SpanFactory) -> list[str]:
    """Three batches of tool calls through the collector's real write path."""
    wal = Wal(tmp_path / "wal", fsync=False)
    writer = Writer(store, batch_rows=4, wal=wal, chain=AuditChain(store))
    pipeline = Pipeline(writer, wal=wal)
    sessions = ["sess-a", "sess-b", "sess-c", ""]
    spans = []
    for i in range(11):
        span = make_span()
        attributes = {**span.attributes, "session.id": sessions[i % 4]}
        spans.append(make_span(attributes=attributes))
    pipeline.accept(spans)
    writer.flush()
    wal.close()
    _seal(store)
    rows = store.query("SELECT batch_id FROM agentaudit.audit_chain ORDER BY seq").rows
    return [str(r[0]) for r in rows]


def test_written_batches_verify_and_tampering_is_named(
    any_store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    batches = _write_batches(any_store, tmp_path, make_span)
    assert len(batches) == 3
    assert _count(any_store) == 11
    assert verify_chain(any_store) == []
    dsn = any_store.dsn.raw
    intact = run_cli("verify", "--clickhouse", dsn)
    if any_store.layout.clustered and intact.returncode == 3:
        # The sealer of the other audit tables does not know a cluster's Distributed
        # tables yet (agentaudit/store/evidence/_tables.py): "not fully verifiable".
        assert "nothing changed in what could be checked (3 batch link(s)" in intact.stdout
    else:
        assert intact.returncode == 0, intact.stdout + intact.stderr
        assert "chain intact (3 " in intact.stdout
    target = any_store.layout.ddl_target("tool_calls")
    any_store.command(
        f"ALTER TABLE {target} UPDATE tool_name = 'changed' WHERE batch_id = {{b:String}} "
        "SETTINGS mutations_sync = 2",
        {"b": batches[1]},
    )
    problems = verify_chain(any_store)
    assert [(p.kind, p.batch_id) for p in problems] == [("modified", batches[1])]
    tampered = run_cli("verify", "--clickhouse", dsn)
    assert tampered.returncode == 6, tampered.stdout + tampered.stderr
    assert batches[1] in tampered.stdout


def test_two_collectors_write_one_cluster_each_with_its_wal_and_chain(
    cluster_server: Server, tmp_path: Path, make_span: SpanFactory
) -> None:
    """Two collectors' write paths (own store client, WAL and chain), at the same time,
    through the Distributed tables: every span once, two chains, both intact."""
    with open_store(cluster_server) as first, Store.open(cluster_server.dsn) as second:
        assert first.layout.clustered
        assert second.layout.clustered

        def collect(store: Store, name: str) -> None:
            wal = Wal(tmp_path / name, fsync=False)
            writer = Writer(store, batch_rows=5, wal=wal, chain=AuditChain(store))
            pipeline = Pipeline(writer, wal=wal)
            for i in range(4):
                attributes = {**make_span().attributes, "session.id": f"{name}-{i % 2}"}
                pipeline.accept([make_span(attributes=attributes) for _ in range(5)])
            writer.flush()
            wal.close()

        with ThreadPoolExecutor(2) as pool:
            for done in [pool.submit(collect, s, n) for s, n in ((first, "c1"), (second, "c2"))]:
                done.result()
        assert _count(first) == 40
        distinct = first.query(
            "SELECT uniqExact(trace_id, span_id), uniqExact(chain_id) FROM agentaudit.tool_calls "
            "INNER JOIN agentaudit.audit_chain USING (batch_id)"
        ).rows
        assert distinct == [(40, 2)]
        assert verify_chain(first) == []


# --- reads ----------------------------------------------------------------------------


def test_read_only_refuses_writes_and_reads(server_store: Store) -> None:
    with pytest.raises(ReadOnlyViolation):
        server_store.read_only("INSERT INTO agentaudit.revocations (id) VALUES ('x')")
    with pytest.raises(ReadOnlyViolation):
        server_store.read_only("DROP TABLE agentaudit.revocations")
    assert server_store.read_only("SELECT count() FROM agentaudit.revocations").rows == [(0,)]


def test_hostile_investigations_are_refused_and_run_nothing(server_store: Store) -> None:
    before = server_store.investigation_stats["executed"]
    for sql, fragment in HOSTILE:
        with pytest.raises(QueryRefused) as refused:
            server_store.investigate(sql)
        assert fragment in str(refused.value), sql
    assert server_store.investigation_stats["executed"] == before


@pytest.mark.parametrize(("where", "sql"), DOCUMENTED, ids=[w for w, _ in DOCUMENTED])
def test_documented_investigations_run(any_store: Store, where: str, sql: str) -> None:
    any_store.investigate(sql)


def test_investigations_send_readonly_limits_and_an_id(server: Server, server_store: Store) -> None:
    if not server.emulated:
        pytest.skip("reads the endpoint's request log")
    seen = len(server.requests())
    assert server_store.investigate("SELECT count() AS n FROM tool_calls").rows == [(0,)]
    (ran,) = [r for r in server.requests()[seen:] if r["query"].startswith("SELECT count()")]
    assert ran["settings"]["readonly"] == "2"
    assert ran["settings"]["max_result_rows"] == "100000"
    assert ran["query_id"].startswith("agentaudit-investigation-")


def test_engine_limit_and_cancel_stop_an_investigation(server: Server) -> None:
    limits = InvestigationLimits(max_running=1, max_execution_time=2, max_threads=1)
    with open_store(server, limits=limits) as store:
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match="longer than 2 s"):
            store.investigate(slow_query())
        assert time.monotonic() - started < 15
    with open_store(server, limits=InvestigationLimits(max_running=1, max_threads=1)) as store:
        ticket = Ticket()
        threading.Timer(1.0, ticket.cancel).start()
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match="cancelled"):
            store.investigate(slow_query(), ticket)
        assert time.monotonic() - started < 15
        assert store.investigate("SELECT 1 AS one").rows == [(1,)]  # the slot is free


def test_the_read_only_reader_user_runs_investigations(server: Server) -> None:
    with open_store(server, reader_dsn=server.reader_dsn) as store:
        assert store.investigate("SELECT count() AS n FROM tool_calls").rows == [(0,)]
        with pytest.raises(QueryRefused):
            store.investigate("SELECT * FROM system.users")
    with pytest.raises(StoreError, match="not read-only"):
        Store.open(server.dsn, reader_dsn=server.dsn)


# --- what server mode does differently --------------------------------------------------


def test_threads_share_one_store_without_an_http_session(server_store: Store) -> None:
    """A session runs one query at a time: a shared client must not have one."""

    def work(n: int) -> int:
        server_store.read_only("SELECT sleep(0.05)")
        return int(server_store.query("SELECT {n:UInt32}", {"n": n}).rows[0][0])

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(32))) == list(range(32))


def test_a_missing_database_points_at_migrate(server: Server) -> None:
    with pytest.raises(StoreError, match="agentaudit migrate --clickhouse"):
        Store.open(f"{server.url}/agentaudit_missing_db")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--cluster", "x' ON CLUSTER y", "--print"], 2, "is not a cluster name"),
        (["--cluster", "", "--print"], 0, "CREATE TABLE IF NOT EXISTS agentaudit.tool_calls"),
        (["--store", "STORE", "--cluster", "agentaudit"], 2, "--cluster needs a ClickHouse server"),
        (["--clickhouse", "http://127.0.0.1:9/agentaudit"], 3, "cannot reach"),
    ],
)
def test_migrate_refuses_bad_input_in_one_line(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    args = [str(tmp_path / "store") if a == "STORE" else a for a in args]
    done = run_cli("migrate", *args, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_migrate_cluster_refuses_a_single_node_schema(server: Server) -> None:
    """``--cluster`` on a server that holds the single-node tables changes nothing."""
    with open_store(server) as store:
        before = _tables(store)
        done = run_cli("migrate", "--clickhouse", server.dsn, "--cluster", "agentaudit_test")
        assert done.returncode == 3, done.stdout + done.stderr
        assert "single-node schema" in done.stderr
        assert _tables(store) == before
        assert _tables(store, "agentaudit_local") == []


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, private


def test_tls_with_the_servers_certificate(server: Server, tmp_path: Path) -> None:
    if not server.emulated:
        pytest.skip("starts an endpoint of its own with a test certificate")
    cert, key = _self_signed(tmp_path)
    process, url = start_endpoint(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        dsn = f"{url}/agentaudit?ca_cert={cert}"
        create_databases(parse_dsn(dsn))
        with Store.open(dsn) as store:
            assert store.query("SELECT 1").rows == [(1,)]
        with pytest.raises(StoreError, match=r"(?i)certificate"):
            Store.open(f"{url}/agentaudit")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
