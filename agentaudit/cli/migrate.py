"""``agentaudit migrate``: create or update the schema on a ClickHouse server or cluster.

Without ``--cluster`` it applies the single-node migrations (``agentaudit/schema``) to
the store the DSN names (every process also does this at start, so it is optional for
one server). With ``--cluster NAME`` it applies their cluster form
(:mod:`agentaudit.store.cluster_ddl`): Replicated tables in ``agentaudit_local`` and
Distributed tables in ``agentaudit``, every statement ``ON CLUSTER``; that is the only
way the schema of a cluster changes. ``--print`` prints the statements and connects to
nothing (for a review, or to run them by hand).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from agentaudit.config import Config
from agentaudit.config.dsn import safe_dsn
from agentaudit.errors import ConfigError

__all__ = ["add_migrate_parser", "render_statements", "run_migrate"]

DESCRIPTION = """\
Apply the schema to a ClickHouse server (--clickhouse DSN) or, with --cluster NAME, to a
ClickHouse cluster: Replicated tables ON CLUSTER, with Distributed tables over them that
every reader and writer uses (docs/server.md). Idempotent: what is applied is recorded
in agentaudit.schema_migrations."""


def add_migrate_parser(
    commands: Any, add_flags: Callable[..., argparse._MutuallyExclusiveGroup | None]
) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="apply the schema to a ClickHouse server or cluster",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(migrate, "store", "migrate")
    migrate.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="print every statement (in its cluster form with --cluster) and connect to nothing",
    )


def render_statements(cluster: str | None) -> str:
    """Every migration's statements, as ``;``-terminated SQL with a comment per migration."""
    from agentaudit.store.cluster_ddl import bootstrap_statements
    from agentaudit.store.migrations import (
        LEDGER_DDL,
        cluster_migration_statements,
        load_migrations,
    )

    blocks: list[str] = []
    if cluster:
        blocks.append("-- databases and the migrations ledger")
        blocks += [f"{sql};" for sql in bootstrap_statements(cluster, LEDGER_DDL)]
    for migration in load_migrations():
        blocks.append(f"-- {migration.version:04d}_{migration.name}")
        statements = (
            cluster_migration_statements(migration, cluster)
            if cluster
            else list(migration.statements())
        )
        blocks += [f"{sql};" for sql in statements]
    return "\n".join(blocks)


def run_migrate(
    args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]
) -> int:
    from agentaudit.store import Store, StoreError
    from agentaudit.store.cluster_ddl import check_cluster_name
    from agentaudit.store.migrations import (
        apply_cluster_migrations,
        apply_migrations,
        create_databases,
    )

    config = config_from(args)
    cluster = check_cluster_name(config.cluster) if config.cluster else None
    if args.print_only:
        print(render_statements(cluster))
        return 0
    dsn = config.dsn
    if dsn.embedded:
        if cluster:
            raise ConfigError(
                "--cluster needs a ClickHouse server: --clickhouse http(s)://user:pass@host:8123/"
                "agentaudit (an embedded store is one process on one machine)"
            )
    else:
        create_databases(dsn, cluster)
    with Store.open(dsn) as store:
        if cluster:
            applied = apply_cluster_migrations(store, cluster)
        elif store.layout.clustered:
            raise StoreError(
                f"this server holds the schema of cluster {store.layout.cluster!r}; "
                f"run: agentaudit migrate --clickhouse DSN --cluster {store.layout.cluster}"
            )
        else:
            applied = apply_migrations(store)
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    where = f"cluster {cluster} via {safe_dsn(dsn)}" if cluster else safe_dsn(dsn)
    print(f"agentaudit migrate: {len(applied)} migration(s) applied; {where} is up to date")
    return 0
