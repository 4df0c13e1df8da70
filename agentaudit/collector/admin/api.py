"""The admin API (port 4320): health, investigator queries, and the mounted revocation path.

Authentication (DESIGN §5, docs/trust.md): ``/healthz`` is always open. ``POST
/v1/query`` is a responder endpoint: the admin
:class:`~agentaudit.collector.admin.gate.Gate` answers 401 without the responder token
and 403 to an agent's token (the attempt is recorded).

Queries go through :meth:`Store.investigate` (the guard, then a read-only handle with
limits; docs/sql.md) in worker threads of their own: a query never runs on the event
loop, and never takes the threads that revocations and quarantine reads use. Answers:
200 ``{"columns", "rows"}``; 400 bad body; 401 no responder token; 403 the guard's
refusal (its message names what is not allowed); 422 ClickHouse rejected the query; 503
with ``Retry-After`` when too many queries run or wait; 504 when a query ran past its
limit (the engine's ``max_execution_time``, or this endpoint's wall clock, which then
kills it in the engine).

Revocations, releases, quarantine state, credentials, the deny-list and JWKS are not
defined here: the admin process passes their routes (``path.routes(gate)``, the agent
registry's, the approvals') as ``extra_routes``, all behind the same gate.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.serving.auth import json_error, read_json_object
from agentaudit.store import (
    QueryBusy,
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    Store,
    StoreError,
    Ticket,
)

__all__ = ["build_admin_app", "json_default"]

MAX_BODY_BYTES = 1024 * 1024


def json_default(value: Any) -> Any:
    """JSON form of the values ClickHouse returns (datetimes, decimals, bytes, ...)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID | ipaddress.IPv4Address):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return _dumps(content)


def _dumps(content: Any) -> bytes:
    return json.dumps(content, default=json_default, ensure_ascii=False).encode()


RETRY_AFTER_SECONDS = 5


def build_admin_app(
    store: Store,
    *,
    gate: Gate,
    health: Callable[[], Mapping[str, Any]] = dict,
    extra_routes: Sequence[BaseRoute] = (),
    query_timeout: float | None = None,
) -> Starlette:
    """The admin ASGI app over ``store``; ``health`` adds fields to ``/healthz``.

    ``gate``: the admin gate; ``/v1/query`` authenticates through it, like every
    responder endpoint (an agent token is refused and the attempt recorded).
    ``query_timeout``: the wall clock of one query, queue included (default: the
    store's :attr:`~agentaudit.store.InvestigationLimits.wall_seconds`, which leaves the
    engine's own limit to fire first).

    ``extra_routes`` (the revocation path's routes) are mounted after ``/healthz`` and
    ``/v1/query``; a route claiming either of those paths is refused (ValueError).
    """
    reserved = {"/healthz", "/v1/query"}
    clashing = sorted(reserved & {getattr(r, "path", "") for r in extra_routes})
    if clashing:
        raise ValueError(f"extra admin routes may not replace {', '.join(clashing)}")
    limits = store.investigation_limits
    wall = limits.wall_seconds if query_timeout is None else query_timeout
    # Threads of their own: a query waiting for a slot or running never holds one of the
    # default pool's threads, which revocations and quarantine reads need.
    threads = anyio.CapacityLimiter(limits.max_running + limits.max_waiting)

    async def healthz(request: Request) -> Response:
        return _Json({"status": "ok", **health()})

    def answer(sql: str, ticket: Ticket) -> bytes:
        result = store.investigate(sql, ticket)
        return _dumps({"columns": list(result.columns), "rows": [list(r) for r in result.rows]})

    async def refused(request: Request) -> Response | None:
        """The answer refusing a caller who is not a responder, else None."""
        who = await gate.responder(request, "query", "sql")
        return who if isinstance(who, Response) else None

    async def query(request: Request) -> Response:
        refusal = await refused(request)
        if refusal is not None:
            return refusal
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        sql = data.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            return json_error(400, 'give the query as {"sql": "SELECT ..."}')
        if data.get("parameters"):
            return json_error(
                400,
                '"parameters" are not accepted: write values into the query as literals',
            )
        if threads.available_tokens < 1:
            return _busy(
                "too many queries: all query slots are busy and the queue is full; "
                "retry in a few seconds"
            )
        ticket = Ticket()
        try:
            with anyio.fail_after(wall):
                body = await anyio.to_thread.run_sync(
                    answer, sql, ticket, abandon_on_cancel=True, limiter=threads
                )
        except TimeoutError:
            await anyio.to_thread.run_sync(ticket.cancel)
            return json_error(504, f"the query took longer than {wall:g} s and was cancelled")
        except QueryRefused as exc:
            return json_error(403, str(exc))
        except QueryBusy as exc:
            return _busy(str(exc))
        except QueryTimeout as exc:
            return json_error(504, str(exc))
        except QueryFailed as exc:
            return json_error(422, str(exc))
        except StoreError as exc:
            return json_error(503, str(exc))
        return Response(body, media_type="application/json")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/v1/query", query, methods=["POST"]),
            *extra_routes,
        ]
    )


def _busy(message: str) -> Response:
    response = json_error(503, message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
