"""Investigator SQL: confined by the guard, limited by the engine, bounded in concurrency.

Seam: an :class:`Investigator` runs the text a person typed (admin API ``POST /v1/query``,
``agentaudit sql --store``, the dashboard's SQL page) for
:meth:`agentaudit.store.Store.investigate`. It is built from a ``check`` callable (a
trusted handle that is not ``readonly = 1``: the guard's ``EXPLAIN`` queries run there)
and one :class:`Slot` per query that may run at once.

Invariants:

* Nothing runs before :func:`~agentaudit.store.sql_guard.confine` accepted the text, and
  what runs is the canonical text it checked, with ``agentaudit`` as the default database,
  on a handle ClickHouse keeps read-only (embedded: ``readonly = 1`` set when the store
  opened; server: the reader user's profile, or ``readonly = 2`` on every query).
* Every query runs under :class:`InvestigationLimits` (rows, time, memory, threads):
  embedded handles have them set at open, server queries carry them.
* At most ``max_running`` queries run and ``max_waiting`` wait (each at most
  ``queue_seconds``); one more is refused at once with :class:`QueryBusy`.
* A :class:`Ticket` cancels its query from another thread: a waiting query leaves the
  queue, a running one is killed in the engine (``KILL QUERY``), so a caller's wall-clock
  timeout also frees the slot.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agentaudit.errors import AgentAuditError
from agentaudit.store._types import (
    QueryBusy,
    QueryFailed,
    QueryResult,
    QueryTimeout,
    StoreUnavailable,
    error_code,
    first_line,
)
from agentaudit.store.sql_guard import QueryRefused, confine

__all__ = [
    "DEFAULT_MAX_EXECUTION_TIME",
    "DEFAULT_MAX_MEMORY_USAGE",
    "DEFAULT_MAX_RESULT_ROWS",
    "GUARD_SECONDS",
    "INVESTIGATION_DATABASE",
    "InvestigationLimits",
    "InvestigationStats",
    "Investigator",
    "Slot",
    "Ticket",
]

log = logging.getLogger(__name__)

INVESTIGATION_DATABASE: Final = "agentaudit"
"""The one database investigator SQL reads; also its default database."""
DEFAULT_MAX_RESULT_ROWS: Final = 100_000
DEFAULT_MAX_EXECUTION_TIME: Final = 60
DEFAULT_MAX_MEMORY_USAGE: Final = 2 << 30
"""2 GiB: enough to group or sort millions of audit rows, small enough that two
investigations cannot take the memory the writer and the detector need."""
GUARD_SECONDS: Final = 10
"""``max_execution_time`` of the guard's own queries (parsing; milliseconds in practice)."""

_TIMEOUT_CODES: Final = frozenset({159, 160})  # TIMEOUT_EXCEEDED, TOO_SLOW
_CANCELLED: Final = 394  # QUERY_WAS_CANCELLED
_MEMORY: Final = 241  # MEMORY_LIMIT_EXCEEDED
_READONLY: Final = 164
_TOO_MANY: Final = 202  # TOO_MANY_SIMULTANEOUS_QUERIES (a server profile's own cap)


