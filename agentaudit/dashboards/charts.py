"""The dashboards' charts: Altair specs that draw visible marks at any data volume.

Invariants, each the fix of a chart that once drew empty axes:

* time series are **bars spanning their bucket** (``x`` = bucket start, ``x2`` = bucket
  end), never lines: a line through one point per series draws nothing, and a bar on a
  continuous time axis without ``x2`` is a few pixels wide whatever its bucket. The
  bucket width follows the data's own span inside the window
  (:func:`~agentaudit.dashboards.queries.overview_activity`), so a burst of calls in a
  24 h window is some tens of bars, not one sliver, and the x domain is that span
  (padded to :data:`MIN_BUCKETS` buckets);
* categories (tools, hours of the day) are a band scale: every category gets a bar
  width however many there are;
* heights are the whole chart's (Streamlit fits the spec to its box): axes and the
  legend take about 150 px of it, the rest is the plot;
* every chart renders as SVG (``usermeta.embedOptions.renderer``), so the browser test
  can count the drawn marks (``tests/e2e/test_browser.py``).

Values from the store (agent ids, tool names) appear only as data: Vega draws them as
SVG text, never Markdown or HTML.
"""

from __future__ import annotations

from typing import Any, Final

import altair as alt
import pandas as pd

__all__ = [
    "MAX_SERIES",
    "MIN_BUCKETS",
    "activity_bars",
    "comparison_bars",
]

MIN_BUCKETS: Final = 12
"""The x domain is at least this many buckets wide (one bucket is not the whole chart)."""
MAX_SERIES: Final = 10
"""Agents drawn separately; the rest are summed as ``(other agents)``."""
OTHER: Final = "(other agents)"
_SVG: Final = {"embedOptions": {"renderer": "svg"}}
_PERIOD_COLOURS: Final = alt.Scale(domain=["baseline", "window"], range=["#9aa5b1", "#1f6feb"])


def _ms(value: Any) -> float:
    return float(pd.Timestamp(value).timestamp() * 1000)


def _time_format(step: float) -> str:
    if step < 60:
        return "%H:%M:%S"
    if step < 86400:
        return "%b %d %H:%M"
    return "%b %d"


def activity_bars(series: pd.DataFrame) -> alt.Chart:
    """Stacked bars of calls per bucket and agent.

    ``series`` has columns ``bucket`` and ``bucket_end`` (UTC), ``agent_id`` and
    ``calls`` (:func:`~agentaudit.dashboards.queries.overview_activity`). The
    :data:`MAX_SERIES` busiest agents are drawn apart, the others summed.
    """
    frame = series.copy()
    for column in ("bucket", "bucket_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    busiest = frame.groupby("agent_id")["calls"].sum().sort_values(ascending=False)
    if len(busiest) > MAX_SERIES:
        keep = set(busiest.index[: MAX_SERIES - 1])
        frame["agent_id"] = frame["agent_id"].where(frame["agent_id"].isin(keep), OTHER)
        frame = frame.groupby(["bucket", "bucket_end", "agent_id"], as_index=False)["calls"].sum()
    step = float((frame["bucket_end"] - frame["bucket"]).max().total_seconds())
    start, end = _ms(frame["bucket"].min()), _ms(frame["bucket_end"].max())
    missing = MIN_BUCKETS * step * 1000 - (end - start)
    if missing > 0:  # pad both sides so a lone bucket is a bar, not the whole chart
        start, end = start - missing / 2, end + missing / 2
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "bucket:T",
                title="UTC",
                scale=alt.Scale(type="utc", domain=[start, end]),
                axis=alt.Axis(format=_time_format(step), labelOverlap=True),
            ),
            x2="bucket_end:T",
            y=alt.Y("sum(calls):Q", title="tool calls", stack="zero"),
            color=alt.Color("agent_id:N", title="agent", legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("bucket:T", title="from (UTC)", format="%Y-%m-%d %H:%M:%S"),
                alt.Tooltip("agent_id:N", title="agent"),
                alt.Tooltip("sum(calls):Q", title="calls"),
            ],
        )
        .properties(height=330, usermeta=_SVG)
    )
    return chart


def comparison_bars(
    frame: pd.DataFrame, category: str, *, title: str, share: bool = True, ordinal: bool = False
) -> alt.Chart:
    """Baseline against window, side by side per ``category`` value.

    ``frame`` has the column ``category`` and the columns ``baseline`` and ``window``
    (counts). With ``share`` each period's counts become its shares, so a short window
    and a 30-day baseline compare. ``ordinal`` (hours of the day) draws columns in the
    given order; otherwise the categories (tool names: long, and any number of them)
    are rows, busiest in the window first, each with room for its two bars.
    """
    values = frame[[category, "baseline", "window"]].copy()
    values[category] = values[category].astype(str)
    if share:
        for column in ("baseline", "window"):
            total = float(values[column].sum())
            values[column] = values[column].astype(float) / (total or 1.0)
    long = values.melt(id_vars=[category], var_name="period", value_name="value")
    measure = alt.Axis(format="%" if share else ",d")
    periods = ["baseline", "window"]
    color = alt.Color("period:N", scale=_PERIOD_COLOURS, legend=alt.Legend(orient="bottom"))
    tooltip = [
        alt.Tooltip(f"{category}:N"),
        alt.Tooltip("period:N"),
        alt.Tooltip("value:Q", format=".1%" if share else ",d"),
    ]
    base = alt.Chart(long).mark_bar()
    if ordinal:
        chart: alt.Chart = base.encode(
            x=alt.X(f"{category}:N", title=None, sort=list(values[category])).axis(labelAngle=0),
            xOffset=alt.XOffset("period:N", sort=periods),
            y=alt.Y("value:Q", title=title, axis=measure),
            color=color,
            tooltip=tooltip,
        ).properties(height=280, usermeta=_SVG)
        return chart
    order = list(values.sort_values(["window", "baseline"], ascending=False)[category])
    chart = base.encode(
        y=alt.Y(f"{category}:N", title=None, sort=order).axis(labelLimit=220),
        yOffset=alt.YOffset("period:N", sort=periods),
        x=alt.X("value:Q", title=title, axis=measure),
        color=color,
        tooltip=tooltip,
    ).properties(height=160 + 40 * len(values), usermeta=_SVG)
    return chart
