"""The store: clickhouse-connect clients over embedded chdb or a ClickHouse server.

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
  per query (server). Write statements are refused by ClickHouse, not by a regex. It is
  for trusted code (the dashboards' parameterised queries): text a person typed goes to
  :meth:`Store.investigate`.
* In server mode, what differs from the embedded store (no HTTP session, synchronous
  deduplicated inserts, the single-server or cluster layout and what its statements
  carry) is decided once at open by :mod:`~agentaudit.store._server`; the layout is
  :attr:`Store.layout`.
* :meth:`Store.investigate` runs investigator SQL only after the guard
  (:mod:`~agentaudit.store.sql_guard`) accepted it, on handles of its own (embedded: one
  read-only chdb handle per query slot, limits set at open; server: a second client,
  from ``reader_dsn`` when given), so a slow investigation never holds the writer's or
  the dashboards' handle. See :mod:`~agentaudit.store._investigate`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from agentaudit.config.dsn import Dsn, parse_dsn, safe_dsn
from agentaudit.errors import AgentAuditError
from agentaudit.store._investigate import (
    DEFAULT_MAX_EXECUTION_TIME,
    DEFAULT_MAX_RESULT_ROWS,
    GUARD_SECONDS,
    INVESTIGATION_DATABASE,
    InvestigationLimits,
    Investigator,
    Slot,
    Ticket,
)
from agentaudit.store._refusals import write_error
from agentaudit.store._server import Layout, client_options, detect_layout
from agentaudit.store._types import (
    QueryResult,
    ReadOnlyViolation,
    StoreError,
    StoreLocked,
    StoreUnavailable,
    error_code,
    first_line,
)
from agentaudit.store.sql_guard import quote_string

__all__ = ["LOCK_FILE", "READ_LIMITS", "Store"]

log = logging.getLogger(__name__)

LOCK_FILE = "agentaudit.lock"
READ_LIMITS: Mapping[str, Any] = {
    "max_result_rows": DEFAULT_MAX_RESULT_ROWS,
    "result_overflow_mode": "break",
    "max_execution_time": DEFAULT_MAX_EXECUTION_TIME,
}
"""Limits of :meth:`Store.read_only` (the dashboards' own queries)."""


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


READONLY_ERROR_CODE = 164


class Store:
    """A ClickHouse database reached through clickhouse-connect.

    Thread-safe: clickhouse-connect serialises calls on a chdb handle, and server-mode
    HTTP clients are safe to share.
    """

    def __init__(
        self,
        dsn: Dsn,
        writer: Any,
        reader: Any,
        lock: IO[str] | None,
        investigator: Investigator | None = None,
        *,
        layout: Layout | None = None,
    ) -> None:
        self.dsn = dsn
        self.layout = layout or Layout()
        """Where the tables live (one server or a cluster); see :mod:`._server`."""
        self._writer = writer
        self._reader = reader
        self._lock_handle = lock
        self._investigator = investigator
        self._closed = False
        self._close_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        dsn: str | Dsn,
        *,
        reader_dsn: str | None = None,
        limits: InvestigationLimits | None = None,
    ) -> Store:
        """Open (and for embedded stores, lock) the store named by ``dsn``.

        ``reader_dsn`` (server mode only): the read-only ClickHouse user investigations
        run as (docs/sql.md); without it they run as ``dsn``'s user with
        ``readonly = 2``. ``limits``: what an investigation may use (default
        :class:`InvestigationLimits`).
        """
        parsed = dsn if isinstance(dsn, Dsn) else parse_dsn(dsn)
        reader_parsed = _reader_dsn(parsed, reader_dsn)
        limits = limits or InvestigationLimits()
        driver = _import_driver()
        lock = _take_lock(parsed.path) if parsed.path is not None else None
        opened: list[Any] = []
        try:
            # The parsed (percent-decoded) path wins over the DSN's: clickhouse-connect
            # does not decode it, so a "#" or "%20" in a directory name would move the store.
            location = {"path": str(parsed.path)} if parsed.path is not None else {}

            def client(source: Dsn = parsed) -> Any:
                opened.append(
                    driver.get_client(dsn=source.raw, **location, **client_options(source))
                )
                return opened[-1]

            writer = client()
            layout = Layout()
            if parsed.embedded:
                reader = client()
                _set(reader, {**READ_LIMITS, "readonly": 1})
                investigator = _embedded_investigator(client, writer, limits)
            else:
                layout = detect_layout(writer)
                _client_settings(writer, {**layout.write_settings(), **layout.read_settings()})
                reader = writer
                investigator = _server_investigator(
                    client, writer, limits, reader_parsed, layout.read_settings()
                )
        except AgentAuditError:
            _close_all(opened, lock)
            raise
        except Exception as exc:
            _close_all(opened, lock)
            raise StoreError(
                f"cannot open store {safe_dsn(parsed)}: {first_line(exc)}{_hint(exc)}"
            ) from exc
        return cls(parsed, writer, reader, lock, investigator, layout=layout)

    @property
    def embedded(self) -> bool:
        return self.dsn.embedded

    @property
    def investigation_limits(self) -> InvestigationLimits:
        """What one investigation may use; callers derive their wall-clock timeout from it."""
        return self._investigations().limits

    @property
    def investigation_stats(self) -> dict[str, int]:
        """How many investigations were refused, executed, failed, timed out, turned away."""
        return self._investigations().stats.snapshot()

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """Run a statement with write access (migrations and the writer only)."""
        self._check_open()
        try:
            return self._writer.command(sql, parameters=parameters)
        except Exception as exc:
            raise StoreUnavailable(first_line(exc)) from exc

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a trusted internal query on the write handle."""
        self._check_open()
        try:
            result = self._writer.query(sql, parameters=parameters)
        except Exception as exc:
            raise StoreUnavailable(first_line(exc)) from exc
        return QueryResult(tuple(result.column_names), [tuple(r) for r in result.result_rows])

    def read_only(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run trusted ``sql`` in ClickHouse's readonly mode; writes raise ReadOnlyViolation.

        For the dashboards' own parameterised queries. Never pass it text a person typed:
        that is what :meth:`investigate` is for (readonly mode alone still lets a query
        read host files and URLs).
        """
        self._check_open()
        settings = None if self.embedded else {"readonly": 2, **READ_LIMITS}
        try:
            result = self._reader.query(sql, parameters=parameters, settings=settings)
        except Exception as exc:
            if error_code(exc) == READONLY_ERROR_CODE:
                raise ReadOnlyViolation(
                    "refused: only read queries (SELECT, SHOW, DESCRIBE, EXPLAIN) are allowed"
                ) from None
            raise StoreError(f"query failed: {first_line(exc)}") from None
        return QueryResult(tuple(result.column_names), [tuple(r) for r in result.result_rows])

    def investigate(self, sql: str, ticket: Ticket | None = None) -> QueryResult:
        """Run investigator SQL: confined, limited, queued; blocks until the answer.

        Raises :class:`~agentaudit.store.sql_guard.QueryRefused` (the guard's message
        names what is not allowed; nothing ran), :class:`QueryFailed` (ClickHouse
        rejected it), :class:`QueryTimeout`, :class:`QueryBusy`, or StoreUnavailable.
        ``ticket`` lets another thread cancel it (:meth:`Ticket.cancel`). Call it off
        any event loop.
        """
        self._check_open()
        return self._investigations().run(sql, ticket)

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        """Insert an Arrow table; the same ``dedup_token`` twice inserts once.

        Raises :class:`StoreRejected` when ClickHouse refuses the rows themselves (a
        value, a constraint, the table's schema: retrying cannot help), and
        :class:`StoreUnavailable` for every other failure (:mod:`._refusals`).
        """
        self._check_open()
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        try:
            self._writer.insert_arrow(table, data, settings=settings)
        except Exception as exc:
            raise write_error(exc) from exc

    def _investigations(self) -> Investigator:
        if self._investigator is None:
            raise StoreError("this store was built without an investigator (Store.open builds one)")
        return self._investigator

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
            if self._investigator is not None:
                self._investigator.close()
            for client in {id(self._reader): self._reader, id(self._writer): self._writer}.values():
                with contextlib.suppress(Exception):
                    client.close()
            if self._lock_handle is not None:
                self._lock_handle.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _set(client: Any, settings: Mapping[str, Any]) -> None:
    """Apply ``settings`` to a chdb handle for good, in order (``readonly`` last)."""
    for name, value in settings.items():
        client.command(f"SET {name} = {value!r}")


