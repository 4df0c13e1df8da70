"""Forensic filters: parsed from URL query parameters, turned into parameterised SQL.

Invariants: user input never becomes SQL text. Every value is bound as a ClickHouse
server-side parameter (``{f0:String}``); column names and operators come from fixed
tables in this module. Parsing fails with :class:`FilterError` naming the parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from agentaudit.schema.calls import claimed_or_received, in_window

__all__ = [
    "CLAIMED_OR_RECEIVED",
    "RECEIVED_WHERE",
    "STATUSES",
    "TIME_BASES",
    "TIME_WHERE",
    "WINDOWS",
    "FilterError",
    "Filters",
    "TimeRange",
    "like_escape",
    "parse_time",
    "span_bucket_seconds",
]

UTC = dt.timezone.utc
WINDOWS: Final[Mapping[str, dt.timedelta | None]] = {
    "15m": dt.timedelta(minutes=15),
    "1h": dt.timedelta(hours=1),
    "6h": dt.timedelta(hours=6),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
    "all": None,
}
DEFAULT_WINDOW: Final = "24h"
STATUSES: Final = ("ok", "error", "blocked")
MAX_VALUE_CHARS: Final = 512
EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE: Final = dt.datetime(2200, 1, 1, tzinfo=UTC)
_RELATIVE = re.compile(r"^(\d{1,4})([mhd])$")
_STEPS: Final = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600,
    12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
)  # fmt: skip


def span_bucket_seconds(first: dt.datetime, last: dt.datetime, buckets: int = 60) -> int:
    """The round bucket width splitting ``[first, last]`` (the calls' own span inside a
    window) into at most ``buckets`` buckets; one second at least."""
    span = max((last - first).total_seconds(), 1.0)
    return next((step for step in _STEPS if span / step <= buckets), _STEPS[-1])


def like_escape(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (``%``, ``_`` and ``\\`` escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class FilterError(ValueError):
    """A filter value is malformed; the message names the parameter and the fix."""


def parse_time(text: str, *, name: str) -> dt.datetime:
    """An ISO-8601 instant (``2026-11-28T10:00:00Z``; naive means UTC)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"{name}: {text[:80]!r} is not a time; use ISO-8601 like 2026-11-28T10:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if not EPOCH <= value < FAR_FUTURE:
        raise FilterError(f"{name}: {text[:80]!r} is outside 1970-2200")
    return value


def _now() -> dt.datetime:
    """The current time floored to 10 s, so relative windows repeat (and cache) briefly."""
    now = dt.datetime.now(UTC)
    return now.replace(second=now.second - now.second % 10, microsecond=0)


@dataclass(frozen=True)
class TimeRange:
    """A half-open UTC interval ``[since, until)``, plus the label it was chosen by."""

    since: dt.datetime
    until: dt.datetime
    label: str

    @classmethod
    def parse(
        cls,
        window: str | None = None,
        since: str | None = None,
        until: str | None = None,
        *,
        now: dt.datetime | None = None,
    ) -> TimeRange:
        """From a window (``24h``, ``7d``, ``all``, ``90m``) or explicit since/until."""
        now = (now or _now()).astimezone(UTC)
        if since or until:
            start = parse_time(since, name="since") if since else EPOCH
            end = parse_time(until, name="until") if until else now + dt.timedelta(minutes=1)
            if start >= end:
                raise FilterError("since must be before until")
            return cls(start, end, "custom")
        label = (window or DEFAULT_WINDOW).strip().lower()
        if label == "all":
            return cls(EPOCH, now + dt.timedelta(minutes=1), label)
        span = WINDOWS.get(label)
        if span is None:
            match = _RELATIVE.match(label)
            if not match:
                raise FilterError(
                    f"window: {label[:40]!r} is not a time window; use one of "
                    f"{', '.join(WINDOWS)} or a number with m/h/d (e.g. 90m)"
                )
            amount, unit = int(match.group(1)), match.group(2)
            span = dt.timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
            if span <= dt.timedelta(0):
                raise FilterError("window must be longer than zero")
        return cls(now - span, now + dt.timedelta(minutes=1), label)

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()

    def bucket_seconds(self, points: int = 120) -> int:
        """A round bucket width giving at most about ``points`` buckets."""
        for step in (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400):
            if self.seconds / step <= points:
                return step
        return 30 * 86400

    def params(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until}


