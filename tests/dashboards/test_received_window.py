"""Windows over the receipt time: a backdated call cannot hide from them.

A span's start time is the agent's claim; ``received_at`` is the collector's clock. An
agent that backdates its spans by ten days is outside every "last 24 h" view over the
claimed time; over the receipt time (``time=received``) it is where it arrived. Its own
store (module-scoped): the demo seed plus one backdated call, written through the real
writer at its receipt time.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentaudit.catalog import StoreSource, observe
from agentaudit.collector.writer.writer import Writer
from agentaudit.config import Config
from agentaudit.dashboards import queries, register_store
from agentaudit.dashboards._markdown import visible
from agentaudit.dashboards.filters import FilterError, Filters, TimeRange
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from tests.dashboards.seed_store import DEMO_AGENT, SECOND, hostile, seed, tool_span
from tests.dashboards.test_pages import open_page, texts, users_config
from tests.dashboards.test_safe_rendering import assert_markup_is_inert, values_in

__all__ = ["users_config"]  # the pages' login configuration, a fixture

BACKDATER = "backdater"
HOSTILE_BACKDATER = hostile("backdater")
DAY = 86_400 * SECOND


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("received-window")
    store = Store.open(f"chdb://{directory}")
    now = time.time_ns()
    seed(store, now)
    backdated = tool_span(
        trace="7" * 32,
        name="backdated",
        start_ns=now - 10 * DAY,  # the claim
        agent=BACKDATER,
        user="bob@example.com",
        session="sess-backdated",
        tool="export_contacts",
        arguments={"to": "drop@evil.example"},
        prompt_hash="sha256:" + "0" * 64,
        sources=[("email:msg-evil", "email", A.TRUST_UNTRUSTED)],  # steered, unapproved
        resources=["contacts:all"],
        credential="cred-crm",
        scopes=["contacts.read"],
        expires_at=now + DAY,
    )
    hostile_backdated = tool_span(  # a backdating agent whose name is markup
        trace="8" * 32,
        name="hostile-backdated",
        start_ns=now - 5 * DAY,
        agent=HOSTILE_BACKDATER,
        user="carol@example.com",
        session="sess-hostile-backdated",
        tool="list_files",
        arguments={"path": "/"},
        prompt_hash="sha256:" + "1" * 64,
        sources=[],
        resources=[],
        credential="",
        scopes=[],
        expires_at=0,
    )
    writer = Writer(store)
    # arrived now, after the demo
    writer.enqueue([backdated, hostile_backdated], received_ns=time.time_ns())
    writer.flush()
    register_store(store)
    yield store
    register_store(None)
    store.close()


def _agents(store: Store, **filters: str) -> set[str]:
    frame = queries.investigate(store, Filters(**filters))
    return set(frame["agent_id"]) if not frame.empty else set()


def test_a_backdated_call_is_outside_the_claimed_window(store: Store) -> None:
    assert BACKDATER not in _agents(store, window="24h")
    assert BACKDATER in _agents(store, window="all")  # it is stored


def test_the_receipt_window_shows_the_backdated_call_where_it_arrived(store: Store) -> None:
    assert BACKDATER in _agents(store, window="1h", time="received")
    frame = queries.investigate(store, Filters(window="1h", time="received", agent=BACKDATER))
    [row] = frame.to_dict("records")
    received = row["received_at"].to_pydatetime().replace(tzinfo=dt.timezone.utc)
    claimed = row["ts"].to_pydatetime().replace(tzinfo=dt.timezone.utc)
    assert abs(received - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=10)
    assert dt.timedelta(days=9) < received - claimed < dt.timedelta(days=11)


def test_the_receipt_window_leaves_out_what_arrived_before_it(store: Store) -> None:
    """A receipt window ten days back, where the call claims to be, holds nothing."""
    ten_days_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    since = (ten_days_ago - dt.timedelta(hours=1)).isoformat()
    until = (ten_days_ago + dt.timedelta(hours=1)).isoformat()
    assert BACKDATER in _agents(store, since=since, until=until)
    assert _agents(store, since=since, until=until, time="received") == set()


def test_every_call_of_the_demo_is_counted_once_over_either_time(store: Store) -> None:
    claimed = queries.investigate(store, Filters(window="all"))
    received = queries.investigate(store, Filters(window="all", time="received"))
    assert len(received) == len(claimed)
    assert len(set(zip(received["trace_id"], received["ts"], strict=True))) == len(received)


def test_no_human_asked_for_this_shows_a_steered_call_whatever_time_it_claims(
    store: Store,
) -> None:
    """The Overview's panel of unapproved calls prompted by untrusted content: the
    backdated one is listed first (received last), with the demo's own, in a 24 h window;
    nothing claimed or received 10 days ago is in a window then, except that call."""
    frame = queries.unasked_calls(store, TimeRange.parse("24h"))
    assert frame["agent_id"].tolist()[0] == BACKDATER
    assert DEMO_AGENT in set(frame["agent_id"])
    ten_days_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    then = TimeRange.parse(
        since=(ten_days_ago - dt.timedelta(hours=1)).isoformat(),
        until=(ten_days_ago + dt.timedelta(hours=1)).isoformat(),
    )
    assert queries.unasked_calls(store, then)["agent_id"].tolist() == [BACKDATER]


def test_the_time_filter_is_parsed_strictly() -> None:
    assert Filters.from_query({"time": " Received "}).time == "received"
    assert Filters.from_query({"time": ""}).time == "claimed"
    assert Filters.from_query({"time": "received"}).to_query() == {"time": "received"}
    for value in ("ingested", "received' OR 1=1 --", "ts; DROP TABLE x"):
        with pytest.raises(FilterError, match=r"time: .* is not one of claimed, received"):
            Filters.from_query({"time": value})


def test_the_page_offers_the_receipt_window(
    store: Store, users_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)

    def shown(**query: str) -> set[str]:
        at = open_page("investigate", **query)
        assert not at.error, [e.value for e in at.error]
        return set(at.dataframe[0].value["agent_id"])

    assert DEMO_AGENT in shown(window="24h")
    assert BACKDATER not in shown(window="24h")
    assert BACKDATER in shown(window="24h", time="received")
    at = open_page("investigate", time="later")
    assert any("time: 'later' is not one of" in str(e.value) for e in at.error)


def test_the_agent_picker_offers_an_agent_that_backdates_its_calls(store: Store) -> None:
    """Blast radius and Agent profile pick from agents claimed or received in the window."""
    agents = queries.agents(store, TimeRange.parse("24h"))
    assert BACKDATER in agents
    assert DEMO_AGENT in agents


def test_blast_radius_counts_what_a_backdating_agent_reached_where_it_arrived(
    store: Store,
) -> None:
    day = TimeRange.parse("24h")
    [tool] = queries.blast_tools(store, BACKDATER, day).to_dict("records")
    assert (tool["tool_name"], tool["calls"], tool["resources"]) == ("export_contacts", 1, 1)
    assert list(tool["scopes_presented"]) == ["contacts.read"]
    [credential] = queries.blast_credentials(store, BACKDATER, day).to_dict("records")
    assert (credential["credential_id"], credential["calls"]) == ("cred-crm", 1)
    # ten days back, a window that holds neither its receipt nor its claim, is empty
    ten_days_back = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    before = TimeRange.parse(
        since=(ten_days_back - dt.timedelta(days=2)).isoformat(),
        until=(ten_days_back - dt.timedelta(days=1)).isoformat(),
    )
    assert queries.blast_tools(store, BACKDATER, before).empty


def test_observed_use_counts_a_call_claimed_or_received_in_the_window(store: Store) -> None:
    """catalog.observe (Blast radius's per-tool table, cards, scope lint, least privilege):
    the backdated call is recent use, and its claim alone still places it too."""
    now = time.time_ns()
    source = StoreSource(store)
    recent = observe(source, since_ns=now - DAY, agent=BACKDATER)
    assert [(t.tool, t.calls, t.presented) for t in recent.tools] == [
        ("export_contacts", 1, ("contacts.read",))
    ]
    claimed_then = observe(source, since_ns=now - 11 * DAY, until_ns=now - 9 * DAY, agent=BACKDATER)
    assert [t.calls for t in claimed_then.tools] == [1]
    neither = observe(source, since_ns=now - 9 * DAY, until_ns=now - 2 * DAY, agent=BACKDATER)
    assert neither.tools == ()


def test_the_blast_radius_page_shows_the_backdating_agent(
    store: Store, users_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)
    picker = open_page("blast_radius", window="24h")  # no agent asked for: the picker's own
    [agents] = [box for box in picker.selectbox if box.label == "Agent"]
    assert BACKDATER in agents.options
    at = open_page("blast_radius", agent=BACKDATER, window="24h")
    assert not at.error, [e.value for e in at.error]
    [per_tool, resources, credentials] = (d.value for d in at.dataframe)
    assert per_tool["tool"].tolist() == ["export_contacts"]
    assert resources["tool_name"].tolist() == ["export_contacts"]
    assert credentials["credential_id"].tolist() == ["cred-crm"]


def test_the_agent_profile_counts_calls_received_in_its_window_dated_elsewhere(
    store: Store,
) -> None:
    day = TimeRange.parse("24h")
    assert queries.agent_calls_claimed_elsewhere(store, BACKDATER, day) == 1
    assert queries.agent_calls_claimed_elsewhere(store, DEMO_AGENT, day) == 0  # honest times
    assert queries.agent_calls_claimed_elsewhere(store, BACKDATER, TimeRange.parse("all")) == 0


def test_the_agent_profile_names_them_and_links_to_the_receipt_window(
    store: Store, users_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)
    at = open_page("agent", agent=BACKDATER, window="24h")
    warned = texts(at.warning)
    assert any(
        "Calls of backdater received in this window that claim a time outside it" in text
        and "before sending): 1." in text
        for text in warned
    ), warned
    [link] = [p.proto for p in at.get("page_link") if "investigate" in p.proto.page]
    query = dict(urllib.parse.parse_qsl(link.query_string))
    assert (query["agent"], query["time"]) == (BACKDATER, "received")
    followed = open_page("investigate", **query)  # the link, followed: the call is there
    assert not followed.error, [e.value for e in followed.error]
    assert followed.dataframe[0].value["tool_name"].tolist() == ["export_contacts"]
    honest = open_page("agent", agent=DEMO_AGENT, window="24h")
    assert not [text for text in texts(honest.warning) if "claim a time outside it" in text]


def test_the_agent_profile_shows_a_hostile_backdating_agent_as_text(
    store: Store, users_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its name in the warning is a value, not Markdown; the link carries it to
    Investigate, which finds the call."""
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)
    at = open_page("agent", agent=HOSTILE_BACKDATER, window="24h")
    assert_markup_is_inert(at)
    [warning] = [str(w.value) for w in at.warning if "claim a time outside it" in str(w.value)]
    assert values_in(warning) == [visible(HOSTILE_BACKDATER)]
    assert "before sending): 1." in warning
    [link] = [p.proto for p in at.get("page_link") if "investigate" in p.proto.page]
    query = dict(urllib.parse.parse_qsl(link.query_string))
    assert query["agent"] == HOSTILE_BACKDATER
    followed = open_page("investigate", **query)
    assert not followed.error, [e.value for e in followed.error]
    assert followed.dataframe[0].value["tool_name"].tolist() == ["list_files"]
