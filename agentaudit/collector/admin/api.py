"""The admin API (port 4320): health, read-only queries, and the mounted revocation path.

Authentication (DESIGN §5): ``/healthz`` is always open. Queries require the responder
token ``AGENTAUDIT_ADMIN_TOKEN`` when one is configured; with no tokens configured the
process only binds loopback (checked at start-up, not here). Queries run through
:meth:`Store.read_only`, so ClickHouse itself refuses writes.

Revocations, releases, quarantine state, credentials, the deny-list and JWKS are not
defined here: the admin process builds them with
:func:`agentaudit.collector.admin.revocation.build_revocation_path` and passes
``path.routes(admin_token=..., agent_token=...)`` as ``extra_routes``. Those routes do
their own authentication (an agent token on a responder endpoint is refused with 403
and the attempt is recorded).
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agentaudit.collector.serving.auth import bearer_ok, json_error, read_json_object
from agentaudit.store import ReadOnlyViolation, Store, StoreError

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
        return json.dumps(content, default=json_default, ensure_ascii=False).encode()


def build_admin_app(
    store: Store,
    *,
    admin_token: str | None,
    health: Callable[[], Mapping[str, Any]] = dict,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The admin ASGI app over ``store``; ``health`` adds fields to ``/healthz``.

    ``extra_routes`` (the revocation path's routes) are mounted after ``/healthz`` and
    ``/v1/query``; a route claiming either of those paths is refused (ValueError).
    """
    reserved = {"/healthz", "/v1/query"}
    clashing = sorted(reserved & {getattr(r, "path", "") for r in extra_routes})
    if clashing:
        raise ValueError(f"extra admin routes may not replace {', '.join(clashing)}")

    def authorised(request: Request) -> bool:
        return bearer_ok(request.headers.get("authorization"), admin_token)

    async def healthz(request: Request) -> Response:
        return _Json({"status": "ok", **health()})

    async def query(request: Request) -> Response:
        if not authorised(request):
            return json_error(
                401, "this endpoint needs the responder token (AGENTAUDIT_ADMIN_TOKEN)"
            )
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        sql = data.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            return json_error(400, 'give the query as {"sql": "SELECT ..."}')
        parameters = data.get("parameters") or {}
        if not isinstance(parameters, dict):
            return json_error(400, '"parameters" must be an object')
        try:
            result = store.read_only(sql, parameters)
        except ReadOnlyViolation as exc:
            return json_error(403, str(exc))
        except StoreError as exc:
            return json_error(422, str(exc))
        return _Json({"columns": list(result.columns), "rows": [list(r) for r in result.rows]})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/v1/query", query, methods=["POST"]),
            *extra_routes,
        ]
    )
