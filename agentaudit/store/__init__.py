"""The store: audit data in ClickHouse, shared by the collector, the dashboards and the CLI.

* :class:`Store` — one clickhouse-connect client over embedded chdb or a ClickHouse
  server, built from a DSN; trusted internal reads and writes, and the read-only handle.
* :mod:`~agentaudit.store.migrations` — the ordered, idempotent DDL of ``schema/``.
* :mod:`~agentaudit.store.audit_chain` — the hash chain over written batches.

Importing this package is cheap: the ClickHouse driver loads when a store is opened.
"""

from __future__ import annotations

from agentaudit.store._store import (
    LOCK_FILE,
    READ_LIMITS,
    QueryResult,
    ReadOnlyViolation,
    Store,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)

__all__ = [
    "LOCK_FILE",
    "READ_LIMITS",
    "QueryResult",
    "ReadOnlyViolation",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
]
