"""Ordered, idempotent schema migrations from ``agentaudit/schema/migrations/*.sql``.

Each file is ``NNNN_name.sql``; files run in version order and each applied version is
recorded in ``agentaudit.schema_migrations`` with the file's SHA-256. A recorded
migration whose file later changed is an error: schema changes are new migrations.
Statements are separated by a ``;`` at the end of a line; ``--`` lines are comments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from agentaudit.store import Store, StoreError

__all__ = ["Migration", "apply_migrations", "load_migrations"]

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


def apply_migrations(store: Store) -> list[Migration]:
    """Apply every migration not yet recorded; return the ones applied now."""
    store.command("CREATE DATABASE IF NOT EXISTS agentaudit")
    store.command(LEDGER_DDL)
    recorded = {
        int(version): checksum
        for version, checksum in store.query(
            "SELECT version, checksum FROM agentaudit.schema_migrations"
        ).rows
    }
    applied: list[Migration] = []
    for migration in load_migrations():
        if migration.version in recorded:
            if recorded[migration.version] != migration.checksum:
                raise StoreError(
                    f"migration {migration.version:04d}_{migration.name} changed after it was "
                    "applied to this store; add a new migration instead of editing an old one"
                )
            continue
        for statement in migration.statements():
            store.command(statement)
        store.command(
            "INSERT INTO agentaudit.schema_migrations (version, name, checksum) "
            "VALUES ({v:UInt32}, {n:String}, {c:String})",
            parameters={"v": migration.version, "n": migration.name, "c": migration.checksum},
        )
        applied.append(migration)
    return applied