def _close_all(clients: Sequence[Any], lock: IO[str] | None) -> None:
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()
    if lock is not None:
        lock.close()


def _client_settings(client: Any, settings: Mapping[str, Any]) -> None:
    """Send ``settings`` with every statement of a server ``client``.

    A setting the server will not let this user change (a ``readonly = 1`` profile) is
    left to the profile, with a warning naming it.
    """
    for name, value in settings.items():
        try:
            client.set_client_setting(name, value)
        except Exception as exc:
            log.warning(
                "ClickHouse setting %s = %s cannot be sent as this user (%s); set it in the "
                "user's profile (docs/server.md)",
                name,
                value,
                first_line(exc),
            )


UNKNOWN_DATABASE_ERROR_CODE = 81


def _hint(exc: BaseException) -> str:
    if error_code(exc) == UNKNOWN_DATABASE_ERROR_CODE:
        return (
            "; create the schema on that server first: agentaudit migrate --clickhouse DSN "
            "(add --cluster NAME for a cluster)"
        )
    return ""


def _reader_dsn(store: Dsn, reader: str | None) -> Dsn | None:
    if not reader:
        return None
    parsed = parse_dsn(reader, origin="reader_clickhouse_url")
    if store.embedded or parsed.embedded:
        raise StoreError(
            "reader_clickhouse_url names the read-only user of a ClickHouse server; the "
            "embedded store has read-only handles of its own, so leave it unset there"
        )
    return parsed


