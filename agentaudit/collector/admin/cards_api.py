"""Admin routes of identity-card sign-offs (responder only).

* ``POST /v1/cards/{agent}/signoffs`` ``{signed_by, card_hash, card, catalog?}``: record
  that ``signed_by`` attests to the card whose RFC 8785 canonical JSON is ``card``
  (``card_hash`` = ``sha256:`` of it; :func:`agentaudit.catalog.canonical_card`). The
  process checks the hash and that the card is the agent's, then appends a row to
  ``agentaudit.card_signoffs`` (:class:`~agentaudit.catalog.signoffs.SignoffLog`,
  ``recorded_by`` = the responder principal). 201 ``{"signoff": ...}``; 400 a card
  that does not verify; 503 the store failed.
* ``GET /v1/cards/{agent}/signoffs``: the agent's sign-offs, newest first.

The process does not need the catalog: the CLI builds the card from its catalog file
and sends the signed content, so what is recorded is exactly what the person saw.
An agent token answers 403 (recorded): an agent cannot sign its own card.

Wiring (``collector/app.py``, in the admin API's ``extra_routes``):
``*card_routes(store, gate),``
"""

from __future__ import annotations

from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.catalog.observed import StoreSource
from agentaudit.catalog.signoffs import SignoffError, SignoffLog, signoff_history
from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.serving.auth import json_error, read_json_object
from agentaudit.store import Store, StoreError

__all__ = ["card_routes"]

MAX_BODY_BYTES: Final = 1024 * 1024 + 16 * 1024
NO_STORE: Final = {"Cache-Control": "no-store"}


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key, "")
    return value if isinstance(value, str) else None


def card_routes(store: Store, gate: Gate) -> list[Route]:
    """The routes above, over ``store``."""
    log = SignoffLog(store)

    async def sign(request: Request) -> Response:
        agent = request.path_params["agent"]
        who = await gate.responder(request, "sign", "card", agent)
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        fields = {k: _text(data, k) for k in ("signed_by", "card_hash", "card", "catalog")}
        wrong = next((k for k, v in fields.items() if v is None), None)
        if wrong is not None:
            return json_error(400, f'"{wrong}" must be a string')
        try:
            signoff = await run_in_threadpool(
                lambda: log.record(
                    agent,
                    signed_by=fields["signed_by"] or "",
                    card_hash=fields["card_hash"] or "",
                    card=fields["card"] or "",
                    catalog=fields["catalog"] or "",
                    recorded_by=who.label,
                )
            )
        except SignoffError as exc:
            return json_error(400, str(exc))
        except StoreError as exc:
            return json_error(503, f"the sign-off could not be recorded: {exc}")
        return JSONResponse({"signoff": signoff.to_json()}, status_code=201, headers=NO_STORE)

    async def history(request: Request) -> Response:
        agent = request.path_params["agent"]
        who = await gate.responder(request, "list", "card", agent)
        if isinstance(who, Response):
            return who
        try:
            found = await run_in_threadpool(signoff_history, StoreSource(store), agent)
        except StoreError as exc:
            return json_error(503, f"the sign-offs could not be read: {exc}")
        return JSONResponse({"signoffs": [s.to_json() for s in found]}, headers=NO_STORE)

    return [
        Route("/v1/cards/{agent}/signoffs", sign, methods=["POST"]),
        Route("/v1/cards/{agent}/signoffs", history, methods=["GET"]),
    ]