def _half_the_cores() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class InvestigationLimits:
    """What one investigator query may use, and how many run or wait at once."""

    max_running: int = 2
    """Queries executing at once (embedded: one read-only chdb handle each)."""
    max_waiting: int = 4
    """Queries waiting for a slot; one more is refused with :class:`QueryBusy`."""
    queue_seconds: float = 10.0
    """Longest wait for a slot before :class:`QueryBusy`."""
    max_execution_time: int = DEFAULT_MAX_EXECUTION_TIME
    """Seconds; the engine stops the query after this (``TIMEOUT_EXCEEDED``)."""
    max_memory_usage: int = DEFAULT_MAX_MEMORY_USAGE
    """Bytes one query may allocate (``MEMORY_LIMIT_EXCEEDED``)."""
    max_result_rows: int = DEFAULT_MAX_RESULT_ROWS
    """Rows returned at most; the result is cut at a block boundary past this."""
    max_threads: int = field(default_factory=_half_the_cores)
    """Engine threads per query: half the cores, so ingest keeps up during a query."""
    grace_seconds: float = 5.0
    """Added to the engine limit for a caller's wall-clock timeout."""

    def __post_init__(self) -> None:
        for name in ("max_running", "max_execution_time", "max_memory_usage", "max_result_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"InvestigationLimits.{name} must be at least 1")
        if self.max_waiting < 0 or self.queue_seconds < 0 or self.grace_seconds < 0:
            raise ValueError("InvestigationLimits: waiting, queue and grace cannot be negative")
        if self.max_threads < 1:
            raise ValueError("InvestigationLimits.max_threads must be at least 1")

    @property
    def wall_seconds(self) -> float:
        """The longest a caller should wait for an answer: queue, engine limit and grace.

        Derived, so the engine's own limit always fires first; the wall clock only
        catches an engine that does not stop (its timeout cancels with ``KILL QUERY``).
        """
        return self.queue_seconds + self.max_execution_time + self.grace_seconds

    def engine_settings(self) -> dict[str, Any]:
        """The ClickHouse settings every investigator query runs with."""
        return {
            "max_result_rows": self.max_result_rows,
            "result_overflow_mode": "break",
            "max_execution_time": self.max_execution_time,
            "timeout_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_usage,
            "max_threads": self.max_threads,
        }


class InvestigationStats:
    """Counters of what happened to investigator queries (thread-safe)."""

    NAMES: Final = ("refused", "executed", "failed", "timed_out", "busy")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.NAMES, 0)

    def add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class Ticket:
    """Cancels one investigation from another thread (a caller's wall-clock timeout).

    Thread-safe. :meth:`cancel` kills a running query while holding the ticket's lock,
    and the query's slot is only handed back after the running section took that lock,
    so a late kill can never reach the next query on the same slot.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._kill: Callable[[], None] | None = None
        self._wake: Callable[[], None] | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Leave the queue, or kill the running query in the engine. Idempotent."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            wake = self._wake
            if self._kill is not None:
                try:
                    self._kill()
                except Exception as exc:
                    log.warning("could not cancel an investigator query: %s", first_line(exc))
        if wake is not None:
            wake()

    def _waiting(self, wake: Callable[[], None] | None) -> None:
        with self._lock:
            self._wake = wake

    def _start(self, kill: Callable[[], None]) -> bool:
        with self._lock:
            if self._cancelled:
                return False
            self._kill = kill
            return True

    def _finish(self) -> None:
        with self._lock:
            self._kill = None


@dataclass(frozen=True)
class Slot:
    """Where one query at a time runs: a clickhouse-connect ``client``, and per query
    ``prepare() -> (settings, kill)``: the settings to send with it (None when the handle
    has them from open) and a callable that kills it in the engine."""

    client: Any
    prepare: Callable[[], tuple[Mapping[str, Any] | None, Callable[[], None]]]


class _Gate:
    """``running`` slots and a bounded queue in front of them."""

    def __init__(self, running: int, waiting: int) -> None:
        self._cond = threading.Condition()
        self._free = list(range(running))
        self._max_waiting = waiting
        self._waiting = 0

    def acquire(self, ticket: Ticket, timeout: float) -> int:
        """A free slot's index; raises QueryBusy (queue full or waited too long) or
        QueryTimeout (cancelled while waiting)."""
        with self._cond:
            if not self._free:
                if self._waiting >= self._max_waiting:
                    raise QueryBusy(
                        "too many queries: all query slots are busy and the queue is full; "
                        "retry in a few seconds"
                    )
                self._waiting += 1
                ticket._waiting(self.wake)
                try:
                    self._cond.wait_for(lambda: bool(self._free) or ticket.cancelled, timeout)
                finally:
                    self._waiting -= 1
                    ticket._waiting(None)
                if ticket.cancelled:
                    raise QueryTimeout("the query was cancelled while it waited for a slot")
                if not self._free:
                    raise QueryBusy(
                        f"too many queries: no query slot came free within {timeout:g} s; "
                        "retry in a few seconds"
                    )
            return self._free.pop()

    def release(self, index: int) -> None:
        with self._cond:
            self._free.append(index)
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class Investigator:
    """Confines, queues and runs investigator queries over ``slots``."""

    def __init__(
        self,
        *,
        check: Callable[[str], Sequence[tuple[Any, ...]]],
        slots: Sequence[Slot],
        limits: InvestigationLimits,
        owned: Sequence[Any] = (),
    ) -> None:
        if len(slots) != limits.max_running:
            raise ValueError("one slot per query that may run at once")
        self.limits = limits
        self.stats = InvestigationStats()
        self._check = check
        self._slots = list(slots)
        self._gate = _Gate(limits.max_running, limits.max_waiting)
        self._owned = list(owned)

    def confine(self, sql: str) -> str:
        """The canonical text to run; raises QueryRefused naming what is not allowed."""
        try:
            return confine(sql, self._check, database=INVESTIGATION_DATABASE).sql
        except QueryRefused:
            self.stats.add("refused")
            raise
        except AgentAuditError:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"cannot check the query: {first_line(exc)}") from exc

    def run(self, sql: str, ticket: Ticket | None = None) -> QueryResult:
        """Confine ``sql``, wait for a slot, run it; see the module docstring."""
        ticket = ticket or Ticket()
        canonical = self.confine(sql)
        try:
            index = self._gate.acquire(ticket, self.limits.queue_seconds)
        except QueryBusy:
            self.stats.add("busy")
            raise
        try:
            return self._execute(self._slots[index], canonical, ticket)
        finally:
            self._gate.release(index)

    def _execute(self, slot: Slot, sql: str, ticket: Ticket) -> QueryResult:
        settings, kill = slot.prepare()
        if not ticket._start(kill):
            raise QueryTimeout("the query was cancelled before it started")
        self.stats.add("executed")
        try:
            result = slot.client.query(sql, settings=settings)
            return QueryResult(tuple(result.column_names), [tuple(r) for r in result.result_rows])
        except Exception as exc:
            failure = self._failure(exc, ticket)
            self.stats.add(
                "timed_out"
                if isinstance(failure, QueryTimeout)
                else "busy"
                if isinstance(failure, QueryBusy)
                else "failed"
            )
            raise failure from exc
        finally:
            ticket._finish()

    def _failure(self, exc: BaseException, ticket: Ticket) -> AgentAuditError:
        code = error_code(exc)
        if code in _TIMEOUT_CODES:
            return QueryTimeout(
                f"the query ran longer than {self.limits.max_execution_time} s and was "
                "stopped; narrow the time range, filter, or aggregate"
            )
        if code == _CANCELLED or ticket.cancelled:
            return QueryTimeout("the query took too long and was cancelled")
        if code == _MEMORY:
            return QueryFailed(
                "query failed: it needs more than "
                f"{self.limits.max_memory_usage / (1 << 30):g} GiB of memory; narrow it, "
                "filter, or aggregate"
            )
        if code == _TOO_MANY:
            return QueryBusy(
                "too many queries: the ClickHouse server refused another one for this "
                "user; retry in a few seconds"
            )
        if code == _READONLY:
            return QueryRefused("refused: ClickHouse's readonly mode refused the query")
        if code is not None:
            return QueryFailed(f"query failed: {first_line(exc)}")
        return StoreUnavailable(f"query failed: {first_line(exc)}")

    def close(self) -> None:
        for client in self._owned:
            try:
                client.close()
            except Exception as exc:  # closing is best effort
                log.debug("closing an investigator handle: %s", exc)