def _embedded_investigator(
    client: Callable[[], Any], writer: Any, limits: InvestigationLimits
) -> Investigator:
    """Investigations on chdb: a checker handle, one read-only handle per slot.

    Each slot's handle has the limits and a ``log_comment`` naming the slot set before
    ``readonly = 1`` locks them; a query on it is killed by that comment (chdb queries
    have no id a caller can choose). The guard's checker is ``readonly = 2``.
    """
    checker = client()
    _set(checker, {"max_execution_time": GUARD_SECONDS, "readonly": 2})
    slots = []
    for number in range(limits.max_running):
        handle = client()
        marker = f"agentaudit-investigation-{os.getpid()}-{number}"
        _set(handle, {**limits.engine_settings(), "log_comment": marker, "readonly": 1})
        handle.database = INVESTIGATION_DATABASE
        kill_sql = f"KILL QUERY WHERE Settings['log_comment'] = {quote_string(marker)} ASYNC"

        def prepare(kill_sql: str = kill_sql) -> tuple[None, Callable[[], None]]:
            return None, lambda: writer.command(kill_sql)

        slots.append(Slot(handle, prepare))
    return Investigator(
        check=lambda sql: checker.query(sql).result_rows,
        slots=slots,
        limits=limits,
        owned=[checker, *(slot.client for slot in slots)],
    )


def _server_investigator(
    client: Callable[..., Any],
    writer: Any,
    limits: InvestigationLimits,
    reader: Dsn | None,
    read_settings: Mapping[str, Any] | None = None,
) -> Investigator:
    """Investigations on a server: a second client, each query with its own id.

    With ``reader`` (the read-only user of docs/sql.md) queries run as that user; its
    profile must be read-only (``readonly`` 2, or 1 with the limits in the profile). Without
    it they run as the store's user with ``readonly = 2``. The guard's checks and the
    ``KILL QUERY`` of a cancelled query go through the store's own connection.
    ``read_settings``: what the layout's reads need (a cluster's global joins).
    """
    investigations = client(reader) if reader is not None else client()
    investigations.database = INVESTIGATION_DATABASE
    settings: dict[str, Any] = {**limits.engine_settings(), **(read_settings or {}), "readonly": 2}
    if reader is not None:
        mode = int(investigations.query("SELECT toUInt8(getSetting('readonly'))").result_rows[0][0])
        if mode == 0:
            raise StoreError(
                f"reader_clickhouse_url {safe_dsn(reader)}: that user is not read-only "
                "(readonly = 0); create it with the DDL in docs/sql.md"
            )
        del settings["readonly"]  # the profile's, and it cannot be changed in readonly mode
        if mode == 1:
            log.warning(
                "reader_clickhouse_url: the user's profile has readonly = 1, so agentaudit "
                "cannot send per-query limits; the profile's limits apply (docs/sql.md)"
            )
            settings = {}

    def prepare() -> tuple[dict[str, Any], Callable[[], None]]:
        query_id = f"agentaudit-investigation-{uuid.uuid4()}"

        def kill() -> None:
            writer.command(
                "KILL QUERY WHERE query_id = {id:String} ASYNC", parameters={"id": query_id}
            )

        return {**settings, "query_id": query_id}, kill

    check_settings = {"readonly": 2, "max_execution_time": GUARD_SECONDS}
    return Investigator(
        check=lambda sql: writer.query(sql, settings=check_settings).result_rows,
        slots=[Slot(investigations, prepare) for _ in range(limits.max_running)],
        limits=limits,
        owned=[investigations],
    )
