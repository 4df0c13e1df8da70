"""Refusal memory: a call whose access was revoked is not retried with a fresh credential.

Frameworks retry failing tool calls on their own (CrewAI's tool usage runs a failing tool
up to three times, LangGraph re-runs a node under a ``RetryPolicy``, Pydantic AI asks
the model again on ``ModelRetry``, and any model may simply call the tool again). When a
call was refused because access was revoked, each retry would otherwise ask the broker
for a fresh credential, and a revoked *credential* (one ``jti``) would be replaced by a
new one that works. So the runtime remembers the refusal for ``(agent, user, session,
tool)`` and refuses a retry locally, before any hook that acquires a credential runs:
no mint request leaves the process, and the retry is recorded as a ``blocked`` span.

What is remembered (see :func:`revocation_in` and ``_runtime``):

* an :class:`AccessRevoked` raised by a credential hook (the broker refused to mint
  because the agent, user or session is revoked or quarantined);
* a tool call that failed because its credential was refused as revoked mid-call: an
  :class:`AccessRevoked` (e.g. :class:`CredentialRevoked` raised by the tool after its
  server's 401, see :meth:`CredentialRevoked.from_challenge`) or an
  ``agentaudit.broker.CredentialRefused`` with reason ``revoked`` (a verifier in the
  tool's process), anywhere in the exception's cause / context chain.

Invariants:

* A refusal is remembered for ``ttl`` seconds (default 60, a just-in-time credential's
  default lifetime), so a framework's retry loop and the model's next attempts are
  refused, while a responder's release takes effect within a minute; at most
  ``max_keys`` keys (LRU).
* Only revocations are remembered: an expired or mis-targeted credential, a broker
  outage or a scope refusal are not (a fresh credential may legitimately succeed).
* The quarantine guard's own refusals are not remembered here (the guard keeps its
  state and sees releases); the memory is consulted after the guard and before the
  credential hooks.
* Thread-safe; reading it costs one attribute check while nothing is remembered.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from agentaudit.instrumentation._errors import AccessRevoked, AgentQuarantined, CredentialRevoked
from agentaudit.instrumentation._prompt import _error_type

__all__ = [
    "DEFAULT_TTL",
    "MEMORY",
    "Key",
    "Refusal",
    "RefusalMemory",
    "memory",
    "refusal_of",
    "revocation_in",
]

DEFAULT_TTL: Final = 60.0
MAX_KEYS: Final = 4096
_MAX_CHAIN: Final = 32

Key = tuple[str, str, str, str]
"""(agent, user, session, tool); empty strings for what the call does not carry."""


@dataclass(frozen=True)
class Refusal:
    """Why a call was refused: a stable ``reason`` code, words, and the error's type."""

    reason: str
    detail: str
    error_type: str

    def again(self, key: Key) -> AccessRevoked:
        """The error refusing a retry of the refused call (no new credential)."""
        agent, _, _, tool = key
        detail = f"refused earlier in this session: {self.detail}; no new credential requested"
        if self.reason == "quarantined":
            return AgentQuarantined(agent, detail, tool=tool)
        return CredentialRevoked(tool, detail, agent_id=agent, reason=self.reason)


def _credential_refused() -> type[BaseException] | None:
    try:
        from agentaudit.broker import CredentialRefused
    except ImportError:  # pragma: no cover - part of the base install
        return None
    return CredentialRefused


def refusal_of(exc: BaseException) -> Refusal | None:
    """The refusal ``exc`` itself stands for (not its causes), or None."""
    if isinstance(exc, AccessRevoked):
        reason = exc.reason or "revoked"
        return Refusal(reason, exc.detail or str(exc), _error_type(exc))
    refused = _credential_refused()
    if refused is not None and isinstance(exc, refused) and getattr(exc, "reason", "") == "revoked":
        return Refusal("revoked", f"the credential was refused: {exc}", _error_type(exc))
    return None


def revocation_in(exc: BaseException) -> Refusal | None:
    """The revocation refusal in ``exc`` or its causes (``raise ... from``, the exception
    being handled unless suppressed, the members of an exception group), or None."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        found = refusal_of(current)
        if found is not None:
            return found
        members = getattr(current, "exceptions", None)  # an exception group (3.11+ or backport)
        if "ExceptionGroup" in type(current).__name__ and isinstance(members, tuple | list):
            pending.extend(m for m in members if isinstance(m, BaseException))
        if current.__cause__ is not None:
            pending.append(current.__cause__)
        elif current.__context__ is not None and not current.__suppress_context__:
            pending.append(current.__context__)
    return None


class RefusalMemory:
    """The remembered refusals, per ``(agent, user, session, tool)``."""

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_keys <= 0:
            raise ValueError("the refusal memory needs a positive ttl and size")
        self.ttl = ttl
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, tuple[float, Refusal]] = OrderedDict()
        self.active = False
        """True while anything may be remembered (the runtime's cheap pre-check)."""

    def remember(self, key: Key, refusal: Refusal) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl, refusal)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)
            self.active = True

    def refusal(self, key: Key) -> Refusal | None:
        """The refusal remembered for ``key`` (None: none, or it has expired)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            until, refusal = entry
            if until > self._clock():
                return refusal
            del self._entries[key]
            self.active = bool(self._entries)
            return None

    def forget(self, key: Key) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self.active = bool(self._entries)

    def clear(self) -> None:
        """Forget every refusal (``uninstrument()`` does; so may a released agent's app)."""
        with self._lock:
            self._entries.clear()
            self.active = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


MEMORY: Final = RefusalMemory()
"""The process's refusal memory (the runtime reads ``MEMORY.active`` on every call)."""


def memory() -> RefusalMemory:
    """The process's refusal memory."""
    return MEMORY
