"""``agentaudit sql``: run an investigator query on a running process or on a store.

Where the query runs, in order: ``--api URL`` (a running ``up``/``collector``, through
its admin API); ``--store DIR`` / ``--clickhouse DSN`` (open the store directly); with
neither, the admin API at ``AGENTAUDIT_API_URL`` if a process answers there, else the
default embedded store. Either way the query goes through
:meth:`agentaudit.store.Store.investigate`: the SQL guard, then a read-only handle with
limits (docs/sql.md). A refused query exits 8 (``ExitCode.REFUSED``) with one line
naming what is not allowed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from agentaudit.client import AdminApiError, AdminApiRefused, AdminClient
from agentaudit.collector.admin.api import json_default
from agentaudit.config import DEFAULT_API_URL, Config
from agentaudit.config.tokens import responder_token
from agentaudit.store import QueryResult

__all__ = [
    "api_is_up",
    "format_result",
    "query_api",
    "query_store",
    "run_sql",
]

FORMATS = ("table", "csv", "json")
MAX_CELL_WIDTH = 60


def api_is_up(url: str, timeout: float = 0.5) -> bool:
    """True when an agentaudit admin API answers at ``url``."""
    try:
        return AdminClient(url).healthy(timeout)
    except AdminApiError:
        return False


def query_api(url: str, sql: str, *, token: str | None, timeout: float = 120.0) -> QueryResult:
    """Run ``sql`` through a running process's ``POST /v1/query``.

    Raises :class:`~agentaudit.client.AdminApiRefused` (exit 8) when there is no
    responder token or the guard refuses the query, and
    :class:`~agentaudit.client.AdminApiError` for every other failure (a query ClickHouse
    rejects, an unreachable or busy API).
    """
    client = AdminClient(url, token=token, timeout=timeout)
    try:
        answer = client.query(sql)
    except AdminApiRefused as exc:
        if exc.status in (401, 403):
            raise
        raise AdminApiError(str(exc)) from None
    return QueryResult(answer.columns, answer.rows)


def query_store(dsn: str, sql: str, *, reader_dsn: str | None = None) -> QueryResult:
    """Open the store named by ``dsn`` (taking its lock) and investigate ``sql`` there.

    ``reader_dsn``: the read-only ClickHouse user investigations run as (server mode).
    """
    from agentaudit.store import Store
    from agentaudit.store.migrations import apply_migrations

    with Store.open(dsn, reader_dsn=reader_dsn) as store:
        apply_migrations(store)
        return store.investigate(sql)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | list | dict | tuple):
        return json.dumps(value, default=json_default, ensure_ascii=False)
    # Datetimes, decimals, UUIDs, ...: their plain text, not a JSON-quoted string.
    return str(json_default(value))


def format_result(result: QueryResult, fmt: str) -> str:
    """Render ``result`` as an aligned table, CSV, or one JSON array of row objects."""
    if fmt == "json":
        return json.dumps(result.as_dicts(), default=json_default, ensure_ascii=False)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_cell(v) for v in row] for row in result.rows)
        return buffer.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in row] for row in result.rows]
    cells = [
        [c if len(c) <= MAX_CELL_WIDTH else c[: MAX_CELL_WIDTH - 1] + "…" for c in row]
        for row in cells
    ]
    widths = [len(name) for name in result.columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [
        "  ".join(name.ljust(w) for name, w in zip(result.columns, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(line.rstrip() for line in lines)


def _query_configured_store(config: Config, sql: str) -> QueryResult:
    return query_store(config.clickhouse_url, sql, reader_dsn=config.reader_clickhouse_url)


ROW_LIMIT = 100_000  # InvestigationLimits.max_result_rows; ClickHouse stops at a block


def run_sql(args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]) -> int:
    """``agentaudit sql``: where the query runs is described in this module's docstring."""
    config = config_from(args)
    if args.api:
        result = query_api(args.api, args.query, token=responder_token(config))
    elif args.store or args.clickhouse_url:
        result = _query_configured_store(config, args.query)
    else:
        api = os.environ.get("AGENTAUDIT_API_URL", DEFAULT_API_URL)
        if api_is_up(api):
            # AGENTAUDIT_ADMIN_TOKEN, else the one `up` generated into the state directory
            result = query_api(api, args.query, token=responder_token(config))
        else:
            result = _query_configured_store(config, args.query)
    print(format_result(result, args.format))
    if len(result.rows) >= ROW_LIMIT:
        print(
            f"agentaudit: note: the result was cut at about {ROW_LIMIT:,} rows; "
            "narrow the query or aggregate",
            file=sys.stderr,
        )
    return 0
