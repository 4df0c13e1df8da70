"""The Agent profile's detector-baseline panel: the saved baseline next to the window.

Not a page (no ``st.navigation`` entry): :func:`show` is called by ``agent.py``. The
baseline is the newest row of ``agentaudit.detector_baselines`` for the agent, read
through :mod:`agentaudit.dashboards.baseline`; the window's figures are the same ones
measured over the selected time window. Everything is a table cell or chart datum
(plain text); the few values in Markdown go through ``fmt``/``md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from agentaudit.dashboards import baseline as B
from agentaudit.dashboards import data
from agentaudit.dashboards._ui import Markdown, fmt, safely
from agentaudit.dashboards.charts import comparison_bars
from agentaudit.dashboards.filters import TimeRange

__all__ = ["show"]


def _window_counts(frame: pd.DataFrame | None, key: str) -> dict[Any, float]:
    if frame is None or frame.empty:
        return {}
    return {k: float(v) for k, v in zip(frame[key], frame["window_calls"], strict=True) if v}


def _rows(frame: pd.DataFrame | None, *columns: str) -> list[tuple[str, str, float]]:
    if frame is None or frame.empty:
        return []
    return [(str(a), str(b), float(n)) for a, b, n in frame[list(columns)].itertuples(index=False)]


def _table(frame: pd.DataFrame, empty: Markdown) -> None:
    if frame.empty:
        st.caption(empty)
    else:
        st.dataframe(frame, hide_index=True, width="stretch")


def _new(frame: pd.DataFrame, *columns: str) -> list[str]:
    """The window's items the baseline never saw, as text (for a caption)."""
    new = frame[frame["new"]]
    return [" -> ".join(str(row[c]) for c in columns) for _, row in new.head(10).iterrows()]


