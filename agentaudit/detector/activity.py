"""What an agent is doing right now: per-call features and the live counters behind them.

:meth:`Activity.observe` turns one :class:`~agentaudit.detector.model.Call` into an
:class:`Observation`: its resource types and realms, argument keys, the previous tool of
its session, and the live figures the rules compare with the baseline: distinct
resources per tool in this session and in the sliding window, calls in this minute.

These counters are not the baseline (they are not persisted, and restart empty); the
baseline learns from the observations (:meth:`~agentaudit.detector.baseline.Baseline.learn`).
Memory is bounded per agent (:class:`~agentaudit.detector.baseline.Bounds`): at most
``sessions`` sessions are followed and they hold at most ``live_resources`` distinct
resources together (the least recently active are dropped first), one session at most
``session_resources``, and the windows of all tools together at most
``window_resources`` entries; a count that reaches a bound stops growing and is reported
as saturated ("at least N"). Two process-wide caches (resource ids' parts, the parts of
arguments texts of at most :data:`MAX_CACHED_ARGUMENTS` characters) hold at most 16,384
and 8,192 entries.

Realms: where a resource or an argument names a recipient, host or account, its realm —
``@example.com`` for an e-mail domain, ``host:example.com`` for a URL's host (a resource
id that is a URL itself, ``https://example.com/x``, included),
``type:owner`` for ``type:owner/name`` ids (``repo:acme`` of ``repo:acme/widgets``).
E-mail addresses pseudonymised by redaction (``hmac:email:…``) have no visible domain.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from agentaudit.detector.model import CallView

__all__ = [
    "HOUR_NS",
    "MAX_CACHED_ARGUMENTS",
    "MINUTE_NS",
    "NS",
    "Activity",
    "Observation",
    "argument_keys",
    "argument_realms",
    "arguments_parts",
    "provenance_of",
    "resource_parts",
    "shape_of",
    "untrusted_unverified",
]

NS: Final = 1_000_000_000
MINUTE_NS: Final = 60 * NS
HOUR_NS: Final = 3600 * NS
DAY_NS: Final = 86_400 * NS

_REALM = re.compile(r"(@|://)([a-z0-9][a-z0-9.-]*\.[a-z]{2,})")
_CACHE_LIMIT: Final = 16_384
_parts_cache: dict[str, tuple[str, str]] = {}


def resource_parts(resource: str) -> tuple[str, str]:
    """``(type, realm)`` of a resource id; ``""`` for what it does not have."""
    cached = _parts_cache.get(resource)
    if cached is not None:
        return cached
    kind, sep, rest = resource.partition(":")
    if not sep:
        kind, rest = "", resource
    realm = ""
    lowered = rest.lower()
    # A URL: ``https://host/...`` itself (the scheme was taken for the type), or one
    # inside a typed id (``web:https://host/...``).
    url = lowered[2:] if lowered.startswith("//") else lowered.partition("://")[2]
    if url:
        host = url.split("/", 1)[0].split("@")[-1].split(":", 1)[0]
        realm = f"host:{host}" if host else ""
    elif "@" in lowered:
        domain = lowered.rsplit("@", 1)[1].split("/", 1)[0]
        realm = f"@{domain}" if "." in domain else ""
    elif kind and "/" in rest:
        owner = rest.split("/", 1)[0]
        realm = f"{kind}:{owner}" if owner else ""
    if len(_parts_cache) >= _CACHE_LIMIT:
        _parts_cache.clear()
    parts = _parts_cache[resource] = (kind, realm)
    return parts


def argument_keys(arguments: str) -> tuple[str, ...]:
    """The top-level keys of a JSON object (empty for anything else)."""
    if not arguments.startswith("{"):
        return ()
    try:
        value = json.loads(arguments)
    except ValueError:
        return ()
    return tuple(value) if isinstance(value, dict) else ()


def argument_realms(arguments: str) -> tuple[str, ...]:
    """E-mail domains (``@example.com``) and URL hosts (``host:example.com``) named
    anywhere in the arguments."""
    if "@" not in arguments and "://" not in arguments:
        return ()
    found = {
        f"@{name}" if sep == "@" else f"host:{name}"
        for sep, name in _REALM.findall(arguments.lower())
    }
    return tuple(sorted(found))


_Parts = tuple[str, tuple[str, ...]]
_arguments_cache: dict[str, _Parts] = {}
_NO_ARGUMENTS: Final[_Parts] = ("", ())
MAX_CACHED_ARGUMENTS: Final = 512
"""Longest arguments text (characters) whose parts are cached: 8,192 entries of at most
this size bound the cache's memory (about 17 MB at four bytes a character)."""


