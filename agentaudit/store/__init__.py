"""The store: audit data in ClickHouse, shared by the collector, the dashboards and the CLI.

* :class:`Store` — clickhouse-connect clients over embedded chdb or a ClickHouse server,
  built from a DSN; trusted internal reads and writes, the read-only handle of the
  dashboards' own queries, and :meth:`Store.investigate` for investigator SQL.
* :mod:`~agentaudit.store.sql_guard` — confines investigator SQL to reading the audit data.
* :mod:`~agentaudit.store.migrations` — the ordered, idempotent DDL of ``schema/``.
* :mod:`~agentaudit.store.audit_chain` — the hash chain over written batches.

Importing this package is cheap: the ClickHouse driver loads when a store is opened.
"""

from __future__ import annotations

from agentaudit.store._investigate import InvestigationLimits, Ticket
from agentaudit.store._store import LOCK_FILE, READ_LIMITS, Store
from agentaudit.store._types import (
    QueryBusy,
    QueryFailed,
    QueryResult,
    QueryTimeout,
    ReadOnlyViolation,
    StoreError,
    StoreLocked,
    StoreRejected,
    StoreUnavailable,
)
from agentaudit.store.sql_guard import QueryRefused

__all__ = [
    "LOCK_FILE",
    "READ_LIMITS",
    "InvestigationLimits",
    "QueryBusy",
    "QueryFailed",
    "QueryRefused",
    "QueryResult",
    "QueryTimeout",
    "ReadOnlyViolation",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreRejected",
    "StoreUnavailable",
    "Ticket",
]
