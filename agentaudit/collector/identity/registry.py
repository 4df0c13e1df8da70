"""The agent registry: per-agent tokens, stored hashed, revocable.

``agentaudit agents add NAME --owner ...`` registers an agent and prints its token once;
spans exported with it are attributed to that agent (``tool_calls.authenticated_agent``),
its quarantine reads and credential requests are limited to itself. The shared
``AGENTAUDIT_TOKEN`` keeps working, unattributed. ``--tool-server`` registers a tool
server instead (``kind``): its spans are the server's records of calls, which name their
callers (:data:`~agentaudit.collector.identity.principals.TOOL_SERVER`).

Invariants:

* Only a token's SHA-256 is kept (:func:`~agentaudit.collector.identity.principals.
  token_digest`), in ``agentaudit.agents`` (one version row per change, the newest
  wins) and in memory; the token itself exists only in the answer to ``add``.
* A change is persisted before it takes effect (a failed write does not look applied);
  ``lookup`` serves from memory and never touches the store.
* Names are canonical principal ids (:mod:`agentaudit.schema.identifiers`): two names
  that differ only by case or by a compatibility form are one agent.
* Collectors sharing one store see each other's changes within ``refresh`` seconds
  (:meth:`AgentRegistry.reload`); worker processes read the digests from a snapshot
  file the store-owning process rewrites on every change (:class:`TokenSnapshot`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Protocol

from agentaudit.collector.identity.principals import AGENT, KINDS, Registration, token_digest
from agentaudit.config.tokens import new_token
from agentaudit.schema.identifiers import MAX_ID_CHARS, canonical_id

__all__ = [
    "ACTIVE",
    "REVOKED",
    "TOKEN_SNAPSHOT",
    "AgentExists",
    "AgentRecord",
    "AgentRegistry",
    "ClickHouseAgentStore",
    "RegistryError",
    "TokenSnapshot",
    "UnknownAgent",
]

log = logging.getLogger(__name__)

ACTIVE: Final = "active"
REVOKED: Final = "revoked"
TOKEN_PREFIX: Final = "aa_agent"  # noqa: S105 - a prefix, not a token
TOKEN_SNAPSHOT: Final = "agent-tokens.json"  # noqa: S105 - a file name
"""The snapshot of active token digests in the state directory, for worker processes."""
MAX_TEXT: Final = 1000


class RegistryError(ValueError):
    """A registration request that cannot be carried out (the message says why)."""


class AgentExists(RegistryError):
    """The agent is registered already (rotate its token instead)."""


class UnknownAgent(RegistryError):
    """No agent of that name is registered."""


@dataclass(frozen=True)
class AgentRecord:
    """One version of one agent's registration; never holds a token."""

    name: str
    state: str
    owner: str
    description: str
    token_digest: str
    token_hint: str
    created_at: float
    updated_at: float
    actor: str
    reason: str = ""
    kind: str = AGENT

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    @property
    def registration(self) -> Registration:
        return Registration(self.name, self.kind)

    def to_json(self) -> dict[str, Any]:
        """For listings: everything but the digest."""
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "owner": self.owner,
            "description": self.description,
            "token_hint": self.token_hint,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "actor": self.actor,
            "reason": self.reason,
        }


class AgentStore(Protocol):
    """Where registry versions persist; ``load`` returns the newest per agent."""

    def load(self) -> Iterable[AgentRecord]: ...

    def save(self, record: AgentRecord) -> None: ...