def shape_of(keys: Iterable[str]) -> str:
    """An argument shape: the distinct top-level keys, sorted, joined by ``,``."""
    return ",".join(sorted(set(keys)))


def arguments_parts(arguments: str) -> _Parts:
    """``(shape, realms)`` of a call's arguments (:func:`shape_of` its top-level keys;
    :func:`argument_realms`). Cached by the text itself: many calls repeat it.

    Never by the call's ``arguments_hash``: that is the client's claim, which the
    collector cannot check (the agent hashed its arguments before the collector's
    redaction), so an agent naming the hash of ordinary arguments would be seen with
    their shape and realms.
    """
    if not arguments:
        return _NO_ARGUMENTS
    cached = _arguments_cache.get(arguments)
    if cached is not None:
        return cached
    parts = (shape_of(argument_keys(arguments)), argument_realms(arguments))
    if len(arguments) <= MAX_CACHED_ARGUMENTS:
        if len(_arguments_cache) >= _CACHE_LIMIT // 2:
            _arguments_cache.clear()
        _arguments_cache[arguments] = parts
    return parts


def provenance_of(call: CallView) -> str:
    """``untrusted:none``, ``trusted:verified``, ...: whether the call followed untrusted
    content, and its approval (``verified`` when a signed approval was verified, else the
    status the span claimed)."""
    approval = "verified" if call.approval_verified else (call.approval_status or "none")
    return f"{'untrusted' if call.untrusted_source else 'trusted'}:{approval}"


def untrusted_unverified(provenance: Iterable[str]) -> list[str]:
    """The provenance categories of calls that followed untrusted content unverified."""
    return [c for c in provenance if c.startswith("untrusted:") and c != "untrusted:verified"]


@dataclass(slots=True)
class Observation:
    """One call's features and live figures (read by the rules, learned by the baseline)."""

    tool: str
    ts_ns: int  # the detector's time of the call (engine.clock_ns), not its claim
    day: int
    hour: int
    resources: tuple[str, ...]
    types: tuple[str, ...]
    realms: tuple[str, ...]
    shape: str  # the argument keys, sorted and joined by "," (shape_of)
    previous_tool: str  # "" at the start of a session
    session_count: int  # distinct resources of this tool in this session, this call included
    session_first_ns: int  # when this tool was first called in this session
    session_saturated: bool
    window_count: int  # distinct resources of this tool in the sliding window
    window_first_ns: int  # the oldest call still in that window
    window_saturated: bool
    minute_count: int  # calls of the agent in this minute, this call included
    risky: bool  # prompted by untrusted content, no verified approval


class _Session:
    __slots__ = ("distinct", "first_ns", "last_tool", "size")

    def __init__(self) -> None:
        self.last_tool = ""
        self.distinct: dict[str, set[str]] = {}
        self.first_ns: dict[str, int] = {}
        self.size = 0  # distinct resources held, all tools


class _Window:
    __slots__ = ("entries", "last")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, str]] = deque()
        self.last: dict[str, int] = {}


