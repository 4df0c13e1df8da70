"""Ordered, idempotent schema migrations from ``agentaudit/schema/migrations/*.sql``.

Each file is ``NNNN_name.sql``; files run in version order and each applied version is
recorded in ``agentaudit.schema_migrations`` with the file's SHA-256. A recorded
migration whose file later changed is an error: schema changes are new migrations.
Statements are separated by a ``;`` at the end of a line; ``--`` lines are comments.

On a ClickHouse cluster the same files apply in their cluster form
(:mod:`~agentaudit.store.cluster_ddl`), through :func:`apply_cluster_migrations` only;
:func:`apply_migrations`, which every process runs at start, then only checks that the
cluster's ledger has every migration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from agentaudit.config.dsn import Dsn, safe_dsn
from agentaudit.store import Store, StoreError
from agentaudit.store._server import DATABASE, LOCAL_DATABASE, client_options, server_root_dsn
from agentaudit.store.cluster_ddl import (
    bootstrap_statements,
    check_cluster_name,
    cluster_statements,
)

__all__ = [
    "LEDGER_DDL",
    "Migration",
    "apply_cluster_migrations",
    "apply_migrations",
    "cluster_migration_statements",
    "create_databases",
    "load_migrations",
]

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS agentaudit.schema_migrations
(
    version     UInt32,
    name        String,
    checksum    String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> Iterator[str]:
        # Trailing blanks after a ";" must not glue two statements together.
        lines = [ln.rstrip() for ln in self.sql.splitlines() if not ln.lstrip().startswith("--")]
        for chunk in "\n".join(lines).split(";\n"):
            statement = chunk.strip().rstrip(";").strip()
            if statement:
                yield statement


def load_migrations() -> list[Migration]:
    """The packaged migrations, in version order."""
    folder = resources.files("agentaudit.schema") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        prefix, _, rest = name.partition("_")
        if not prefix.isdigit():
            raise StoreError(f"migration file {name!r} does not start with a version number")
        found.append(Migration(int(prefix), rest.removesuffix(".sql"), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"duplicate migration versions in {versions}")
    return found


def _recorded(store: Store) -> dict[int, str]:
    return {
        int(version): str(checksum)
        for version, checksum in store.query(
            "SELECT version, checksum FROM agentaudit.schema_migrations"
        ).rows
    }


def _is_recorded(migration: Migration, recorded: dict[int, str]) -> bool:
    """Whether ``migration`` is applied; raises when its file changed since."""
    if migration.version not in recorded:
        return False
    if recorded[migration.version] != migration.checksum:
        raise StoreError(
            f"migration {migration.version:04d}_{migration.name} changed after it was "
            "applied to this store; add a new migration instead of editing an old one"
        )
    return True


def _record(store: Store, migration: Migration) -> None:
    store.command(
        "INSERT INTO agentaudit.schema_migrations (version, name, checksum) "
        "VALUES ({v:UInt32}, {n:String}, {c:String})",
        parameters={"v": migration.version, "n": migration.name, "c": migration.checksum},
    )


def apply_migrations(store: Store) -> list[Migration]:
    """Apply every migration not yet recorded; return the ones applied now.

    On a cluster (:attr:`Store.layout`) nothing is applied: the schema changes with
    ``agentaudit migrate --cluster`` only, and a process finding it behind refuses to start
    rather than write single-node DDL into a cluster.
    """
    if store.layout.clustered:
        _check_cluster_schema(store)
        return []
    store.command("CREATE DATABASE IF NOT EXISTS agentaudit")
    store.command(LEDGER_DDL)
    recorded = _recorded(store)
    applied: list[Migration] = []
    for migration in load_migrations():
        if _is_recorded(migration, recorded):
            continue
        for statement in migration.statements():
            store.command(statement)
        _record(store, migration)
        applied.append(migration)
    return applied


def _check_cluster_schema(store: Store) -> None:
    recorded = _recorded(store)
    missing = [m for m in load_migrations() if not _is_recorded(m, recorded)]
    if missing:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
        raise StoreError(
            f"the schema on cluster {store.layout.cluster!r} lacks migrations {names}; "
            f"apply them with: agentaudit migrate --clickhouse DSN --cluster {store.layout.cluster}"
        )


def cluster_migration_statements(migration: Migration, cluster: str) -> list[str]:
    """``migration``'s statements in their cluster form (:mod:`.cluster_ddl`)."""
    return cluster_statements(migration.statements(), cluster)


def apply_cluster_migrations(store: Store, cluster: str) -> list[Migration]:
    """Create or update the cluster schema on ``cluster`` (``agentaudit migrate --cluster``).

    Every statement runs ``ON CLUSTER``, so one connection to any node migrates them all;
    the ledger is replicated to every node. Refuses a server that holds the single-node
    schema (moving its rows into a cluster is a data migration of its own, docs/server.md)
    or the schema of another cluster.
    """
    check_cluster_name(cluster)
    layout = store.layout
    if layout.cluster not in (None, cluster):
        raise StoreError(
            f"this server holds the schema of cluster {layout.cluster!r}, not {cluster!r}"
        )
    if not layout.clustered and _single_node_tables(store):
        raise StoreError(SINGLE_NODE_SCHEMA)
    for statement in bootstrap_statements(cluster, LEDGER_DDL):
        store.command(statement)
    recorded = _recorded(store)
    applied: list[Migration] = []
    for migration in load_migrations():
        if _is_recorded(migration, recorded):
            continue
        for statement in cluster_migration_statements(migration, cluster):
            store.command(statement)
        _record(store, migration)
        applied.append(migration)
    return applied


SINGLE_NODE_SCHEMA = (
    "this server holds the single-node schema (agentaudit.tool_calls is not a "
    "Distributed table); a cluster needs its own servers, or move the rows as "
    "docs/server.md describes"
)
_TOOL_CALLS_ENGINE = (
    "SELECT engine FROM system.tables WHERE database = 'agentaudit' AND name = 'tool_calls'"
)


def _single_node_tables(store: Store) -> bool:
    rows = store.query(_TOOL_CALLS_ENGINE).rows
    return bool(rows) and rows[0][0] != "Distributed"


def create_databases(dsn: Dsn, cluster: str | None = None) -> None:
    """Create ``agentaudit`` (and on a cluster ``agentaudit_local``) on the server of ``dsn``.

    Through a client without a database, since a client naming a database that does not
    exist yet cannot even connect. With ``cluster``, a server holding the single-node
    schema is refused before anything is created.
    """
    from agentaudit.store._store import _import_driver

    driver = _import_driver()
    names = [DATABASE, *([LOCAL_DATABASE] if cluster else [])]
    own = dsn.raw.split("://", 1)[-1].partition("/")[2].partition("?")[0].strip("/")
    if own and own not in names:
        names.append(own)
    on_cluster = f" ON CLUSTER '{check_cluster_name(cluster)}'" if cluster else ""
    try:
        client = driver.get_client(dsn=server_root_dsn(dsn), **client_options(dsn))
    except Exception as exc:
        raise StoreError(f"cannot reach {safe_dsn(dsn)}: {str(exc).splitlines()[0][:300]}") from exc
    try:
        if cluster:
            engine = client.query(_TOOL_CALLS_ENGINE).result_rows
            if engine and engine[0][0] != "Distributed":
                raise StoreError(SINGLE_NODE_SCHEMA)
        for name in names:
            client.command(f"CREATE DATABASE IF NOT EXISTS `{name}`{on_cluster}")
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"cannot create database on {safe_dsn(dsn)}: {str(exc).splitlines()[0][:300]}"
        ) from exc
    finally:
        client.close()
