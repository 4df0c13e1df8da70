"""A detector baseline (``agentaudit.detector_baselines.baseline``) as comparable tables.

The detector saves each agent's baseline as JSON (``Baseline.to_json``; keys listed in
migration 0015): ``calls``, ``first_ts``/``last_ts`` (epoch ns), ``learning``
(``{"active", "completed_ts", "span_days"}``), counted items for ``tools``,
``transitions`` (``"a -> b"``), ``hours`` (``"00"``-``"23"``) and ``scopes`` (each
``{"total", "dropped", "items": {name: {"n", "first", "last", "days"}}}``), per tool
``resources_per_tool`` (``{"calls", "types", "realms", "resources"}``), ``fanout``
(``{"session_max", "window_max", "daily"}``), ``provenance`` and ``argument_keys``,
then ``cadence`` (``{"minute_max", "minutes", "histogram", "daily"}``) and the frozen
``reference``. The Agent profile compares it with the same figures measured over the
selected window.

Reading is tolerant: plain ``{name: n}`` maps, ``[[name, n]]`` lists, ``{a: {b: n}}``
nesting and ISO-8601 or second/millisecond times are read too, and whatever does not
fit is shown as JSON rather than breaking the page. Pure functions; nothing renders.
"""

from __future__ import annotations

import datetime as dt
import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

__all__ = [
    "SHOWN_KEYS",
    "Learning",
    "compare_counts",
    "compare_pairs",
    "counts",
    "hour_counts",
    "learning",
    "parse",
    "per_tool",
    "scalars",
    "timestamp",
    "transitions",
]

SHOWN_KEYS: Final = frozenset(
    {
        "format", "agent", "watermark", "calls", "first_ts", "last_ts", "learning", "tools",
        "transitions", "resources_per_tool", "fanout", "cadence", "hours", "scopes",
    }
)  # fmt: skip
"""Keys the page shows as tables or figures; the others are shown as JSON."""
_COUNT_KEYS: Final = ("n", "count", "calls", "value", "total")
_NAME_KEYS: Final = ("name", "key", "tool", "scope", "hour", "type")
_ARROWS: Final = ("->", "→")
_SCALES: Final = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))  # ns, µs, ms since the epoch
_DONE: Final = frozenset({"", "false", "no", "done", "complete", "completed", "off"})


def parse(text: object) -> dict[str, Any] | None:
    """The baseline object, or None when ``text`` is not a JSON object."""
    try:
        value = json.loads(text) if isinstance(text, str | bytes) else text
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _items(value: Any) -> Any:
    """The ``items`` of the detector's counted-items object; anything else as it is."""
    if isinstance(value, Mapping) and isinstance(value.get("items"), Mapping):
        return value["items"]
    return value


def _count_of(value: Any) -> float | None:
    number = _number(value)
    if number is None and isinstance(value, Mapping):
        number = next((_number(value[k]) for k in _COUNT_KEYS if k in value), None)
    return number


def counts(value: Any) -> dict[str, float]:
    """``name -> count`` of counted items (or a plain map, or a list of pairs)."""
    value = _items(value)
    out: dict[str, float] = {}
    if isinstance(value, Mapping):
        for name, item in value.items():
            number = _count_of(item)
            if number is not None:
                out[str(name)] = number
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, list | tuple) and len(item) == 2 and _number(item[1]) is not None:
                out[str(item[0])] = float(item[1])
            elif isinstance(item, Mapping):
                name = next((item[k] for k in _NAME_KEYS if k in item), None)
                number = _count_of(item)
                if name is not None and number is not None:
                    out[str(name)] = number
    return out


def hour_counts(value: Any) -> dict[int, float]:
    """Hour of the day (0-23) -> count, from ``"00"``-``"23"`` items or 24 numbers."""
    value = _items(value)
    if isinstance(value, list | tuple) and len(value) == 24:
        return {h: n for h, v in enumerate(value) if (n := _number(v)) is not None}
    return {
        int(name): n
        for name, n in counts(value).items()
        if name.strip().isdigit() and 0 <= int(name) < 24
    }


