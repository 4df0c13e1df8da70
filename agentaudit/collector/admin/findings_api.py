"""Admin routes to triage detector findings (responder only).

* ``GET /v1/findings?state=&agent=&limit=``: the newest version of each finding, newest
  finding first. ``state`` is one of ``open``, ``acknowledged``, ``false_positive``,
  ``escalated`` (repeat it or separate with commas; default: every state); ``agent`` an
  exact agent id; ``limit`` 1-1000 (default 100). Answer: ``{"findings": [...]}``.
* ``POST /v1/findings/{id}/triage`` ``{state, reason, requested_by}``: move a finding to
  ``acknowledged``, ``false_positive``, ``escalated`` or back to ``open``. The change is a
  new version row of the finding (:class:`~agentaudit.collector.admin.findings_log.
  FindingsLog`: every column copied, ``state``/``triaged_by``/``triage_reason`` new, the
  newest ``updated_at`` wins). Answer: ``{"finding": <new version>, "revocation":
  <outcome or null>}``.

Principals: both take the responder token only. An agent token answers 403 and the
attempt is recorded (``refused`` row in ``agentaudit.revocations``); no token, 401.
An agent can neither read the findings about it nor suppress or escalate them.

Contract with the detector core (it reads what this module writes):

* ``false_positive`` needs a ``reason`` (400 without). It is an **exception for that
  agent and rule**: the detector reads the findings whose newest version is in state
  ``false_positive`` (:data:`~agentaudit.collector.admin.findings_log.EXCEPTIONS_SQL`
  gives the ``(agent_id, rule)`` pairs) and raises no new finding for that agent and
  rule. Reopening the finding (``state: open``) lifts the exception.
* ``escalated`` starts a revocation of the finding's agent through the revocation
  service (``target="agent"``, requested by the responder, ``trigger`` = the finding's
  ``trace_id``/``span_id``), so every backend, webhook and the audit trail apply, and
  records the revocation's id in the version row's ``revocation_id``. A finding already
  escalated (or being escalated) answers 409: one click never revokes twice.
* ``acknowledged`` (seen, being handled) and ``open`` change only the triage fields.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.collector.admin.findings_log import FindingRecord, FindingsLog
from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.admin.revocation.service import MAX_FIELD_CHARS, RevocationService
from agentaudit.collector.serving.auth import json_error, read_json_object
from agentaudit.detector.model import STATES
from agentaudit.store import Store, StoreError

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "finding_routes"]

MAX_BODY_BYTES: Final = 16 * 1024
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
NO_STORE: Final = {"Cache-Control": "no-store"}


def _text(data: dict[str, Any], key: str) -> str | None:
    """The string field ``key`` stripped ("" when absent), None when not a string."""
    value = data.get(key, "")
    return value.strip() if isinstance(value, str) else None


def _states(request: Request) -> list[str] | Response:
    wanted = [
        part.strip()
        for value in request.query_params.getlist("state")
        for part in value.split(",")
        if part.strip()
    ]
    unknown = sorted(set(wanted) - set(STATES))
    if unknown:
        return json_error(400, f'"state" must be one of {", ".join(STATES)}; got {unknown[0]!r}')
    return wanted


def _limit(request: Request) -> int | Response:
    raw = request.query_params.get("limit", "")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return json_error(400, f'"limit" must be a whole number from 1 to {MAX_LIMIT}')
    return int(raw)


def _revocation_reason(finding: FindingRecord, reason: str) -> str:
    head = f"finding {finding.finding_id} escalated ({finding.rule}, {finding.severity})"
    return (f"{head}: {reason}" if reason else head)[:MAX_FIELD_CHARS]


class _FindingsApi:
    def __init__(self, log: FindingsLog, service: RevocationService, gate: Gate) -> None:
        self.log = log
        self.service = service
        self.gate = gate
        self._escalating: set[str] = set()
        self._escalating_lock = threading.Lock()

    async def listing(self, request: Request) -> Response:
        who = await self.gate.responder(request, "list", "finding")
        if isinstance(who, Response):
            return who
        states, limit = _states(request), _limit(request)
        if isinstance(states, Response):
            return states
        if isinstance(limit, Response):
            return limit
        agent = request.query_params.get("agent", "").strip()
        try:
            found = await run_in_threadpool(
                self.log.listing, states=states, agent=agent, limit=limit
            )
        except StoreError as exc:
            return json_error(503, f"the findings could not be read: {exc}")
        return JSONResponse({"findings": [f.to_json() for f in found]}, headers=NO_STORE)

    async def triage(self, request: Request) -> Response:
        finding_id = request.path_params["finding_id"]
        who = await self.gate.responder(request, "triage", "finding", finding_id)
        if isinstance(who, Response):
            return who
        data = await read_json_object(request, max_bytes=MAX_BODY_BYTES)
        if isinstance(data, Response):
            return data
        state, reason, requested_by = (_text(data, k) for k in ("state", "reason", "requested_by"))
        if state not in STATES:
            return json_error(400, f'"state" must be one of {", ".join(STATES)}')
        if reason is None or len(reason) > MAX_FIELD_CHARS:
            return json_error(400, f'"reason" must be a string of at most {MAX_FIELD_CHARS} chars')
        if requested_by is None or len(requested_by) > 256:
            return json_error(400, '"requested_by" must be a string of at most 256 characters')
        requested_by = requested_by or who.label
        try:
            finding = await run_in_threadpool(self.log.newest, finding_id)
        except StoreError as exc:
            return json_error(503, f"the finding could not be read: {exc}")
        if finding is None:
            return json_error(404, f"no finding {finding_id}")
        if state == "false_positive" and not reason:
            return json_error(
                400,
                "a false positive needs a reason: it becomes an exception for agent "
                f"{finding.agent_id!r} and rule {finding.rule!r}",
                reason="reason_required",
            )
        if state == "escalated":
            return await self._escalate(finding, reason, requested_by)
        return await self._record(finding_id, state, requested_by, reason, None)

    async def _escalate(self, finding: FindingRecord, reason: str, requested_by: str) -> Response:
        finding_id = finding.finding_id
        with self._escalating_lock:
            busy = finding_id in self._escalating
            if not busy and finding.state != "escalated":
                self._escalating.add(finding_id)
        if busy or finding.state == "escalated":
            already = f" (revocation {finding.revocation_id})" if finding.revocation_id else ""
            return json_error(
                409, f"finding {finding_id} is already escalated{already}", reason="escalated"
            )
        try:
            trigger = {"trace_id": finding.trace_id, "span_id": finding.span_id}
            try:
                outcome = await run_in_threadpool(
                    self.service.revoke,
                    target="agent",
                    target_id=finding.agent_id,
                    reason=_revocation_reason(finding, reason),
                    requested_by=requested_by,
                    trigger={k: v for k, v in trigger.items() if v} or None,
                )
            except ValueError as exc:
                return json_error(400, f"the revocation was refused: {exc}")
            except StoreError as exc:
                return json_error(503, f"the revocation could not be recorded: {exc}")
            return await self._record(
                finding_id, "escalated", requested_by, reason, outcome.to_json()
            )
        finally:
            with self._escalating_lock:
                self._escalating.discard(finding_id)

    async def _record(
        self,
        finding_id: str,
        state: str,
        requested_by: str,
        reason: str,
        revocation: dict[str, Any] | None,
    ) -> Response:
        revocation_id = str(revocation["id"]) if revocation else ""
        try:
            version = await run_in_threadpool(
                self.log.triage,
                finding_id,
                state=state,
                triaged_by=requested_by,
                reason=reason,
                revocation_id=revocation_id,
            )
        except LookupError as exc:
            return json_error(404, str(exc.args[0]))
        except StoreError as exc:
            started = f" (revocation {revocation_id} was started)" if revocation_id else ""
            return json_error(503, f"the triage could not be recorded{started}: {exc}")
        return JSONResponse(
            {"finding": version.to_json(), "revocation": revocation}, headers=NO_STORE
        )

    def routes(self) -> list[Route]:
        return [
            Route("/v1/findings", self.listing, methods=["GET"]),
            Route("/v1/findings/{finding_id}/triage", self.triage, methods=["POST"]),
        ]


def finding_routes(store: Store, service: RevocationService, gate: Gate) -> list[Route]:
    """The routes above: findings in ``store``, escalations through ``service``."""
    return _FindingsApi(FindingsLog(store), service, gate).routes()
