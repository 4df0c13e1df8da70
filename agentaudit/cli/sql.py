"""``agentaudit sql``: run a read-only query on a running process or on a store.

Where the query runs, in order: ``--api URL`` (a running ``up``/``collector``, through
its admin API); ``--store DIR`` / ``--clickhouse DSN`` (open the store directly); with
neither, the admin API at ``AGENTAUDIT_API_URL`` if a process answers there, else the
default embedded store. Either way ClickHouse's readonly mode refuses writes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from agentaudit.collector.admin.api import json_default
from agentaudit.config import DEFAULT_API_URL, Config
from agentaudit.errors import AgentAuditError
from agentaudit.store import QueryResult

__all__ = ["ApiError", "api_is_up", "format_result", "query_api", "query_store", "run_sql"]

FORMATS = ("table", "csv", "json")
MAX_CELL_WIDTH = 60


class ApiError(AgentAuditError):
    """The admin API refused the query or could not be reached."""


def api_is_up(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/healthz", timeout=timeout) as reply:  # noqa: S310
            return bool(reply.status == 200)
    except (OSError, ValueError):
        return False


def query_api(url: str, sql: str, *, token: str | None, timeout: float = 120.0) -> QueryResult:
    """Run ``sql`` through a running process's ``POST /v1/query``."""
    if not url.startswith(("http://", "https://")):
        raise ApiError(f"--api: {url!r} is not an http(s) URL")
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        f"{url.rstrip('/')}/v1/query",
        data=json.dumps({"sql": sql}).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
            data = json.load(reply)
        return QueryResult(tuple(data["columns"]), [tuple(row) for row in data["rows"]])
    except urllib.error.HTTPError as exc:
        message = _error_of(exc) or f"the admin API at {url} answered {exc.code} {exc.reason}"
        if exc.code == 401:
            message += "; set AGENTAUDIT_ADMIN_TOKEN"
        raise ApiError(message) from None
    except OSError as exc:
        raise ApiError(f"cannot reach the admin API at {url}: {exc}") from None
    except (ValueError, TypeError, KeyError):
        # Something else answers there (the dashboard, a proxy's HTML page, ...).
        raise ApiError(
            f"{url} did not answer like an agentaudit admin API; check --api / AGENTAUDIT_API_URL"
        ) from None


def _error_of(reply: urllib.error.HTTPError) -> str | None:
    """The admin API's ``{"error": ...}`` message, if that is what the reply holds."""
    try:
        data = json.load(reply)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


def query_store(dsn: str, sql: str) -> QueryResult:
    """Open the store named by ``dsn`` (taking its lock) and run ``sql`` read-only."""
    from agentaudit.store import Store
    from agentaudit.store.migrations import apply_migrations

    with Store.open(dsn) as store:
        apply_migrations(store)
        return store.read_only(sql)


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


ROW_LIMIT = 100_000  # READ_LIMITS["max_result_rows"] of the store; ClickHouse stops at a block


def run_sql(args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]) -> int:
    """``agentaudit sql``: where the query runs is described in this module's docstring."""
    token = os.environ.get("AGENTAUDIT_ADMIN_TOKEN") or None
    if args.api:
        result = query_api(args.api, args.query, token=token)
    elif args.store or args.clickhouse_url:
        result = query_store(config_from(args).clickhouse_url, args.query)
    else:
        api = os.environ.get("AGENTAUDIT_API_URL", DEFAULT_API_URL)
        if api_is_up(api):
            result = query_api(api, args.query, token=token)
        else:
            result = query_store(config_from(args).clickhouse_url, args.query)
    print(format_result(result, args.format))
    if len(result.rows) >= ROW_LIMIT:
        print(
            f"agentaudit: note: the result was cut at about {ROW_LIMIT:,} rows; "
            "narrow the query or aggregate",
            file=sys.stderr,
        )
    return 0