def per_tool(value: Any, family: str | None = None) -> list[tuple[str, str, float]]:
    """``(tool, item, count)`` from per-tool counted items: ``{tool: {family: items}}``
    (``resources_per_tool``) or ``{tool: items}`` (``provenance``, ``argument_keys``)."""
    rows: list[tuple[str, str, float]] = []
    for tool, stats in value.items() if isinstance(value, Mapping) else ():
        source = stats.get(family) if family and isinstance(stats, Mapping) else stats
        if source is None and isinstance(stats, Mapping):
            source = stats  # a plain {tool: {item: n}} map
        rows += [(str(tool), item, n) for item, n in counts(source).items()]
    return rows


def transitions(value: Any) -> list[tuple[str, str, float]]:
    """``(from_tool, to_tool, count)`` from ``"a -> b"`` items or ``{a: {b: n}}``."""
    rows: list[tuple[str, str, float]] = []
    for key, n in counts(value).items():
        arrow = next((a for a in _ARROWS if a in key), None)
        if arrow is not None:
            first, _, second = key.partition(arrow)
            rows.append((first.strip(), second.strip(), n))
    return rows or per_tool(value)


def scalars(value: Any) -> dict[str, float]:
    """The numeric top-level figures of a mapping (``minute_max``, ``session_max``...)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): n for k, v in value.items() if (n := _number(v)) is not None}


def timestamp(value: Any) -> dt.datetime | None:
    """A time the baseline recorded (epoch ns/µs/ms/s or ISO-8601) in UTC, else None."""
    number = _number(value)
    if number is not None:
        if not number:
            return None
        scale = next((s for bound, s in _SCALES if abs(number) >= bound), 1.0)
        try:
            return dt.datetime.fromtimestamp(number / scale, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return None


@dataclass(frozen=True)
class Learning:
    """Whether the agent is still in its learning period, as the baseline says.

    ``active`` is None when the baseline does not say; ``completed`` is when learning
    ended (when it says); ``details`` are the other figures it gives.
    """

    active: bool | None
    completed: dt.datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def learning(baseline: Mapping[str, Any]) -> Learning:
    """The ``learning`` entry read as :class:`Learning`."""
    value = baseline.get("learning")
    if value is None:
        return Learning(None)
    if isinstance(value, bool):
        return Learning(value)
    if isinstance(value, Mapping):
        details = {str(k): v for k, v in value.items() if k not in ("active", "completed_ts")}
        completed = timestamp(value.get("completed_ts"))
        active = value.get("active", value.get("learning"))
        if isinstance(active, bool):
            return Learning(active, completed, details)
        done = value.get("done", value.get("complete"))
        return Learning(not done if isinstance(done, bool) else None, completed, details)
    if isinstance(value, str):
        return Learning(value.strip().lower() not in _DONE, None, {"state": value})
    return Learning(None, None, {"state": value})


def compare_counts(
    baseline: Mapping[Any, float], window: Mapping[Any, float], key: str
) -> pd.DataFrame:
    """``key, baseline, window, new`` per name in either, busiest in the window first;
    ``new`` marks what the window has and the baseline never saw."""
    names = sorted(
        set(baseline) | set(window), key=lambda n: (-window.get(n, 0.0), -baseline.get(n, 0.0))
    )
    return pd.DataFrame(
        {
            key: names,
            "baseline": [float(baseline.get(n, 0.0)) for n in names],
            "window": [float(window.get(n, 0.0)) for n in names],
            "new": [window.get(n, 0.0) > 0 and n not in baseline for n in names],
        },
        columns=[key, "baseline", "window", "new"],
    )


def compare_pairs(
    baseline: list[tuple[str, str, float]],
    window: list[tuple[str, str, float]],
    columns: tuple[str, str],
) -> pd.DataFrame:
    """``first, second, baseline, window, new`` per pair in either (as
    :func:`compare_counts`)."""
    base = {(a, b): n for a, b, n in baseline}
    seen = {(a, b): n for a, b, n in window}
    keys = sorted(set(base) | set(seen), key=lambda k: (-seen.get(k, 0.0), -base.get(k, 0.0), k))
    return pd.DataFrame(
        {
            columns[0]: [k[0] for k in keys],
            columns[1]: [k[1] for k in keys],
            "baseline": [float(base.get(k, 0.0)) for k in keys],
            "window": [float(seen.get(k, 0.0)) for k in keys],
            "new": [seen.get(k, 0.0) > 0 and k not in base for k in keys],
        },
        columns=[columns[0], columns[1], "baseline", "window", "new"],
    )
