"""Quarantine state per agent: what the runtime polls before each tool call.

Invariants:

* Only the admin process changes this state (revocations, releases and the detector's
  automatic quarantine, all through :class:`~agentaudit.collector.admin.revocation.service.
  RevocationService`); agents can only read it (``GET /v1/quarantine``).
* Every change is persisted before it is visible (write-through to
  ``agentaudit.quarantine``, one version row per change), and the registry reloads the
  newest version per agent at start-up, so a quarantine survives restarts.
* Reads are served from memory: a quarantine is effective on the runtime's next poll.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from agentaudit.schema.identifiers import canonical_id
from agentaudit.store import Store

__all__ = [
    "QUARANTINED",
    "RELEASED",
    "ClickHouseQuarantineStore",
    "NotQuarantined",
    "QuarantineRegistry",
    "QuarantineState",
    "QuarantineStore",
]

QUARANTINED: Final = "quarantined"
RELEASED: Final = "released"


class NotQuarantined(LookupError):
    """A release was asked for an agent that is not quarantined."""


@dataclass(frozen=True)
class QuarantineState:
    """The current state of one agent (``state`` is ``quarantined`` or ``released``)."""

    agent: str
    state: str
    since: float
    updated_at: float
    reason: str
    actor: str
    revocation_id: str

    @property
    def quarantined(self) -> bool:
        return self.state == QUARANTINED

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "quarantined": self.quarantined,
            "state": self.state,
            "since": self.since if self.quarantined else None,
            "updated_at": self.updated_at,
            "reason": self.reason,
            "actor": self.actor,
            "revocation_id": self.revocation_id,
        }


class QuarantineStore(Protocol):
    """Where quarantine versions persist; ``load`` returns the newest per agent."""

    def load(self) -> Iterable[QuarantineState]: ...

    def save(self, state: QuarantineState) -> None: ...


class ClickHouseQuarantineStore:
    """Quarantine versions in ``agentaudit.quarantine``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, state: QuarantineState) -> None:
        self._store.command(
            "INSERT INTO agentaudit.quarantine (agent_id, updated_at, state, since, reason, "
            "actor, revocation_id) VALUES ({agent:String}, "
            "fromUnixTimestamp64Micro({updated:Int64}), {state:String}, "
            "fromUnixTimestamp64Micro({since:Int64}), {reason:String}, {actor:String}, "
            "{revocation:String})",
            parameters={
                "agent": state.agent,
                "updated": round(state.updated_at * 1e6),
                "state": state.state,
                "since": round(state.since * 1e6),
                "reason": state.reason,
                "actor": state.actor,
                "revocation": state.revocation_id,
            },
        )

    def load(self) -> Iterable[QuarantineState]:
        rows = self._store.query(
            "SELECT agent_id, state, toUnixTimestamp64Micro(since), "
            "toUnixTimestamp64Micro(updated_at), reason, actor, revocation_id "
            "FROM agentaudit.quarantine ORDER BY updated_at DESC LIMIT 1 BY agent_id"
        ).rows
        return [
            QuarantineState(row[0], row[1], row[2] / 1e6, row[3] / 1e6, row[4], row[5], row[6])
            for row in rows
        ]


class QuarantineRegistry:
    """The in-memory quarantine state with write-through persistence; thread-safe."""

    def __init__(
        self, store: QuarantineStore | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, QuarantineState] = {}
        if store is not None:
            for state in sorted(store.load(), key=lambda s: s.updated_at):
                self._states[state.agent] = state

    def _now(self, agent: str) -> float:
        """A timestamp strictly after the agent's previous version (versions never tie)."""
        previous = self._states.get(agent)
        now = self._clock()
        return max(now, previous.updated_at + 1e-6) if previous else now

    def _put(self, state: QuarantineState) -> QuarantineState:
        if self._store is not None:
            self._store.save(state)  # persist first: a failed write must not look applied
        self._states[state.agent] = state
        return state

    def quarantine(
        self, agent: str, *, reason: str, actor: str, revocation_id: str = ""
    ) -> QuarantineState:
        """Quarantine ``agent`` (again: keeps the original ``since``, updates the reason)."""
        if not agent:
            raise ValueError("agent must be non-empty")
        existing = self.state(agent)  # one principal, however it is spelled
        agent = existing.agent if existing is not None else agent
        with self._lock:
            now = self._now(agent)
            previous = self._states.get(agent)
            since = previous.since if previous and previous.quarantined else now
            return self._put(
                QuarantineState(agent, QUARANTINED, since, now, reason, actor, revocation_id)
            )

    def release(
        self, agent: str, *, reason: str, actor: str, revocation_id: str = ""
    ) -> QuarantineState:
        """Release a quarantined agent; NotQuarantined when it is not quarantined."""
        current = self.state(agent)
        agent = current.agent if current is not None else agent
        with self._lock:
            previous = self._states.get(agent)
            if previous is None or not previous.quarantined:
                raise NotQuarantined(f"agent {agent!r} is not quarantined")
            now = self._now(agent)
            return self._put(
                QuarantineState(agent, RELEASED, previous.since, now, reason, actor, revocation_id)
            )

    def state(self, agent: str) -> QuarantineState | None:
        """The agent's current state, or None when it was never quarantined.

        Ids are compared as principals: ``Victim`` reads the state of ``victim`` (a
        quarantined one first, if several spellings were ever recorded).
        """
        with self._lock:
            exact = self._states.get(agent)
            if exact is not None and exact.quarantined:
                return exact
            canonical = canonical_id(agent)
            if canonical is None:
                return exact
            same = [s for s in self._states.values() if canonical_id(s.agent) == canonical]
            quarantined = [s for s in same if s.quarantined]
            if quarantined:
                return quarantined[0]
            return exact or (max(same, key=lambda s: s.updated_at) if same else None)

    def is_quarantined(self, agent: str) -> bool:
        state = self.state(agent)
        return state is not None and state.quarantined

    def active(self) -> list[QuarantineState]:
        """Every quarantined agent, longest-quarantined first."""
        with self._lock:
            return sorted(
                (s for s in self._states.values() if s.quarantined), key=lambda s: s.since
            )
