"""The store: one clickhouse-connect client over embedded chdb or a ClickHouse server.

Seam: everything that reads or writes audit data goes through :class:`Store`, built from
a DSN (``chdb:///abs/dir`` or ``http(s)://...``). The same DDL and queries run on both.

Invariants:

* An embedded store directory is owned by exactly one process: :meth:`Store.open` takes
  an exclusive ``flock`` on ``<dir>/agentaudit.lock`` before chdb opens the directory,
  so a second process gets :class:`StoreLocked` naming the owner instead of a chdb
  stack trace.
* :meth:`Store.read_only` can only read: it runs on a separate handle that was switched
  to ClickHouse ``readonly`` mode when the store opened (embedded; chdb cannot restore
  settings after a readonly query on a shared handle), or with the ``readonly`` setting
  per query (server). Write statements are refused by ClickHouse, not by a regex.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentaudit.config.dsn import Dsn, parse_dsn, safe_dsn
from agentaudit.errors import AgentAuditError, ExitCode

__all__ = [
    "QueryResult",
    "ReadOnlyViolation",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
]

LOCK_FILE = "agentaudit.lock"
READ_LIMITS: Mapping[str, Any] = {
    "max_result_rows": 100_000,
    "result_overflow_mode": "break",
    "max_execution_time": 60,
}


class StoreError(AgentAuditError):
    """The store cannot be opened or used."""

    exit_code = ExitCode.STORE


class StoreLocked(StoreError):
    """Another process owns the embedded store directory."""

    exit_code = ExitCode.STORE_LOCKED


class StoreUnavailable(StoreError):
    """A store operation failed in a way that may succeed when retried."""


class ReadOnlyViolation(StoreError):
    """A read-only query tried to write or change state."""


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query, in order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _import_driver() -> Any:
    try:
        import clickhouse_connect
    except ImportError:  # pragma: no cover - depends on the install
        raise StoreError(
            "the collector's dependencies are not installed; "
            "run: pip install 'agentaudit[collector]'"
        ) from None
    return clickhouse_connect


def _take_lock(directory: Path) -> IO[str]:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = (directory / LOCK_FILE).open("a+")
    except OSError as exc:
        raise StoreError(
            f"cannot use store directory {directory}: {exc.strerror}; "
            "choose a writable directory with --store DIR"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise StoreLocked(
            f"store {directory} is in use by another process (pid {owner}); stop it, "
            "or query the running process with `agentaudit sql --api URL`"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    text = str(exc)
    marker = "Code: "
    if marker in text:
        digits = text.split(marker, 1)[1].split(".", 1)[0].strip()
        if digits.isdigit():
            return int(digits)
    return None


READONLY_ERROR_CODE = 164


class Store:
    """A ClickHouse database reached through clickhouse-connect.

    Thread-safe: clickhouse-connect serialises calls on a chdb handle, and server-mode
    HTTP clients are safe to share.
    """

    def __init__(self, dsn: Dsn, writer: Any, reader: Any, lock: IO[str] | None) -> None:
        self.dsn = dsn
        self._writer = writer
        self._reader = reader
        self._lock_handle = lock
        self._closed = False
        self._close_lock = threading.Lock()

    @classmethod
    def open(cls, dsn: str | Dsn) -> Store:
        """Open (and for embedded stores, lock) the store named by ``dsn``."""
        parsed = dsn if isinstance(dsn, Dsn) else parse_dsn(dsn)
        driver = _import_driver()
        lock = _take_lock(parsed.path) if parsed.path is not None else None
        writer = None
        try:
            # The parsed (percent-decoded) path wins over the DSN's: clickhouse-connect
            # does not decode it, so a "#" or "%20" in a directory name would move the store.
            location = {"path": str(parsed.path)} if parsed.path is not None else {}
            writer = driver.get_client(dsn=parsed.raw, **location)
            if parsed.embedded:
                reader = driver.get_client(dsn=parsed.raw, **location)
                for name, value in READ_LIMITS.items():
                    reader.command(f"SET {name} = {value!r}")
                reader.command("SET readonly = 1")
            else:
                reader = writer
        except AgentAuditError:
            raise
        except Exception as exc:
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            if lock is not None:
                lock.close()
            raise StoreError(f"cannot open store {safe_dsn(parsed)}: {_first_line(exc)}") from exc
        return cls(parsed, writer, reader, lock)

    @property
    def embedded(self) -> bool:
        return self.dsn.embedded

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """Run a statement with write access (migrations and the writer only)."""
        self._check_open()
        try:
            return self._writer.command(sql, parameters=parameters)
        except Exception as exc:
            raise StoreUnavailable(_first_line(exc)) from exc

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a trusted internal query on the write handle."""
        self._check_open()
        try:
            result = self._writer.query(sql, parameters=parameters)
        except Exception as exc:
            raise StoreUnavailable(_first_line(exc)) from exc
        return QueryResult(tuple(result.column_names), [tuple(r) for r in result.result_rows])

    def read_only(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run ``sql`` with ClickHouse's readonly mode; writes raise ReadOnlyViolation."""
        self._check_open()
        settings = None if self.embedded else {"readonly": 2, **READ_LIMITS}
        try:
            result = self._reader.query(sql, parameters=parameters, settings=settings)
        except Exception as exc:
            if _error_code(exc) == READONLY_ERROR_CODE:
                raise ReadOnlyViolation(
                    "refused: only read queries (SELECT, SHOW, DESCRIBE, EXPLAIN) are allowed"
                ) from None
            raise StoreError(f"query failed: {_first_line(exc)}") from None
        return QueryResult(tuple(result.column_names), [tuple(r) for r in result.result_rows])

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        """Insert an Arrow table; the same ``dedup_token`` twice inserts once."""
        self._check_open()
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        try:
            self._writer.insert_arrow(table, data, settings=settings)
        except Exception as exc:
            raise StoreUnavailable(_first_line(exc)) from exc

    def _check_open(self) -> None:
        # Not StoreUnavailable: a closed store never comes back, so callers must not retry.
        if self._closed:
            raise StoreError(f"store {safe_dsn(self.dsn)} is closed")

    def close(self) -> None:
        """Close the clients and release the directory lock. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            for client in {id(self._reader): self._reader, id(self._writer): self._writer}.values():
                with contextlib.suppress(Exception):
                    client.close()
            if self._lock_handle is not None:
                self._lock_handle.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
