"""Filter parsing and the SQL it produces: values are always bound, never spliced."""

from __future__ import annotations

import datetime as dt

import pytest

from agentaudit.dashboards import queries
from agentaudit.dashboards.filters import FilterError, Filters, TimeRange, like_escape
from agentaudit.store import Store
from tests.dashboards.seed_store import DEMO_AGENT, DEMO_SESSION

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
HOSTILE = [
    "x' OR '1'='1",
    "'; DROP TABLE agentaudit.tool_calls; --",
    "{f0:String}",
    "\\' OR 1=1 --",
    "x') UNION ALL SELECT * FROM system.users --",
    "%' AND sleep(3) --",
]


def test_windows_and_explicit_ranges() -> None:
    assert TimeRange.parse("24h", now=NOW).since == NOW - dt.timedelta(hours=24)
    assert TimeRange.parse("90m", now=NOW).since == NOW - dt.timedelta(minutes=90)
    assert TimeRange.parse("all", now=NOW).since.year == 1970
    explicit = TimeRange.parse(None, "2026-11-01T00:00:00Z", "2026-11-02", now=NOW)
    assert (explicit.since.day, explicit.until.day, explicit.label) == (1, 2, "custom")
    assert TimeRange.parse("7d", now=NOW).bucket_seconds() <= 3 * 3600


@pytest.mark.parametrize(
    ("window", "since", "until", "message"),
    [
        ("yesterday", None, None, "not a time window"),
        ("0m", None, None, "longer than zero"),
        (None, "31/12/2026", None, "since"),
        (None, None, "soon", "until"),
        (None, "2026-11-02", "2026-11-01", "before until"),
        (None, "9999-01-01", None, "outside"),
    ],
)
def test_malformed_time_ranges(
    window: str | None, since: str | None, until: str | None, message: str
) -> None:
    with pytest.raises(FilterError, match=message):
        TimeRange.parse(window, since, until, now=NOW)


def test_query_round_trip() -> None:
    filters = Filters.from_query({"agent": ["a", "b"], "untrusted": "1", "q": " x ", "junk": "y"})
    assert (filters.agent, filters.untrusted, filters.q) == ("b", True, "x")
    assert Filters.from_query(filters.to_query()) == filters
    assert Filters().to_query() == {}


def test_oversized_and_nul_values_are_refused() -> None:
    with pytest.raises(FilterError, match="longer than"):
        Filters.from_query({"agent": "a" * 600})
    with pytest.raises(FilterError, match="NUL"):
        Filters.from_query({"agent": "a\x00b"})
    with pytest.raises(FilterError, match="status"):
        Filters.from_query({"status": "pwned"})


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_never_reach_the_sql_text(value: str) -> None:
    filters = Filters(
        agent=value,
        user=value,
        session=value,
        tool=value,
        resource=value,
        credential=value,
        q=value,
    )
    sql, params = filters.where(now=NOW)
    benign_sql, _ = Filters(
        agent="a", user="a", session="a", tool="a", resource="a", credential="a", q="a"
    ).where(now=NOW)
    assert sql == benign_sql  # the SQL text does not depend on the values
    bound = [v for k, v in params.items() if k.startswith("f")]
    assert bound[:-1] == [value] * 6
    assert bound[-1] == f"%{like_escape(value.lower())}%"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_match_nothing_and_change_nothing(seeded_store: Store, value: str) -> None:
    for name in ("agent", "user", "session", "tool", "resource", "credential", "q"):
        frame = queries.investigate(seeded_store, Filters(window="all", **{name: value}))
        assert frame.empty, name
    assert len(queries.investigate(seeded_store, Filters(agent=DEMO_AGENT))) == 2


def test_filters_select_the_right_rows(seeded_store: Store) -> None:
    def tools(**kwargs: object) -> list[str]:
        frame = queries.investigate(
            seeded_store, Filters(window="all", **kwargs), sort="ts", descending=False
        )
        return [] if frame.empty else frame["tool_name"].tolist()

    assert tools(session=DEMO_SESSION) == ["read_inbox", "send_email"]
    assert tools(session=DEMO_SESSION, untrusted=True) == ["send_email"]
    assert tools(credential="cred-mail-7f3a", q="INBOX") == ["read_inbox"]
    assert tools(status="error") == ["web_search"]
    assert tools(status="blocked") == []
    assert tools(q="%") == []  # LIKE wildcards in the search text match literally
    assert tools(q="_") == []
    assert tools(q='"folder": "inbox"') == ["read_inbox"]
    with pytest.raises(ValueError, match="cannot sort"):
        queries.investigate(seeded_store, Filters(), sort="ts; DROP TABLE x")


def test_overview_activity_counts_from_one_scan(seeded_store: Store) -> None:
    series, tools = queries.overview_activity(seeded_store, TimeRange.parse("all"))
    assert dict(zip(tools["tool_name"], tools["calls"], strict=True)) == {
        "create_event": 9,
        "web_search": 9,
        "read_inbox": 1,
        "send_email": 1,
    }
    assert tools.set_index("tool_name").loc["web_search", "failed_or_blocked"] == 1
    assert series.groupby("agent_id")["calls"].sum().to_dict() == {
        "calendar-bot": 9,
        "mail-assistant": 2,
        "research-agent": 9,
    }
    assert series["bucket"].is_monotonic_increasing
    empty_series, empty_tools = queries.overview_activity(
        seeded_store, TimeRange.parse(None, "2001-01-01", "2001-01-02")
    )
    assert empty_series.empty
    assert empty_tools.empty