def _status(saved: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
    learning = B.learning(parsed)
    calls = B.scalars(parsed).get("calls", 0.0)
    first, last = B.timestamp(parsed.get("first_ts")), B.timestamp(parsed.get("last_ts"))
    span = fmt("between {:%Y-%m-%d} and {:%Y-%m-%d} (UTC)", first, last) if first and last else ""
    if learning.active:
        st.info(
            fmt(
                "Still learning: {:,} calls {} so far. Until its learning period is over, the "
                "detector raises findings for this agent but takes no automatic action.",
                int(calls),
                span or fmt("(no time span yet)"),
            )
        )
    elif learning.active is False:
        st.success(
            fmt(
                "Learned from {:,} calls {}{}. Findings compare live behaviour with this "
                "baseline's frozen reference.",
                int(calls),
                span,
                fmt("; learning completed {:%Y-%m-%d %H:%M} UTC", learning.completed)
                if learning.completed
                else "",
            )
        )
    else:
        st.info(
            fmt("The baseline does not say whether it is still learning; {:,} calls.", int(calls))
        )
    details = [fmt("{}: {}", k, v) for k, v in learning.details.items()]
    saved_at = pd.Timestamp(saved["updated_at"]).to_pydatetime()
    st.caption(
        fmt(
            "Saved {:%Y-%m-%d %H:%M:%S} UTC (the detector's newest save for this agent){}. "
            "The window column is the selected time window.",
            saved_at,
            fmt("; learning: {}", details) if details else "",
        )
    )


def _tools_and_hours(parsed: Mapping[str, Any], mix: pd.DataFrame | None, hours: Any) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Tools and their frequency**")
        tools = B.compare_counts(
            B.counts(parsed.get("tools")), _window_counts(mix, "tool_name"), "tool_name"
        )
        if tools.empty:
            st.caption("No tools in the baseline or the window.")
        else:
            st.altair_chart(
                comparison_bars(tools, "tool_name", title="share of calls"), width="stretch"
            )
            _table(tools, fmt(""))
            new = _new(tools, "tool_name")
            if new:
                st.caption(fmt("New since the baseline: {}", new))
    with right:
        st.markdown("**Hours of the day (UTC)**")
        base = B.hour_counts(parsed.get("hours"))
        seen = _window_counts(hours, "hour")
        if not base and not seen:
            st.caption("No hours in the baseline or the window.")
        else:
            frame = pd.DataFrame(
                {
                    "hour": [f"{h:02d}" for h in range(24)],
                    "baseline": [base.get(h, 0.0) for h in range(24)],
                    "window": [seen.get(h, 0.0) for h in range(24)],
                }
            )
            st.altair_chart(
                comparison_bars(frame, "hour", title="share of calls", ordinal=True),
                width="stretch",
            )


def _sequence_and_scopes(
    parsed: Mapping[str, Any], profile: Mapping[str, pd.DataFrame], scopes: pd.DataFrame | None
) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Transitions (tool order within a session)**")
        pairs = B.compare_pairs(
            B.transitions(parsed.get("transitions")),
            _rows(profile.get("transitions"), "from_tool", "to_tool", "calls"),
            ("from_tool", "to_tool"),
        )
        _table(pairs, fmt("No transitions in the baseline or the window."))
        new = _new(pairs, "from_tool", "to_tool") if not pairs.empty else []
        if new:
            st.caption(fmt("New since the baseline: {}", new))
    with right:
        st.markdown("**Credential scopes exercised**")
        compared = B.compare_counts(
            B.counts(parsed.get("scopes")), _window_counts(scopes, "scope"), "scope"
        )
        _table(compared, fmt("No scopes in the baseline or the window."))


def _resources(parsed: Mapping[str, Any], profile: Mapping[str, pd.DataFrame]) -> None:
    left, right = st.columns(2)
    per_tool = parsed.get("resources_per_tool")
    with left:
        st.markdown("**Resource types per tool**")
        types = B.compare_pairs(
            B.per_tool(per_tool, "types"),
            _rows(profile.get("resource_types"), "tool_name", "resource_type", "calls"),
            ("tool_name", "resource_type"),
        )
        _table(types, fmt("No resources in the baseline or the window."))
        realms = pd.DataFrame(
            B.per_tool(per_tool, "realms"), columns=["tool_name", "realm", "baseline"]
        )
        if not realms.empty:
            st.caption("Realms the baseline knows (recipient domains, hosts, accounts):")
            st.dataframe(realms, hide_index=True, width="stretch")
    with right:
        st.markdown("**Fan-out: distinct resources per tool**")
        window = profile.get("fanout")
        measured = {
            str(row.tool_name): {
                "per session (max)": float(row.max_per_session),
                "per hour (max)": float(row.max_per_hour),
                "in the window": float(row.resources),
            }
            for row in (window.itertuples(index=False) if window is not None else ())
        }
        fanout = parsed.get("fanout")
        saved = {
            str(tool): B.scalars(figures)
            for tool, figures in (fanout.items() if isinstance(fanout, Mapping) else ())
        }
        rows = [
            (tool, figure, *values)
            for tool in sorted(set(saved) | set(measured))
            for figure, values in [
                *((f, (v, None)) for f, v in saved.get(tool, {}).items()),
                *((f, (None, v)) for f, v in measured.get(tool, {}).items()),
            ]
        ]
        frame = pd.DataFrame(rows, columns=["tool_name", "figure", "baseline", "window"])
        _table(frame, fmt("No fan-out figures in the baseline or the window."))
        st.caption(
            "Baseline: the most distinct resources in one session (session_max) and in the "
            "detector's sliding window (window_max)."
        )


def _cadence(parsed: Mapping[str, Any], profile: Mapping[str, pd.DataFrame]) -> None:
    left, right = st.columns(2)
    cadence = parsed.get("cadence")
    measured = profile.get("cadence")
    window = measured.iloc[0].to_dict() if measured is not None and not measured.empty else {}
    with left:
        st.markdown("**Cadence**")
        saved = B.scalars(cadence)
        rows = [
            (
                "busiest minute (calls)",
                saved.pop("minute_max", None),
                window.get("burst_max_per_minute"),
            ),
            ("active minutes", saved.pop("minutes", None), None),
            ("busiest hour (calls)", None, window.get("calls_per_hour_max")),
            ("active hours", None, window.get("active_hours")),
            ("calls", B.scalars(parsed).get("calls"), window.get("calls")),
            *((figure, value, None) for figure, value in saved.items()),
        ]
        frame = pd.DataFrame(rows, columns=["figure", "baseline", "window"])
        frame[["baseline", "window"]] = frame[["baseline", "window"]].astype(float)
        st.dataframe(frame, hide_index=True, width="stretch")
    with right:
        histogram = B.counts(cadence.get("histogram") if isinstance(cadence, Mapping) else None)
        if histogram:
            st.markdown("**Minutes by calls per minute (baseline)**")
            st.dataframe(
                pd.DataFrame(
                    list(histogram.items()), columns=["calls per minute (at least)", "minutes"]
                ),
                hide_index=True,
                width="stretch",
            )


def show(
    agent: str,
    window: TimeRange,
    *,
    mix: pd.DataFrame | None,
    hours: pd.DataFrame | None,
    scopes: pd.DataFrame | None,
) -> None:
    """The panel for ``agent``; ``mix``, ``hours`` and ``scopes`` are the page's
    window-vs-history frames (their ``window_calls`` are this window's figures)."""
    st.subheader("Detector baseline and this window")
    missing: dict[str, Any] = {}
    saved = safely(lambda: data.agent_baseline(agent) or missing, "the detector baseline")
    if saved is None:
        return
    if saved is missing:
        st.info(
            "No baseline yet for this agent: the detector saves one once it has seen the "
            "agent's calls (it learns from every call it reads)."
        )
        return
    parsed = B.parse(saved["baseline"])
    if parsed is None:
        st.warning("The saved baseline is not a JSON object; here it is as stored.")
        st.code(str(saved["baseline"])[:20_000], language=None)
        return
    _status(saved, parsed)
    profile = safely(lambda: data.agent_window_profile(agent, window), "the window's figures")
    profile = profile or {}
    _tools_and_hours(parsed, mix, hours)
    _sequence_and_scopes(parsed, profile, scopes)
    _resources(parsed, profile)
    _cadence(parsed, profile)
    rest = {k: v for k, v in parsed.items() if k not in B.SHOWN_KEYS}
    if rest:
        with st.expander("The rest of the saved baseline (JSON)"):
            st.json(rest, expanded=1)
