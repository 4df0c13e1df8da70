"""The quarantine guard: refuse a quarantined agent's tool calls before they run.

A ``before_tool_call`` hook (see :mod:`._runtime`). Before each tool call it looks up
``(agent, user, session)`` in a local cache of the admin API's answers to
``GET /v1/quarantine?agent=&user=&session=`` (bearer ``AGENTAUDIT_TOKEN``, base URL
``AGENTAUDIT_API_URL``); when the answer says ``"allowed": false`` it raises
:class:`AgentQuarantined`, which the runtime records as a ``blocked`` span and hands to
the framework as the tool's error.

Invariants:

* The call path never waits on the network except for the first call of a new
  ``(agent, user, session)``, and then at most ``timeout`` seconds (default 1 s); a
  daemon thread refreshes every key used in the last minute every ``interval`` seconds
  (default 2 s), so a quarantine is seen within about ``interval`` + one request.
* Once the API is found unreachable, no call waits on it again until the poller has
  retried (at most one synchronous attempt per ``interval``).
* A state is trusted for ``3 * interval`` seconds after it was fetched. A known
  quarantine stays enforced however old it is (an outage never lifts a quarantine).
  An unknown or stale "allowed" state follows the policy: fail-open by default (the call
  runs, one warning per outage is logged), fail-closed with
  ``AGENTAUDIT_QUARANTINE_FAIL_CLOSED=1`` (the call is refused with
  :class:`AgentQuarantined`).
* A call with no agent, user or session is not checked (there is nothing to look up).

Environment: ``AGENTAUDIT_API_URL`` (default ``http://127.0.0.1:4320``),
``AGENTAUDIT_TOKEN``, ``AGENTAUDIT_QUARANTINE_INTERVAL`` (seconds, default 2),
``AGENTAUDIT_QUARANTINE_TIMEOUT`` (seconds, default 1), ``AGENTAUDIT_QUARANTINE_FAIL_CLOSED``,
``AGENTAUDIT_QUARANTINE_CHECK=0`` (do not install the guard at all).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.client import AdminApiError, AdminClient
from agentaudit.config.values import parse_bool
from agentaudit.errors import ConfigError
from agentaudit.instrumentation._errors import AgentQuarantined
from agentaudit.instrumentation._runtime import ToolCallInfo, add_before_tool_call

__all__ = [
    "GuardSettings",
    "HttpQuarantineSource",
    "QuarantineGuard",
    "QuarantineUnavailable",
    "install",
    "installed_guard",
    "uninstall",
]

log = logging.getLogger("agentaudit.instrumentation")

DEFAULT_API_URL: Final = "http://127.0.0.1:4320"
MAX_KEYS: Final = 1024
IDLE_AFTER: Final = 60.0

Key = tuple[str, str, str]
"""(agent, user, session); empty strings for what the call does not carry."""


class QuarantineUnavailable(Exception):
    """The quarantine state could not be read (unreachable, refused, malformed)."""


Source = Callable[[Key], Mapping[str, Any]]
"""Reads the state of one key: the JSON object of ``GET /v1/quarantine`` (it must have
a boolean ``allowed``), or raises :class:`QuarantineUnavailable`."""


def _flag(environ: Mapping[str, str], name: str) -> bool:
    """A boolean variable, fail-open: a bad value is logged and read as false."""
    try:
        return parse_bool(environ.get(name, ""), name)
    except ConfigError as exc:
        log.error("agentaudit: %s; using false", exc)
        return False


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        log.error("agentaudit: %s=%r is not a number of seconds in (0, 3600]; using %s",
                  name, raw, default)  # fmt: skip
        return default
    return value


@dataclass(frozen=True)
class GuardSettings:
    """How the guard reaches the admin API and what it does when it cannot."""

    api_url: str = DEFAULT_API_URL
    token: str | None = None
    interval: float = 2.0
    timeout: float = 1.0
    fail_closed: bool = False

    def __post_init__(self) -> None:
        if not self.api_url.startswith(("http://", "https://")):
            raise ValueError(f"AGENTAUDIT_API_URL {self.api_url!r} is not an http(s) URL")
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("the quarantine interval and timeout must be positive")

    @property
    def stale_after(self) -> float:
        return 3 * self.interval

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> GuardSettings:
        """Settings from ``AGENTAUDIT_*`` variables; a bad value is logged and defaulted."""
        env = os.environ if environ is None else environ
        api_url = (env.get("AGENTAUDIT_API_URL") or DEFAULT_API_URL).strip().rstrip("/")
        if not api_url.startswith(("http://", "https://")):
            log.error("agentaudit: AGENTAUDIT_API_URL=%r is not an http(s) URL; using %s",
                      api_url, DEFAULT_API_URL)  # fmt: skip
            api_url = DEFAULT_API_URL
        return cls(
            api_url=api_url,
            token=env.get("AGENTAUDIT_TOKEN") or None,
            interval=_seconds(env, "AGENTAUDIT_QUARANTINE_INTERVAL", 2.0),
            timeout=_seconds(env, "AGENTAUDIT_QUARANTINE_TIMEOUT", 1.0),
            fail_closed=_flag(env, "AGENTAUDIT_QUARANTINE_FAIL_CLOSED"),
        )


class HttpQuarantineSource:
    """``GET {api_url}/v1/quarantine?agent=&user=&session=`` with the agent token."""

    def __init__(self, api_url: str, *, token: str | None, timeout: float) -> None:
        self._client = AdminClient(
            api_url,
            token=token,
            timeout=timeout,
            token_variable="AGENTAUDIT_TOKEN",  # noqa: S106 - a variable's name
        )

    def __call__(self, key: Key) -> Mapping[str, Any]:
        agent, user, session = key
        try:
            data = self._client.quarantine_state(agent, user=user, session=session)
        except AdminApiError as exc:
            raise QuarantineUnavailable(str(exc)) from None
        if not isinstance(data.get("allowed"), bool):
            raise QuarantineUnavailable(
                f"{self._client.url} answered the quarantine read without a boolean 'allowed'"
            )
        return data


@dataclass
class _Entry:
    """The last answer for one key (``state`` None: never fetched successfully)."""

    state: Mapping[str, Any] | None
    fetched_at: float
    used_at: float


def _refusal_reason(state: Mapping[str, Any], key: Key) -> str:
    if state.get("quarantined"):
        reason = str(state.get("reason") or "").strip()
        return reason or "quarantined by a responder"
    blocked = state.get("blocked")
    if isinstance(blocked, Mapping):
        names = dict(zip(("agent", "user", "session"), key, strict=True))
        denied = [f"{kind} {names.get(kind, '')}".strip() for kind, on in blocked.items() if on]
        if denied:
            return f"{', '.join(denied)} revoked (deny-list)"
    return "refused by the admin API"


class QuarantineGuard:
    """The ``before_tool_call`` hook (callable) with its cache and poller thread."""

    def __init__(
        self,
        settings: GuardSettings | None = None,
        *,
        source: Source | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll: bool = True,
    ) -> None:
        """``poll=False``: no poller thread (the owner calls :meth:`refresh_all`)."""
        self.settings = settings or GuardSettings()
        self._poll_enabled = poll
        self._source: Source = source or HttpQuarantineSource(
            self.settings.api_url, token=self.settings.token, timeout=self.settings.timeout
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._down_until = 0.0
        self._outage: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))

    # --- the hook ------------------------------------------------------------------

    def __call__(self, info: ToolCallInfo) -> None:
        """Raise :class:`AgentQuarantined` when this call's principal may not act."""
        key = (info.agent_id, info.user_id, info.session_id)
        if not (key[0] or key[1] or key[2]):
            return
        self.check(key)

    def check(self, key: Key) -> None:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None:
            entry = self._first_fetch(key, now)
        else:
            entry.used_at = now
        self._ensure_poller()
        state = entry.state
        if state is not None:
            if state.get("allowed") is False:
                raise AgentQuarantined(key[0], _refusal_reason(state, key))
            if now - entry.fetched_at <= self.settings.stale_after:
                return
        if self.settings.fail_closed:
            raise AgentQuarantined(
                key[0],
                f"quarantine state unavailable ({self._outage or 'not fetched yet'}); "
                "AGENTAUDIT_QUARANTINE_FAIL_CLOSED is set",
            )

    def _first_fetch(self, key: Key, now: float) -> _Entry:
        entry = _Entry(state=None, fetched_at=float("-inf"), used_at=now)
        if now >= self._down_until:
            self._refresh(key, entry)
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > MAX_KEYS:
                self._entries.popitem(last=False)
        return entry

    def _refresh(self, key: Key, entry: _Entry) -> bool:
        """Fetch ``key`` into ``entry``; False (and the outage recorded) when it failed."""
        try:
            state = self._source(key)
        except QuarantineUnavailable as exc:
            self._down_until = self._clock() + self.settings.interval
            if self._outage is None:
                policy = "refusing tool calls" if self.settings.fail_closed else "tool calls run"
                log.warning("agentaudit: quarantine state unavailable (%s); %s", exc, policy)
            self._outage = str(exc)
            return False
        except Exception:
            self._down_until = self._clock() + self.settings.interval
            log.warning("agentaudit: reading the quarantine state failed", exc_info=True)
            self._outage = "reading the quarantine state failed"
            return False
        if self._outage is not None:
            log.warning("agentaudit: quarantine state available again")
            self._outage = None
        entry.state = state
        entry.fetched_at = self._clock()
        return True

    # --- the poller ----------------------------------------------------------------

    def refresh_all(self) -> None:
        """One poll: refresh every key used recently, forget idle ones.

        Stops at the first failure: with the API down, one poll costs one timeout, not
        one per key (the keys not refreshed age towards the staleness policy).
        """
        now = self._clock()
        with self._lock:
            for key in [k for k, e in self._entries.items() if now - e.used_at > IDLE_AFTER]:
                del self._entries[key]
            due = list(self._entries.items())
        for key, entry in due:
            if self._stop.is_set() or not self._refresh(key, entry):
                return

    def _ensure_poller(self) -> None:
        thread = self._thread
        if (thread is not None and thread.is_alive()) or not self._poll_enabled:
            return
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return  # closed, or another caller started it (also after a fork)
            self._thread = threading.Thread(
                target=self._poll, name="agentaudit-quarantine-poller", daemon=True
            )
            self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.interval):
            try:
                self.refresh_all()
            except Exception:
                log.warning("agentaudit: quarantine poll failed", exc_info=True)

    def close(self) -> None:
        """Stop the poller (the hook keeps answering from the cache)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.settings.timeout + 1)


def _after_fork(ref: weakref.ref[QuarantineGuard]) -> None:
    """In a forked child: fresh lock (it may have been held), no poller yet (restarted
    on the next call), keep the cached states."""
    guard = ref()
    if guard is not None:
        guard._lock = threading.Lock()
        guard._thread = None


class _Installed:
    guard: QuarantineGuard | None = None
    remove: Callable[[], None] | None = None
    lock = threading.Lock()


def install(environ: Mapping[str, str] | None = None) -> QuarantineGuard | None:
    """Register the guard from the environment (idempotent); None when disabled.

    ``AGENTAUDIT_QUARANTINE_CHECK=0`` disables it. Never raises: a problem is logged and
    the agent runs without the guard.
    """
    env = os.environ if environ is None else environ
    if env.get("AGENTAUDIT_QUARANTINE_CHECK", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    with _Installed.lock:
        if _Installed.guard is not None:
            return _Installed.guard
        try:
            guard = QuarantineGuard(GuardSettings.from_environ(env))
        except Exception:
            log.warning("agentaudit: the quarantine guard could not start", exc_info=True)
            return None
        _Installed.guard = guard
        _Installed.remove = add_before_tool_call(guard)
        return guard


def installed_guard() -> QuarantineGuard | None:
    return _Installed.guard


def uninstall() -> None:
    """Remove the guard registered by :func:`install` and stop its poller."""
    with _Installed.lock:
        guard, remove = _Installed.guard, _Installed.remove
        _Installed.guard = _Installed.remove = None
    if remove is not None:
        remove()
    if guard is not None:
        guard.close()
