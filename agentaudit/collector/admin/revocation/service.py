"""The revocation service: record, quarantine, fan out to every backend, record again.

Order of a revocation (each step is visible before the next starts):

1. a ``pending`` row in ``agentaudit.revocations`` (who, when, why, target);
2. for an ``agent`` target, the quarantine state (the runtime's next poll sees it);
3. every configured backend in parallel, each with its own bounded retries;
4. a new version of the row: ``done`` / ``partial`` / ``failed`` and per-backend results.

A release is the same path with ``action = release`` (backends that implement
:class:`ReleasingBackend` act on it). An agent token presented to a responder endpoint
becomes a ``refused`` row, and nothing else happens.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.collector.admin.revocation.context import ContextLoader, forensics_link
from agentaudit.collector.admin.revocation.model import (
    TARGETS,
    AlertContext,
    BackendResult,
    ReleasingBackend,
    RevocationBackend,
    RevocationRequest,
    overall_status,
)
from agentaudit.collector.admin.revocation.quarantine import (
    NotQuarantined,
    QuarantineRegistry,
    QuarantineState,
)
from agentaudit.collector.admin.revocation.records import RevocationLog, RevocationRecord

__all__ = ["MAX_FIELD_CHARS", "RevocationOutcome", "RevocationService"]

log = logging.getLogger(__name__)

MAX_FIELD_CHARS: Final = 1000
MAX_ACTIONS: Final = 16  # distinct actions counted per refused-attempts row


@dataclass
class _Refusals:
    """Refused attempts of one principal in one minute."""

    id: str
    principal: str
    minute: int
    first_at: float
    last_at: float = 0.0
    count: int = 0
    written: int = 0
    first: tuple[str, str, str, str] = ("", "", "", "")
    actions: dict[str, int] = dataclasses.field(default_factory=dict)

    def copy(self) -> _Refusals:
        return dataclasses.replace(self, actions=dict(self.actions))


@dataclass(frozen=True)
class RevocationOutcome:
    """What a revocation or release did."""

    id: str
    action: str
    status: str
    results: tuple[BackendResult, ...]
    quarantine: QuarantineState | None = None
    link: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "status": self.status,
            "results": {r.backend: r.to_json() for r in self.results},
            "quarantine": self.quarantine.to_json() if self.quarantine else None,
            "link": self.link,
        }


def _field(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{name}" must be a non-empty string')
    if len(value) > MAX_FIELD_CHARS:
        raise ValueError(f'"{name}" is longer than {MAX_FIELD_CHARS} characters')
    return value.strip()


class RevocationService:
    """Carries out revocations and releases; safe to call from several threads."""

    def __init__(
        self,
        log_: RevocationLog,
        backends: Sequence[RevocationBackend],
        *,
        quarantine: QuarantineRegistry,
        context: ContextLoader | None = None,
        dashboard_url: str | None = None,
        clock: Callable[[], float] = time.time,
        max_workers: int = 8,
    ) -> None:
        names = [b.name for b in backends]
        if len(set(names)) != len(names):
            raise ValueError(f"revocation backend names must be unique: {names}")
        self._log = log_
        self.backends = tuple(backends)
        self.quarantine = quarantine
        self._context = context
        self._dashboard_url = dashboard_url
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="revocation")
        self._refused_lock = threading.Lock()
        self._refused: dict[str, _Refusals] = {}  # per principal: its current minute

    def get(self, revocation_id: str) -> RevocationRecord | None:
        """The newest recorded version of a revocation or release."""
        return self._log.get(revocation_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.flush_refused()

    def flush_refused(self) -> None:
        """Write the current count of every principal's refused attempts (at close)."""
        with self._refused_lock:
            pending = [r.copy() for r in self._refused.values() if r.written != r.count]
            for live in self._refused.values():
                live.written = live.count
        for refusals in pending:
            self._write_refused(refusals)

    def _load_context(
        self, target: str, target_id: str, trigger: Mapping[str, str] | None
    ) -> AlertContext | None:
        if self._context is None:
            return None
        try:
            return self._context(target, target_id, trigger)
        except Exception:  # the alert must go out even without its context
            log.exception("loading the alert context of %s %s failed", target, target_id)
            return None

    def _fan_out(
        self, request: RevocationRequest, backends: Sequence[Any], method: str
    ) -> tuple[BackendResult, ...]:
        def run(backend: Any) -> BackendResult:
            try:
                result: BackendResult = getattr(backend, method)(request)
            except Exception as exc:  # a backend bug is a failed result, not a lost one
                log.exception("revocation backend %s raised", backend.name)
                return BackendResult(backend.name, False, 1, f"{type(exc).__name__}: {exc}")
            return result

        return tuple(self._pool.map(run, backends))

    def _finish(
        self,
        request: RevocationRequest,
        results: tuple[BackendResult, ...],
        quarantine: QuarantineState | None,
        *,
        after: float | None = None,
    ) -> RevocationOutcome:
        """Record the final version, strictly after ``after`` (the previous version)."""
        status = overall_status(results)
        previous = request.requested_at if after is None else after
        self._log.write(
            RevocationRecord(
                id=request.id,
                action=request.action,
                target=request.target,
                target_id=request.target_id,
                reason=request.reason,
                requested_by=request.requested_by,
                status=status,
                requested_at=request.requested_at,
                updated_at=max(self._clock(), previous + 0.001),
                results={r.backend: r.encoded() for r in results},
            )
        )
        return RevocationOutcome(
            request.id, request.action, status, results, quarantine, request.link
        )

    def _start(
        self,
        *,
        action: str,
        target: str,
        target_id: str,
        reason: str,
        requested_by: str,
        trigger: Mapping[str, str] | None,
    ) -> RevocationRequest:
        if target not in TARGETS:
            raise ValueError(f'"target" must be one of {", ".join(TARGETS)}')
        target_id = _field("id", target_id)
        reason = _field("reason", reason)
        requested_by = _field("requested_by", requested_by)
        context = self._load_context(target, target_id, trigger)
        request = RevocationRequest(
            id=uuid.uuid4().hex,
            action=action,
            target=target,
            target_id=target_id,
            reason=reason,
            requested_by=requested_by,
            requested_at=self._clock(),
            context=context,
            link=forensics_link(self._dashboard_url, target, target_id, context),
        )
        self._log.write(
            RevocationRecord(
                request.id,
                action,
                target,
                target_id,
                reason,
                requested_by,
                "pending",
                request.requested_at,
                request.requested_at,
            )
        )
        return request

    def revoke(
        self,
        *,
        target: str,
        target_id: str,
        reason: str,
        requested_by: str,
        trigger: Mapping[str, str] | None = None,
    ) -> RevocationOutcome:
        """Revoke ``target`` everywhere; ValueError for a bad field (nothing recorded)."""
        request = self._start(
            action="revoke",
            target=target,
            target_id=target_id,
            reason=reason,
            requested_by=requested_by,
            trigger=trigger,
        )
        state = None
        if target == "agent":
            state = self.quarantine.quarantine(
                request.target_id,
                reason=request.reason,
                actor=request.requested_by,
                revocation_id=request.id,
            )
        results = self._fan_out(request, self.backends, "revoke")
        return self._finish(request, results, state)

    def release(self, *, agent: str, reason: str, requested_by: str) -> RevocationOutcome:
        """Release a quarantined agent; NotQuarantined (nothing recorded) when it is not."""
        agent = _field("agent", agent)
        if not self.quarantine.is_quarantined(agent):
            raise NotQuarantined(f"agent {agent!r} is not quarantined")
        request = self._start(
            action="release",
            target="agent",
            target_id=agent,
            reason=reason,
            requested_by=requested_by,
            trigger=None,
        )
        state = self.quarantine.release(
            agent, reason=request.reason, actor=request.requested_by, revocation_id=request.id
        )
        releasing = [b for b in self.backends if isinstance(b, ReleasingBackend)]
        results = self._fan_out(request, releasing, "release")
        return self._finish(request, results, state)

    def retry(self, revocation_id: str) -> RevocationOutcome:
        """Run again the backends that did not succeed (or never ran: a crash while
        ``pending``); successful results are kept. LookupError for an unknown id,
        ValueError when there is nothing to retry. The quarantine is not touched.
        """
        record = self._log.get(revocation_id)
        if record is None:
            raise LookupError(f"no revocation {revocation_id}")
        if record.status not in ("pending", "partial", "failed"):
            raise ValueError(f"revocation {revocation_id} is {record.status}: nothing to retry")
        kept: list[BackendResult] = []
        for name, encoded in record.results.items():
            try:
                result = BackendResult.from_json(name, json.loads(encoded))
            except ValueError:
                continue
            if result.ok:
                kept.append(result)
        done = {r.backend for r in kept}
        context = self._load_context(record.target, record.target_id, None)
        request = RevocationRequest(
            id=record.id,
            action=record.action,
            target=record.target,
            target_id=record.target_id,
            reason=record.reason,
            requested_by=record.requested_by,
            requested_at=record.requested_at,
            context=context,
            link=forensics_link(self._dashboard_url, record.target, record.target_id, context),
        )
        method = "release" if record.action == "release" else "revoke"
        candidates = [
            b
            for b in self.backends
            if b.name not in done and (method == "revoke" or isinstance(b, ReleasingBackend))
        ]
        fresh = self._fan_out(request, candidates, method)
        order = {b.name: i for i, b in enumerate(self.backends)}
        results = tuple(sorted((*kept, *fresh), key=lambda r: order.get(r.backend, len(order))))
        state = self.quarantine.state(record.target_id) if record.target == "agent" else None
        return self._finish(request, results, state, after=record.updated_at)

    def record_refused(
        self, *, action: str, target: str, target_id: str, requested_by: str, detail: str
    ) -> str:
        """Record a refused attempt (e.g. an agent token on a responder endpoint).

        Aggregated per principal (``requested_by``) and minute: one ``refused`` row per
        pair (its columns describe the first attempt; ``results`` counts the attempts,
        in all and per action), so a hostile loop cannot grow the
        table without bound. The row is written at the first attempt and rewritten when
        the count reaches a power of two, when the principal's next minute begins, and at
        close: at most ~log2(n) + 2 versions for n attempts. Returns the row's id.
        """
        now = self._clock()
        minute = int(now // 60)
        principal = requested_by[:MAX_FIELD_CHARS]
        flush: _Refusals | None = None
        with self._refused_lock:
            current = self._refused.get(principal)
            if current is None or current.minute != minute:
                if current is not None and current.written != current.count:
                    flush = current
                current = self._refused[principal] = _Refusals(
                    id=uuid.uuid5(uuid.NAMESPACE_URL, f"refused:{principal}:{minute}").hex,
                    principal=principal,
                    minute=minute,
                    first_at=now,
                )
            if not current.count:
                current.first = (
                    action,
                    target[:MAX_FIELD_CHARS],
                    target_id[:MAX_FIELD_CHARS],
                    detail,
                )
            current.count += 1
            current.last_at = now
            if action in current.actions or len(current.actions) < MAX_ACTIONS:
                current.actions[action] = current.actions.get(action, 0) + 1
            write = current.count & (current.count - 1) == 0  # 1, 2, 4, 8, ...
            snapshot = current.copy() if write else None
        if flush is not None:
            self._write_refused(flush)
        if snapshot is not None:
            self._write_refused(snapshot)
            with self._refused_lock:
                live = self._refused.get(principal)
                if live is not None and live.id == snapshot.id:
                    live.written = max(live.written, snapshot.count)
        return current.id

    def _write_refused(self, refusals: _Refusals) -> None:
        action, target, target_id, detail = refusals.first
        self._log.write(
            RevocationRecord(
                id=refusals.id,
                action=action,
                target=target,
                target_id=target_id,
                reason=detail,
                requested_by=refusals.principal,
                status="refused",
                requested_at=refusals.first_at,
                updated_at=refusals.last_at,
                results={
                    "refused": detail,
                    "attempts": str(refusals.count),
                    "actions": json.dumps(refusals.actions, sort_keys=True),
                    "minute": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(refusals.minute * 60)),
                },
            )
        )
