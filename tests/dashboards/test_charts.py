"""The charts draw marks at any data volume: bucket widths, bar extents, domains.

The specs are checked as Vega-Lite JSON here; ``tests/e2e/test_browser.py`` counts the
marks chromium actually draws.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import pytest

from agentaudit.dashboards.charts import MAX_SERIES, MIN_BUCKETS, activity_bars, comparison_bars
from agentaudit.dashboards.filters import TimeRange, span_bucket_seconds
from agentaudit.dashboards.queries import overview_activity
from agentaudit.store import Store

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def spec(chart: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(chart.to_json())
    return out


def rows(chart: Any) -> list[dict[str, Any]]:
    data = spec(chart)["datasets"]
    (values,) = data.values()
    return list(values)


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (dt.timedelta(0), 1),
        (dt.timedelta(seconds=30), 1),
        (dt.timedelta(minutes=3), 5),
        (dt.timedelta(hours=1), 60),
        (dt.timedelta(hours=24), 30 * 60),
        (dt.timedelta(days=30), 12 * 3600),
        (dt.timedelta(days=3650), 30 * 86400),
    ],
)
def test_the_bucket_follows_the_data_span(span: dt.timedelta, step: int) -> None:
    assert span_bucket_seconds(T0, T0 + span) == step
    assert span.total_seconds() / step <= 60 or step == 30 * 86400


def series(*points: tuple[dt.datetime, str, int], step: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        [(at, at + dt.timedelta(seconds=step), agent, calls) for at, agent, calls in points],
        columns=["bucket", "bucket_end", "agent_id", "calls"],
    )


def test_activity_bars_span_their_bucket_and_a_lone_bucket_is_padded() -> None:
    chart = spec(activity_bars(series((T0, "mail-assistant", 25))))
    assert chart["mark"]["type"] == "bar"
    encoding = chart["encoding"]
    assert encoding["x"]["field"] == "bucket"
    assert encoding["x2"]["field"] == "bucket_end"  # a bar as wide as its bucket
    assert encoding["x"]["scale"]["type"] == "utc"
    start, end = encoding["x"]["scale"]["domain"]
    assert end - start == pytest.approx(MIN_BUCKETS * 5 * 1000)  # one bar, 1/12 of the axis
    bucket = T0.timestamp() * 1000
    assert start < bucket < bucket + 5000 < end
    assert chart["usermeta"] == {"embedOptions": {"renderer": "svg"}}


def test_activity_bars_keep_the_data_span_as_the_domain() -> None:
    points = [(T0 + dt.timedelta(minutes=i), f"agent-{i % 3}", i + 1) for i in range(60)]
    chart = spec(activity_bars(series(*points, step=60)))
    start, end = chart["encoding"]["x"]["scale"]["domain"]
    assert start == T0.timestamp() * 1000
    assert end == (T0 + dt.timedelta(minutes=60)).timestamp() * 1000


def test_activity_bars_sum_the_quiet_agents() -> None:
    points = [(T0, f"agent-{i:02d}", 100 - i) for i in range(MAX_SERIES + 5)]
    drawn = rows(activity_bars(series(*points)))
    agents = {r["agent_id"] for r in drawn}
    assert len(agents) == MAX_SERIES
    assert "(other agents)" in agents
    assert sum(r["calls"] for r in drawn) == sum(p[2] for p in points)


def test_comparison_bars_are_shares_on_a_band_scale() -> None:
    frame = pd.DataFrame(
        {"tool_name": ["send_email", "read_inbox"], "baseline": [10, 30], "window": [1, 0]}
    )
    chart = spec(comparison_bars(frame, "tool_name", title="share"))
    assert chart["encoding"]["y"]["type"] == "nominal"  # one band per tool, any number
    assert chart["encoding"]["yOffset"]["field"] == "period"
    shares = {
        (r["tool_name"], r["period"]): r["value"]
        for r in rows(comparison_bars(frame, "tool_name", title="s"))
    }
    assert shares[("read_inbox", "baseline")] == pytest.approx(0.75)
    assert shares[("send_email", "window")] == pytest.approx(1.0)
    assert shares[("read_inbox", "window")] == 0.0
    hours = pd.DataFrame({"hour": ["00", "01"], "baseline": [0, 0], "window": [0, 0]})
    ordinal = spec(comparison_bars(hours, "hour", title="share", ordinal=True))
    assert ordinal["encoding"]["x"]["sort"] == ["00", "01"]  # no division by zero either
    assert ordinal["height"] > 200


def test_overview_activity_buckets_a_burst_finely(seeded_store: Store) -> None:
    """The demo's calls spread over a day: 30-minute buckets, each bar its own bucket."""
    series_, _ = overview_activity(seeded_store, TimeRange.parse("24h"))
    widths = set(series_["bucket_end"] - series_["bucket"])
    assert widths == {pd.Timedelta(minutes=30)}
    one_session = overview_activity(
        seeded_store,
        TimeRange.parse(
            None,
            (series_["bucket"].max() - pd.Timedelta(hours=2)).isoformat(),
            None,
        ),
    )[0]
    assert not one_session.empty
    assert (one_session["bucket_end"] - one_session["bucket"]).max() <= pd.Timedelta(minutes=5)
