"""Carrying out the detector's automatic actions through the revocation path.

An action is a revocation requested by ``detector``, so every configured backend
(credential deny-list, signed webhooks, Vault), the quarantine and the audit trail in
``agentaudit.revocations`` apply exactly as for a responder's revocation:

* ``quarantine`` revokes ``target = agent`` (the agent's runtime refuses its next tool
  call once its quarantine poll sees it; only a responder can release it);
* ``revoke_credential`` revokes ``target = credential`` (the credential id of the
  triggering call).

Two ways to reach the revocation service:

* :class:`ServiceActions` — in the process that hosts it (``agentaudit up`` /
  ``agentaudit collector`` with the detector on);
* :class:`ApiActions` — from ``agentaudit detect --follow``, through the collector's
  admin API (``POST /v1/revocations``) with the responder token.

An agent already quarantined is not revoked again: the finding records the quarantine's
revocation id. :class:`ActionRunner` carries actions out on a thread of its own (the
backends may take seconds), retries a failure three times (1, 2, 4 s apart) and hands
each outcome back for the finding (:meth:`ActionRunner.completed`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from agentaudit.detector.engine import ActionRequest

__all__ = ["ActionOutcome", "ActionRunner", "Actions", "ApiActions", "ServiceActions"]

log = logging.getLogger(__name__)

REQUESTED_BY: Final = "detector"
RETRIES: Final = (1.0, 2.0, 4.0)


class Actions(Protocol):
    """Carries out one action; returns the revocation id (raises when it failed)."""

    def carry_out(self, request: ActionRequest) -> str: ...


def _trigger(request: ActionRequest) -> dict[str, str]:
    return {"trace_id": request.trace_id, "span_id": request.span_id}


def _target(request: ActionRequest) -> tuple[str, str]:
    if request.action == "quarantine":
        return "agent", request.agent
    return "credential", request.credential_id


class ServiceActions:
    """Through the :class:`RevocationService` of this process."""

    def __init__(self, service: Any) -> None:
        self._service = service

    def carry_out(self, request: ActionRequest) -> str:
        target, target_id = _target(request)
        if target == "agent":
            state = self._service.quarantine.state(target_id)
            if state is not None and state.quarantined:
                return str(state.revocation_id)
        outcome = self._service.revoke(
            target=target,
            target_id=target_id,
            reason=request.reason,
            requested_by=REQUESTED_BY,
            trigger=_trigger(request),
        )
        return str(outcome.id)


class ApiActions:
    """Through a collector's admin API, as the responder (``AdminClient``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def carry_out(self, request: ActionRequest) -> str:
        target, target_id = _target(request)
        if target == "agent":
            state = self._client.quarantine_state(target_id)
            if state.get("quarantined"):
                return str(state.get("revocation_id") or "")
        answer = self._client.revoke(
            target,
            target_id,
            reason=request.reason,
            requested_by=REQUESTED_BY,
            trigger=_trigger(request),
        )
        return str(answer.get("id", ""))


@dataclass(frozen=True)
class ActionOutcome:
    request: ActionRequest
    revocation_id: str = ""
    error: str = ""
    seconds: float = 0.0


class ActionRunner:
    """Runs actions one at a time on a daemon thread (module docstring)."""

    def __init__(
        self,
        actions: Actions,
        *,
        on_done: Callable[[], None] | None = None,
        retries: tuple[float, ...] = RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._actions = actions
        self._on_done = on_done
        self._retries = retries
        self._sleep = sleep
        self._queue: queue.Queue[ActionRequest | None] = queue.Queue()
        self._done: queue.Queue[ActionOutcome] = queue.Queue()
        self._revoked: dict[tuple[str, str], str] = {}  # (action, target) -> revocation
        self._thread = threading.Thread(
            target=self._run, name="agentaudit-detector-actions", daemon=True
        )
        self._thread.start()

    def submit(self, request: ActionRequest) -> None:
        self._queue.put(request)

    def completed(self) -> list[ActionOutcome]:
        """The outcomes that arrived since the last call."""
        outcomes = []
        while True:
            try:
                outcomes.append(self._done.get_nowait())
            except queue.Empty:
                return outcomes

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued actions (up to ``timeout``), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            self._done.put(self._attempt(request))
            if self._on_done is not None:
                self._on_done()

    def _attempt(self, request: ActionRequest) -> ActionOutcome:
        started = time.monotonic()
        key = (request.action, request.credential_id or request.agent)
        if request.action == "revoke_credential" and key in self._revoked:
            return ActionOutcome(request, self._revoked[key])
        error = ""
        for attempt, pause in enumerate((0.0, *self._retries)):
            if pause:
                self._sleep(pause)
            try:
                revocation = self._actions.carry_out(request)
            except Exception as exc:  # a backend or network failure: recorded, retried
                error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning(
                    "detector: %s of %s failed (attempt %d): %s",
                    request.action,
                    request.agent,
                    attempt + 1,
                    error,
                )
                continue
            self._revoked[key] = revocation
            log.warning(
                "detector: %s %s (revocation %s): %s",
                request.action,
                request.agent,
                revocation,
                request.reason,
            )
            return ActionOutcome(request, revocation, "", time.monotonic() - started)
        return ActionOutcome(request, "", error, time.monotonic() - started)
