"""The deny-list: revoked credential ids, and cut-offs per agent, user and session.

Semantics (fail closed):

* ``credential`` entries refuse that ``jti`` until the credential would have expired
  anyway (``until``), after which the entry is pruned from snapshots.
* ``agent`` / ``user`` / ``session`` entries refuse every credential of that principal
  issued at or before ``since`` (the revocation time), and while the entry is active
  (not lifted) no new credential is minted for it. Lifting (a quarantine release)
  re-allows minting but never revives a credential issued before the revocation.

:class:`DenyList` is the in-memory, thread-safe authority the broker consults on every
verify, so a revoke is effective immediately; it writes through to a
:class:`DenyListStore` (ClickHouse in the collector) so it survives restarts.
:class:`DenySnapshot` is the immutable, JSON-serialisable view that tool-side
verifiers fetch (``GET /v1/denylist``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from agentaudit.broker._credential import CredentialClaims
from agentaudit.schema.identifiers import canonical_id

__all__ = [
    "DENY_KINDS",
    "DenyEntry",
    "DenyList",
    "DenyListStore",
    "DenySnapshot",
]

DENY_KINDS: Final = ("credential", "agent", "user", "session")
PRINCIPAL_KINDS: Final = ("agent", "user", "session")


@dataclass(frozen=True)
class DenyEntry:
    """One deny-list entry; the newest entry per ``(kind, value)`` wins."""

    kind: str
    value: str
    since: float
    until: float | None = None
    lifted_at: float | None = None
    reason: str = ""
    revocation_id: str = ""
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in DENY_KINDS:
            raise ValueError(f"deny-list kind must be one of {', '.join(DENY_KINDS)}")
        if not self.value:
            raise ValueError("deny-list value must be non-empty")

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class DenyListStore(Protocol):
    """Where deny-list entries persist (append-only; newest ``updated_at`` wins)."""

    def load(self) -> Iterable[DenyEntry]: ...

    def save(self, entry: DenyEntry) -> None: ...


def _lookup(values: Mapping[str, float], value: str) -> float | None:
    """``values[value]``, or the entry of an id naming the same principal."""
    found = values.get(value)
    if found is not None:
        return found
    canonical = canonical_id(value)
    if canonical is None:
        return None
    return next((t for v, t in values.items() if canonical_id(v) == canonical), None)


@dataclass(frozen=True)
class DenySnapshot:
    """An immutable view of the deny-list, as verifiers use it."""

    version: int
    generated_at: float
    credentials: frozenset[str]
    cutoffs: Mapping[str, Mapping[str, float]]
    blocked: Mapping[str, frozenset[str]]

    @classmethod
    def empty(cls) -> DenySnapshot:
        return cls(0, 0.0, frozenset(), {}, {})

    def refusal(self, claims: CredentialClaims) -> str | None:
        """Why ``claims`` is refused (a message), or None when it is not denied."""
        if claims.id in self.credentials:
            return f"credential {claims.id} has been revoked"
        for kind, value in (
            ("agent", claims.agent),
            ("user", claims.user),
            ("session", claims.session),
        ):
            if value is None:
                continue
            cutoff = _lookup(self.cutoffs.get(kind, {}), value)
            if cutoff is not None and claims.issued_at <= cutoff:
                return f"credentials of {kind} {value} issued before its revocation are refused"
        return None

    def blocks(self, kind: str, value: str | None) -> bool:
        """Whether ``value`` (or an id that names the same principal) is blocked."""
        if value is None:
            return False
        blocked = self.blocked.get(kind, frozenset())
        if value in blocked:
            return True
        canonical = canonical_id(value)
        return canonical is not None and any(canonical_id(v) == canonical for v in blocked)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "generated_at": self.generated_at,
            "credentials": sorted(self.credentials),
            "cutoffs": {kind: dict(values) for kind, values in self.cutoffs.items()},
            "blocked": {kind: sorted(values) for kind, values in self.blocked.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DenySnapshot:
        """Parse :meth:`to_json` output; ValueError when it is malformed."""
        try:
            credentials = frozenset(str(c) for c in data["credentials"])
            cutoffs = {
                str(kind): {str(v): float(t) for v, t in values.items()}
                for kind, values in data.get("cutoffs", {}).items()
            }
            blocked = {
                str(kind): frozenset(str(v) for v in values)
                for kind, values in data.get("blocked", {}).items()
            }
            return cls(
                int(data["version"]), float(data["generated_at"]), credentials, cutoffs, blocked
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"malformed deny-list snapshot: {exc!r}") from None


class DenyList:
    """In-memory deny-list with write-through persistence.

    ``max_ttl`` bounds credential lifetimes: a lifted principal entry older than that
    can no longer refuse any live credential and is pruned from snapshots.
    """

    def __init__(
        self,
        store: DenyListStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_ttl: float = 3600.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_ttl = max_ttl
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], DenyEntry] = {}
        self._version = 0
        self._snapshot: DenySnapshot | None = None
        self._next_expiry = float("inf")
        if store is not None:
            for entry in sorted(store.load(), key=lambda e: e.updated_at):
                self._entries[(entry.kind, entry.value)] = entry
            self._version = len(self._entries)

    def deny(
        self,
        kind: str,
        value: str,
        *,
        reason: str = "",
        revocation_id: str = "",
        until: float | None = None,
    ) -> DenyEntry:
        """Deny ``value`` now; a later deny of the same principal moves the cut-off forward."""
        with self._lock:
            previous = self._entries.get((kind, value))
            now = self._version_time(previous)
            since = max(now, previous.since) if previous else now
            if kind == "credential" and until is None:
                until = now + self._max_ttl
            entry = DenyEntry(kind, value, since, until, None, reason, revocation_id, now)
            self._put(entry)
        return entry

    def lift(
        self, kind: str, value: str, *, reason: str = "", revocation_id: str = ""
    ) -> DenyEntry | None:
        """Re-allow minting for a principal; credentials issued before stay refused."""
        if kind == "credential":
            raise ValueError("a revoked credential cannot be un-revoked; mint a new one")
        with self._lock:
            previous = self._entries.get((kind, value))
            if previous is None or not previous.active:
                return previous
            now = self._version_time(previous)
            entry = replace(
                previous,
                lifted_at=now,
                until=previous.since + self._max_ttl,
                reason=reason or previous.reason,
                revocation_id=revocation_id or previous.revocation_id,
                updated_at=now,
            )
            self._put(entry)
        return entry

    def _version_time(self, previous: DenyEntry | None) -> float:
        """Now, but strictly after ``previous`` (persisted versions must never tie)."""
        now = self._clock()
        return max(now, previous.updated_at + 1e-6) if previous else now

    def _put(self, entry: DenyEntry) -> None:
        if self._store is not None:
            self._store.save(entry)  # persist first: a failed write must not look applied
        self._entries[(entry.kind, entry.value)] = entry
        self._version += 1
        self._snapshot = None

    def entries(self) -> list[DenyEntry]:
        with self._lock:
            return list(self._entries.values())

    def snapshot(self) -> DenySnapshot:
        """The current view; cached until the next change or the next expiry.

        Expired entries (a revoked credential past its expiry, a lifted principal past
        the longest credential lifetime) can refuse nothing any more: they are dropped
        from memory here (the store keeps them as history).
        """
        now = self._clock()
        with self._lock:
            cached = self._snapshot
            if cached is not None and now <= self._next_expiry:
                return cached
            self._entries = {
                key: e for key, e in self._entries.items() if e.until is None or e.until >= now
            }
            credentials: set[str] = set()
            cutoffs: dict[str, dict[str, float]] = {}
            blocked: dict[str, set[str]] = {}
            for entry in self._entries.values():
                if entry.kind == "credential":
                    credentials.add(entry.value)
                    continue
                cutoffs.setdefault(entry.kind, {})[entry.value] = entry.since
                if entry.active:
                    blocked.setdefault(entry.kind, set()).add(entry.value)
            self._next_expiry = min(
                (e.until for e in self._entries.values() if e.until is not None),
                default=float("inf"),
            )
            snapshot = DenySnapshot(
                self._version,
                now,
                frozenset(credentials),
                cutoffs,
                {kind: frozenset(values) for kind, values in blocked.items()},
            )
            self._snapshot = snapshot
            return snapshot