# query-parameter name -> (tool_calls column, how it compares)
_TEXT_FILTERS: Final[Mapping[str, tuple[str, str]]] = {
    "agent": ("agent_id", "eq"),
    "user": ("user_id", "eq"),
    "session": ("session_id", "eq"),
    "trace": ("trace_id", "eq"),
    "tool": ("tool_name", "eq"),
    "resource": ("resource_ids", "has"),
    "credential": ("credential_id", "eq"),
    "status": ("status", "eq"),
    "q": ("arguments", "contains"),
}
_SINCE: Final = "{since:DateTime64(9, 'UTC')}"
_UNTIL: Final = "{until:DateTime64(9, 'UTC')}"
TIME_WHERE: Final = in_window("ts", _SINCE, _UNTIL)
"""Calls whose *claimed* time (the span's start, set by the agent) is in the window."""
RECEIVED_WHERE: Final = in_window("received_at", _SINCE, _UNTIL)
"""Calls the collector *received* in the window (its own clock: an agent cannot move it)."""
CLAIMED_OR_RECEIVED: Final = claimed_or_received(_SINCE, _UNTIL)
"""Calls claimed *or* received in the window: a backdated call is where it arrived too."""
TIME_BASES: Final = ("claimed", "received")
"""What a window is over (the ``time`` filter): the claimed time, or the receipt time a
backdated call cannot hide from (docs/trust.md, "What a span cannot set")."""


@dataclass(frozen=True)
class Filters:
    """The Investigate filters; empty strings mean "any"."""

    window: str = DEFAULT_WINDOW
    since: str = ""
    until: str = ""
    agent: str = ""
    user: str = ""
    session: str = ""
    trace: str = ""
    tool: str = ""
    resource: str = ""
    credential: str = ""
    status: str = ""
    q: str = ""
    untrusted: bool = False
    time: str = TIME_BASES[0]

    @classmethod
    def from_query(cls, query: Mapping[str, str | list[str]]) -> Filters:
        """Parse URL query parameters; unknown parameters are ignored."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = query.get(f.name)
            if raw is None:
                continue
            text = (raw[-1] if raw else "") if isinstance(raw, list) else str(raw)
            if len(text) > MAX_VALUE_CHARS:
                raise FilterError(f"{f.name}: value longer than {MAX_VALUE_CHARS} characters")
            if "\x00" in text:
                raise FilterError(f"{f.name}: value contains a NUL character")
            if f.name == "untrusted":
                values[f.name] = text.strip().lower() in ("1", "true", "yes", "on")
            elif f.name == "time":
                values[f.name] = text.strip().lower() or TIME_BASES[0]
            else:
                values[f.name] = text.strip()
        filters = cls(**values)
        filters.validate()
        return filters

    def validate(self) -> None:
        """Raise FilterError for a malformed time range or status."""
        self.time_range()
        if self.status and self.status not in STATUSES:
            raise FilterError(f"status: {self.status[:40]!r} is not one of {', '.join(STATUSES)}")
        if self.time not in TIME_BASES:
            raise FilterError(f"time: {self.time[:40]!r} is not one of {', '.join(TIME_BASES)}")

    @property
    def time_where(self) -> str:
        """The window's condition: over the claimed time, or over the receipt time."""
        return RECEIVED_WHERE if self.time == "received" else TIME_WHERE

    def time_range(self, *, now: dt.datetime | None = None) -> TimeRange:
        return TimeRange.parse(self.window, self.since or None, self.until or None, now=now)

    def to_query(self) -> dict[str, str]:
        """The non-default filters as URL query parameters (for deep links)."""
        default = Filters()
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                out[f.name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    def with_values(self, **changes: Any) -> Filters:
        return replace(self, **changes)

    def where(self, *, now: dt.datetime | None = None) -> tuple[str, dict[str, Any]]:
        """The WHERE clause over ``tool_calls`` and its bound parameters."""
        time_range = self.time_range(now=now)
        clauses = [self.time_where]
        params: dict[str, Any] = time_range.params()
        for index, (name, (column, how)) in enumerate(_TEXT_FILTERS.items()):
            value = getattr(self, name)
            if not value:
                continue
            key = f"f{index}"
            params[key] = value
            if how == "eq":
                clauses.append(f"{column} = {{{key}:String}}")
            elif how == "has":
                clauses.append(f"has({column}, {{{key}:String}})")
            else:
                # Served by the trigram index idx_arguments_text (migration 0010).
                params[key] = f"%{like_escape(value.lower())}%"
                clauses.append(f"lowerUTF8({column}) LIKE {{{key}:String}}")
        if self.untrusted:
            clauses.append("untrusted_source = 1")
        return " AND ".join(clauses), params