class ClickHouseAgentStore:
    """Registry versions in ``agentaudit.agents``."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def save(self, record: AgentRecord) -> None:
        self._store.command(
            "INSERT INTO agentaudit.agents (name, updated_at, state, owner, description, "
            "token_digest, token_hint, created_at, actor, reason, kind) VALUES ({name:String}, "
            "fromUnixTimestamp64Micro({updated:Int64}), {state:String}, {owner:String}, "
            "{description:String}, {digest:String}, {hint:String}, "
            "fromUnixTimestamp64Micro({created:Int64}), {actor:String}, {reason:String}, "
            "{kind:String})",
            parameters={
                "name": record.name,
                "updated": round(record.updated_at * 1e6),
                "state": record.state,
                "owner": record.owner,
                "description": record.description,
                "digest": record.token_digest,
                "hint": record.token_hint,
                "created": round(record.created_at * 1e6),
                "actor": record.actor,
                "reason": record.reason,
                "kind": record.kind,
            },
        )

    def load(self) -> Iterable[AgentRecord]:
        rows = self._store.query(
            "SELECT name, state, owner, description, token_digest, token_hint, "
            "toUnixTimestamp64Micro(created_at), toUnixTimestamp64Micro(updated_at), actor, "
            "reason, kind FROM agentaudit.agents ORDER BY updated_at DESC LIMIT 1 BY name"
        ).rows
        return [
            AgentRecord(
                r[0], r[1], r[2], r[3], r[4], r[5], r[6] / 1e6, r[7] / 1e6, r[8], r[9], r[10]
            )
            for r in rows
        ]


def _field(name: str, value: str, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise RegistryError(f"give the agent's {name}")
    if len(value) > MAX_TEXT or not value.isprintable():
        raise RegistryError(f"the {name} must be at most {MAX_TEXT} printable characters")
    return value


class TokenSnapshot:
    """The active token digests in a file, for worker processes that do not open the store.

    Written atomically (temporary file, fsync, rename; mode 0600) by the store-owning
    process, as ``{digest: [name, kind]}``; read by :meth:`lookup`, which reloads the file
    when its modification time changes, at most once per ``interval`` seconds. A
    snapshot of an earlier version (``{digest: name}``) reads as agents.
    """

    def __init__(self, path: Path, *, interval: float = 1.0) -> None:
        self.path = path
        self._interval = interval
        self._digests: dict[str, Registration] = {}
        self._stamp: float | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def write(self, digests: dict[str, Registration]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({d: [r.name, r.kind] for d, r in digests.items()}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def lookup(self, digest: str) -> Registration | None:
        now = time.monotonic()
        if now - self._checked >= self._interval:
            with self._lock:
                self._checked = now
                self._reload()
        return self._digests.get(digest)

    def _reload(self) -> None:
        try:
            stamp = self.path.stat().st_mtime
            if stamp == self._stamp:
                return
            loaded = json.loads(self.path.read_text())
        except FileNotFoundError:
            self._digests, self._stamp = {}, None
            return
        except (OSError, ValueError) as exc:
            log.error("cannot read the agent token snapshot %s: %s", self.path, exc)
            return
        if isinstance(loaded, dict):
            self._digests = {
                str(digest): found
                for digest, value in loaded.items()
                if (found := _registration(value)) is not None
            }
            self._stamp = stamp


def _registration(value: object) -> Registration | None:
    """A snapshot entry: ``[name, kind]``, or a bare name (an earlier version's agent)."""
    if isinstance(value, str):
        return Registration(value)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return Registration(value[0], value[1])
    return None


class AgentRegistry:
    """The registered agents: in memory, persisted write-through; thread-safe."""

    def __init__(
        self,
        store: AgentStore | None = None,
        *,
        snapshot: TokenSnapshot | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._snapshot = snapshot
        self._clock = clock
        self._lock = threading.Lock()
        self._agents: dict[str, AgentRecord] = {}
        self._digests: dict[str, Registration] = {}
        self.reload()

    def reload(self) -> None:
        """Read the newest version of every agent from the store (changes made by other
        collectors sharing it)."""
        if self._store is None:
            return
        records = sorted(self._store.load(), key=lambda r: r.updated_at)
        with self._lock:
            for record in records:
                current = self._agents.get(record.name)
                if current is None or record.updated_at >= current.updated_at:
                    self._agents[record.name] = record
            self._index()

    def _index(self) -> None:
        self._digests = {r.token_digest: r.registration for r in self._agents.values() if r.active}
        if self._snapshot is not None:
            self._snapshot.write(dict(self._digests))

    def _put(self, record: AgentRecord) -> AgentRecord:
        if self._store is not None:
            self._store.save(record)  # persist first: a failed write must not look applied
        self._agents[record.name] = record
        self._index()
        return record

    def lookup(self, digest: str) -> Registration | None:
        """Whose active token has this digest (the Authenticator's lookup)."""
        return self._digests.get(digest)

    def get(self, name: str) -> AgentRecord | None:
        canonical = canonical_id(name)
        with self._lock:
            return self._agents.get(canonical) if canonical else None

    def agents(self) -> list[AgentRecord]:
        with self._lock:
            return sorted(self._agents.values(), key=lambda r: r.name)

    def add(
        self,
        name: str,
        *,
        owner: str,
        description: str = "",
        actor: str,
        rotate: bool = False,
        kind: str | None = None,
    ) -> tuple[AgentRecord, str]:
        """Register ``name`` (or, with ``rotate``, give it a new token); returns the record
        and the token, which is not kept anywhere.

        ``kind`` (one of :data:`~agentaudit.collector.identity.principals.KINDS`): an
        agent by default; a rotation keeps the current kind unless one is given, so a tool
        server registered as an agent is re-registered with ``rotate`` and its kind.
        """
        if kind is not None and kind not in KINDS:
            raise RegistryError(f"the kind must be one of {', '.join(KINDS)}, not {kind!r}")
        canonical = canonical_id(name)
        if canonical is None:
            raise RegistryError(
                f"{name!r} is not an agent id: use printable ASCII, at most {MAX_ID_CHARS} "
                "characters (ids are compared case-insensitively)"
            )
        owner = _field("owner", owner, required=True)
        description = _field("description", description, required=False)
        actor = _field("actor", actor, required=True)
        token = new_token(TOKEN_PREFIX)
        with self._lock:
            now = self._clock()
            current = self._agents.get(canonical)
            active = current if current is not None and current.active else None
            if active is not None and not rotate:
                raise AgentExists(
                    f"agent {canonical} is registered already (owner {active.owner}); "
                    "rotate its token with --rotate, or revoke it first"
                )
            chosen = kind or (active.kind if active is not None else AGENT)
            reason = ""
            if active is not None:
                reason = "token rotated"
                if chosen != active.kind:
                    reason += f"; kind {active.kind} -> {chosen}"
            record = AgentRecord(
                name=canonical,
                state=ACTIVE,
                owner=owner,
                description=description,
                token_digest=token_digest(token),
                token_hint=token[: len(TOKEN_PREFIX) + 5],
                created_at=current.created_at if current is not None else now,
                updated_at=max(now, current.updated_at + 1e-6) if current else now,
                actor=actor,
                reason=reason,
                kind=chosen,
            )
            return self._put(record), token

    def revoke(self, name: str, *, actor: str, reason: str) -> AgentRecord:
        """Refuse the agent's token from now on (its rows stay attributed to it)."""
        actor = _field("actor", actor, required=True)
        reason = _field("reason", reason, required=True)
        with self._lock:
            current = self._agents.get(canonical_id(name) or "")
            if current is None or not current.active:
                raise UnknownAgent(f"no active agent {name!r} is registered")
            now = max(self._clock(), current.updated_at + 1e-6)
            return self._put(
                replace(current, state=REVOKED, updated_at=now, actor=actor, reason=reason)
            )
