"""The store's value types and errors (no driver imports: cheap to import anywhere).

Investigator queries (:meth:`~agentaudit.store.Store.investigate`) fail in four ways a
caller tells apart: refused by the guard (:class:`~agentaudit.store.sql_guard.QueryRefused`,
exit code 8), rejected by ClickHouse (:class:`QueryFailed`), over their time limit
(:class:`QueryTimeout`), or not admitted because enough queries already run or wait
(:class:`QueryBusy`, retry later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentaudit.errors import AgentAuditError, ExitCode

__all__ = [
    "QueryBusy",
    "QueryFailed",
    "QueryResult",
    "QueryTimeout",
    "ReadOnlyViolation",
    "StoreError",
    "StoreLocked",
    "StoreRejected",
    "StoreUnavailable",
]


class StoreError(AgentAuditError):
    """The store cannot be opened or used."""

    exit_code = ExitCode.STORE


class StoreLocked(StoreError):
    """Another process owns the embedded store directory."""

    exit_code = ExitCode.STORE_LOCKED


class StoreUnavailable(StoreError):
    """A store operation failed in a way that may succeed when retried."""


class StoreRejected(StoreError):
    """The store refused the data itself: sending the same rows again cannot succeed.

    ``reason`` names the kind of refusal (a short, fixed label: ``constraint_violated``,
    ``cannot_parse``, ``schema_mismatch``, ...; see :mod:`~agentaudit.store._refusals`),
    ``code`` is ClickHouse's error code. ``row_level``: the refusal depends on the rows
    (some rows may be fine, so splitting the insert can isolate the bad ones); when
    False it is the table's (a missing table or column), and every row fails alike.
    """

    def __init__(self, message: str, *, reason: str, code: int, row_level: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code
        self.row_level = row_level


class ReadOnlyViolation(StoreError):
    """A read-only query tried to write or change state."""


class QueryFailed(StoreError):
    """ClickHouse rejected an investigator query (unknown column, memory limit, ...)."""


class QueryTimeout(StoreError):
    """An investigator query ran past its time limit and was stopped."""


class QueryBusy(StoreUnavailable):
    """Too many investigator queries run or wait already; retry in a few seconds."""


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query, in order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def error_code(exc: BaseException) -> int | None:
    """ClickHouse's numeric error code of ``exc`` (``Code: N.`` in its text), if any."""
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


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (at most 500 characters), for one-line errors."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
