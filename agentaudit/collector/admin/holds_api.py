"""Admin routes of legal holds (responder only; docs/evidence.md).

* ``GET /v1/holds``: every hold, placed and released.
* ``POST /v1/holds`` ``{kind, value?, from?, to?, reason, requested_by?}``: place a hold on a
  ``session``, ``agent`` or ``user`` (``value`` = its id) or a ``time`` range (``from`` /
  ``to``: ISO 8601, UTC unless it says otherwise); its rows are kept past retention from
  now on. 201 ``{"hold": ...}``; 400 a bad request.
* ``POST /v1/holds/{hold_id}/release`` ``{reason, requested_by?}``: release it. 404 an
  unknown hold, 409 one already released.

An agent token answers 403 (recorded). The hold, its release, the TTL changes and what it
keeps are all recorded in chained tables.

Wiring (``collector/app.py``, in the admin API's ``extra_routes``):
``*hold_routes(evidence, gate),``
"""

from __future__ import annotations

from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.evidence import EvidenceService
from agentaudit.collector.serving.auth import json_error, read_json_object
from agentaudit.store import StoreError
from agentaudit.store.evidence.holds import HoldError, instant_us

__all__ = ["hold_routes"]

MAX_BODY_BYTES: Final = 16 * 1024


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def hold_routes(evidence: EvidenceService | None, gate: Gate) -> list[Route]:
    """The routes above, over ``evidence`` (none without it)."""
    if evidence is None:
        return []

    async def listing(request: Request) -> Response:
        who = await gate.responder(request, "list", "hold")
        if isinstance(who, Response):
            return who
        holds = await run_in_threadpool(evidence.holds)
        return JSONResponse({"holds": [h.to_json() for h in holds]})

    async def place(request: Request) -> Response:
        who = await gate.responder(request, "place", "hold")
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        kind = _text(data, "kind")
        try:
            start = instant_us(data["from"], "from") if kind == "time" and "from" in data else 0
            end = instant_us(data["to"], "to") if kind == "time" and "to" in data else 0
            hold = await run_in_threadpool(
                lambda: evidence.place_hold(
                    kind=kind,
                    value=_text(data, "value"),
                    from_us=start,
                    to_us=end,
                    actor=_text(data, "requested_by") or who.label,
                    reason=_text(data, "reason"),
                )
            )
        except HoldError as exc:
            return json_error(400, str(exc))
        except StoreError as exc:
            return json_error(503, f"the hold could not be recorded: {exc}")
        return JSONResponse({"hold": hold.to_json()}, status_code=201)

    async def release(request: Request) -> Response:
        hold_id = request.path_params["hold_id"]
        who = await gate.responder(request, "release", "hold", hold_id)
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        known = {h.hold_id: h for h in await run_in_threadpool(evidence.holds)}
        if hold_id not in known:
            return json_error(404, f"no hold {hold_id!r}")
        if not known[hold_id].active:
            return json_error(409, f"hold {hold_id} was already released", reason="released")
        try:
            hold = await run_in_threadpool(
                lambda: evidence.release_hold(
                    hold_id,
                    actor=_text(data, "requested_by") or who.label,
                    reason=_text(data, "reason"),
                )
            )
        except HoldError as exc:
            return json_error(400, str(exc))
        except StoreError as exc:
            return json_error(503, f"the release could not be recorded: {exc}")
        return JSONResponse({"hold": hold.to_json()})

    return [
        Route("/v1/holds", listing, methods=["GET"]),
        Route("/v1/holds", place, methods=["POST"]),
        Route("/v1/holds/{hold_id}/release", release, methods=["POST"]),
    ]
