"""Admin route of erasure (GDPR Art. 17; responder only; docs/evidence.md).

* ``POST /v1/erasures`` ``{subject, identifiers?, reason, requested_by?}``: erase the user
  ``subject`` and the further ``identifiers`` (email addresses, phone numbers, ...) from
  every audit table, with the redaction pseudonyms of all of them. 200 ``{"erasure":
  {erasure_id, replacement, rows_changed, tables, units, old_parts_left}}``; 409 refused
  (a legal hold covers the subject's data, an identifier too short, the reason names the
  subject): nothing changed; 503 the store failed.

It can take a while (every table holding the subject is rewritten, then the old parts
must leave the disk): clients should allow minutes. An agent token answers 403
(recorded). The erasure record (who, when, why, which units changed from which digest to
which) is chained; ``agentaudit verify`` accounts for it.

Wiring (``collector/app.py``, in the admin API's ``extra_routes``):
``*erasure_routes(evidence, gate),``
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
from agentaudit.store.evidence.erasure import ErasureRefused

__all__ = ["erasure_routes"]

MAX_BODY_BYTES: Final = 64 * 1024


def erasure_routes(evidence: EvidenceService | None, gate: Gate) -> list[Route]:
    """The route above, over ``evidence`` (none without it)."""
    if evidence is None:
        return []

    async def erase(request: Request) -> Response:
        who = await gate.responder(request, "erase", "user")
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        subject = data.get("subject")
        identifiers: Any = data.get("identifiers", [])
        reason = data.get("reason")
        if not isinstance(subject, str) or not isinstance(reason, str):
            return json_error(400, '"subject" and "reason" must be strings')
        if not isinstance(identifiers, list) or not all(isinstance(i, str) for i in identifiers):
            return json_error(400, '"identifiers" must be a list of strings')
        requested_by = data.get("requested_by")
        actor = requested_by if isinstance(requested_by, str) and requested_by else who.label
        try:
            report = await run_in_threadpool(
                lambda: evidence.erase(subject, identifiers=identifiers, actor=actor, reason=reason)
            )
        except ErasureRefused as exc:
            return json_error(409, str(exc), reason="refused")
        except StoreError as exc:
            return json_error(503, f"the erasure failed: {exc}")
        return JSONResponse({"erasure": report.to_json()})

    return [Route("/v1/erasures", erase, methods=["POST"])]