class Activity:
    """The live counters of one agent (module docstring); not thread-safe."""

    __slots__ = (
        "_held",
        "_live",
        "_live_limit",
        "_minute",
        "_minute_count",
        "_session_limit",
        "_sessions",
        "_window_limit",
        "_window_ns",
        "_windows",
        "_windows_size",
        "closed_minutes",
    )

    def __init__(
        self,
        *,
        window_seconds: float,
        sessions: int,
        session_resources: int,
        live_resources: int,
        window_resources: int,
    ) -> None:
        self._window_ns = int(window_seconds * NS)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._held = sessions
        self._session_limit = session_resources
        self._live = 0  # distinct resources held by all sessions together
        self._live_limit = live_resources
        self._window_limit = window_resources
        self._windows: dict[str, _Window] = {}
        self._windows_size = 0
        self._minute = -1
        self._minute_count = 0
        self.closed_minutes: list[int] = []
        """Call counts of minutes that ended (the baseline's cadence takes them)."""

    def observe(self, call: CallView, ts: int) -> Observation:
        """The call's features at ``ts``: the detector's time of the call (its claimed
        time within the tolerance :func:`~agentaudit.detector.engine.clock_ns` allows)."""
        tool = call.tool_name
        resources = call.resource_ids
        shape, realms = call.argument_shape, call.argument_realms
        if shape is None or realms is None:
            shape, realms = arguments_parts(call.arguments)
        types: tuple[str, ...] = ()
        if len(resources) == 1:  # the common case, without sets
            kind, realm = resource_parts(resources[0])
            if kind:
                types = (kind,)
            if realm and realm not in realms:
                realms = (*realms, realm)
        elif resources:
            kinds = set()
            found = set(realms)
            for resource in resources:
                kind, realm = resource_parts(resource)
                if kind:
                    kinds.add(kind)
                if realm:
                    found.add(realm)
            types = tuple(kinds)
            realms = tuple(found)

        session = self._session(call.session_id)
        previous = session.last_tool
        session.last_tool = tool
        seen = session.distinct.get(tool)
        if seen is None:
            seen = session.distinct[tool] = set()
            session.first_ns[tool] = ts
        saturated = False
        for resource in resources:
            if resource in seen:
                continue
            if session.size >= self._session_limit or not self._room(session):
                saturated = True
                break
            seen.add(resource)
            session.size += 1
            self._live += 1

        window_count, window_first, window_full = self._window(tool, ts, resources)

        minute_count = self._count_minute(ts)
        return Observation(  # positional, in field order: the hot path
            tool,
            ts,
            ts // DAY_NS,
            (ts // HOUR_NS) % 24,
            resources,
            types,
            realms,
            shape,
            previous,
            len(seen),
            session.first_ns[tool],
            saturated,
            window_count,
            window_first,
            window_full,
            minute_count,
            call.untrusted_source and not call.approval_verified,
        )

    def _count_minute(self, ts: int) -> int:
        """The agent's calls in the minute of ``ts``, this one included."""
        minute = ts // MINUTE_NS
        if minute > self._minute:
            if self._minute_count:
                self.closed_minutes.append(self._minute_count)
            self._minute = minute
            self._minute_count = 1
            return 1
        if minute == self._minute:
            self._minute_count += 1
            return self._minute_count
        return 0  # a late call of a minute already closed: not counted

    def _session(self, session_id: str) -> _Session:
        sessions = self._sessions
        session = sessions.get(session_id)
        if session is not None:
            sessions.move_to_end(session_id)
            return session
        session = sessions[session_id] = _Session()
        while len(sessions) > self._held:
            self._live -= sessions.popitem(last=False)[1].size
        return session

    def _room(self, current: _Session) -> bool:
        """Whether one more resource may be held: the least recently active other
        sessions are dropped to make room; False when only ``current`` is left."""
        sessions = self._sessions
        while self._live >= self._live_limit:
            oldest_id, oldest = next(iter(sessions.items()))
            if oldest is current:
                return False
            del sessions[oldest_id]
            self._live -= oldest.size
        return True

    def _window(self, tool: str, ts: int, resources: tuple[str, ...]) -> tuple[int, int, bool]:
        window = self._windows.get(tool)
        if window is None:
            if not resources:
                return 0, ts, False
            window = self._windows[tool] = _Window()
        entries, last = window.entries, window.last
        if entries and ts < entries[-1][0] - self._window_ns:
            # Time went back by more than a window: the calls held are not within one of
            # this call. It happens when batches of several chains (one per receiving
            # worker) are read one chain after the other, as after a restart or a
            # backfill; counting across it made a false fan-out of days of history.
            self._windows_size -= len(entries)
            entries.clear()
            last.clear()
        horizon = ts - self._window_ns
        while entries and entries[0][0] < horizon:
            old_ts, old = entries.popleft()
            self._windows_size -= 1
            if last.get(old) == old_ts:
                del last[old]
        full = False
        for resource in resources:
            if self._windows_size >= self._window_limit:
                full = True
                break
            entries.append((ts, resource))
            self._windows_size += 1
            last[resource] = ts
        return len(last), min(entries[0][0], ts) if entries else ts, full
