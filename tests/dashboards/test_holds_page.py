"""The Legal holds page against the real admin API, over the store the page reads.

The hold routes (``hold_routes`` over an ``EvidenceService`` of the seeded chdb store) are
mounted in the real admin app (``build_admin_app``) served by ``HttpServer`` on a free
port; the page reads the holds from the same store. An ASGI wrapper counts the requests
that reach the API, so "sends nothing" is checked where it matters.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from agentaudit.client import AdminClient
from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.admin.holds_api import hold_routes
from agentaudit.collector.evidence import EvidenceService
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import Config
from agentaudit.dashboards import register_config
from agentaudit.dashboards._markdown import visible
from agentaudit.dashboards._ui import USER_KEY
from agentaudit.dashboards.auth import RESPONDER, VIEWER, User, hash_password
from agentaudit.dashboards.holds_client import MAX_TEXT, build_hold, hold_rows
from agentaudit.dashboards.server import APP_PATH
from agentaudit.store import Store
from tests.dashboards.markdown_reader import rendered
from tests.dashboards.seed_store import DEMO_AGENT, DEMO_SESSION, DEMO_USER, HOSTILE_MARKUP
from tests.dashboards.test_safe_rendering import (
    assert_markup_is_inert,
    assert_shows,
    cells,
    values_in,
)

TIMEOUT = 60
ADMIN = "responder-token-for-holds-page-0123"
AGENT = "agent-token-for-holds-page-01234567"
RITA = User("rita", RESPONDER)
VAL = User("val", VIEWER)
# A hold's id must be printable (one line); the reason, typed in a text area, too.
HOSTILE_VALUE = "session " + HOSTILE_MARKUP.replace("\n", " ")
HOSTILE_REASON = "reason " + HOSTILE_MARKUP.replace("\n", " ")


class _Counting:
    """ASGI wrapper recording (method, path) of every HTTP request reaching the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.url = ""
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def users() -> Iterator[None]:
    accounts = {
        "rita": {"role": RESPONDER, "password_hash": hash_password("rita-secret")},
        "val": {"role": VIEWER, "password_hash": hash_password("val-secret")},
    }
    register_config(
        Config(clickhouse_url="chdb:///unused", sections={"dashboard": {"users": accounts}})
    )
    yield
    register_config(None)


@pytest.fixture(scope="module")
def api(seeded_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Counting]:
    state: Path = tmp_path_factory.mktemp("holds-page")
    evidence = EvidenceService(seeded_store, state_dir=state, offline=True, owns_store=False)
    gate = Gate(Authenticator(agent_token=AGENT, admin_token=ADMIN))
    app = _Counting(
        build_admin_app(seeded_store, gate=gate, extra_routes=hold_routes(evidence, gate))
    )
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    app.url = f"http://127.0.0.1:{server.port}"
    yield app
    server.stop()


@pytest.fixture(autouse=True)
def _environment(users: None, api: _Counting, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTAUDIT_API_URL", api.url)
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", ADMIN)
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)


# --- helpers ----------------------------------------------------------------------------


def open_holds(user: User = RITA, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = user
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("views/holds.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def place_hold(  # noqa: PLR0917 - the form's fields, in order
    at: AppTest, kind: str, value: str, reason: str, start: str = "", end: str = ""
) -> AppTest:
    at.selectbox[0].select(kind)
    at.text_input[0].input(value)
    at.text_input[1].input(start)
    at.text_input[2].input(end)
    at.text_area[0].input(reason)
    next(b for b in at.button if b.label == "Place hold").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def release_hold(at: AppTest, hold_id: str, reason: str, *, confirm: bool = True) -> AppTest:
    at.text_area(key=f"hold-release-reason:{hold_id}").input(reason)
    if confirm:
        at.checkbox(key=f"hold-release-confirm:{hold_id}").check()
    at.button(key=f"hold-release-submit:{hold_id}").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def listed(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "hold_id" in d.value.columns)


def row_of(at: AppTest, held: str) -> pd.Series:
    table = listed(at)
    rows = table[table["held"] == held]
    assert len(rows) == 1, table
    return rows.iloc[0]


def texts(elements: Any) -> list[str]:
    return [rendered(str(e.value)) for e in elements]


def stored(store: Store, hold_id: str) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in store.query(
            "SELECT action, actor, reason FROM agentaudit.legal_holds "
            "WHERE hold_id = {h:String} ORDER BY at",
            parameters={"h": hold_id},
        ).rows
    ]


# --- the page ---------------------------------------------------------------------------


def test_a_responder_places_lists_and_releases_a_hold(seeded_store: Store, api: _Counting) -> None:
    at = place_hold(open_holds(), "session", DEMO_SESSION, "matter 2026-17")
    (done,) = texts(at.success)
    assert f"the rows of session {DEMO_SESSION} are kept past retention" in done
    row = row_of(at, DEMO_SESSION)
    assert (row["state"], row["scope"], row["placed_by"]) == ("active", "session", "rita")
    assert row["reason"] == "matter 2026-17"
    hold_id = str(row["hold_id"])
    assert hold_id in done
    assert api.requests[-1] == ("POST", "/v1/holds")
    assert stored(seeded_store, hold_id) == [("place", "rita", "matter 2026-17")]
    assert any(DEMO_SESSION in label for label in (e.label for e in at.expander))

    at = release_hold(at, hold_id, "matter closed")
    (done,) = texts(at.success)
    assert f"Hold {hold_id} released" in done
    row = row_of(at, DEMO_SESSION)
    assert (row["state"], row["released_by"], row["release_reason"]) == (
        "released",
        "rita",
        "matter closed",
    )
    assert row["released_at"]
    assert api.requests[-1] == ("POST", f"/v1/holds/{hold_id}/release")
    assert stored(seeded_store, hold_id)[-1] == ("release", "rita", "matter closed")
    assert f"hold-release-submit:{hold_id}" not in {b.key for b in at.button}


def test_agent_user_and_time_range_holds(api: _Counting) -> None:
    at = place_hold(open_holds(), "agent", DEMO_AGENT, "matter agent")
    assert row_of(at, DEMO_AGENT)["scope"] == "agent"
    at = place_hold(open_holds(), "user", DEMO_USER, "matter user")
    assert row_of(at, DEMO_USER)["scope"] == "user"
    at = place_hold(
        open_holds(), "time", "", "incident 9", start="2026-11-01T00:00:00Z", end="2026-11-08"
    )
    row = row_of(at, "2026-11-01 00:00:00 .. 2026-11-08 00:00:00 UTC")
    assert (row["scope"], row["state"]) == ("time", "active")
    (done,) = texts(at.success)
    assert "the time range 2026-11-01T00:00:00.000000Z .. 2026-11-08T00:00:00.000000Z" in done


def test_a_link_fills_the_scope_and_id() -> None:
    at = open_holds(scope="user", id=DEMO_USER)
    assert at.selectbox[0].value == "user"
    assert at.text_input[0].value == DEMO_USER


@pytest.mark.parametrize(
    ("kind", "value", "start", "end", "reason", "complaint"),
    [
        ("session", DEMO_SESSION, "", "", "   ", "give a reason"),
        ("session", "", "", "", "a reason", "give the session id"),
        ("agent", "a" * (MAX_TEXT + 1), "", "", "a reason", f"at most {MAX_TEXT}"),
        ("session", DEMO_SESSION, "2026-11-01", "", "a reason", "not From and To"),
        ("time", "", "2026-11-01", "", "a reason", "needs From and To"),
        ("time", "", "yesterday", "2026-11-02", "a reason", "not an ISO 8601 time"),
        ("time", "", "2026-11-08", "2026-11-01", "a reason", "From no later than To"),
        ("time", DEMO_SESSION, "2026-11-01", "2026-11-02", "a reason", "not an id"),
    ],
)
def test_a_bad_hold_sends_nothing(  # noqa: PLR0917 - one row of the table above
    api: _Counting, kind: str, value: str, start: str, end: str, reason: str, complaint: str
) -> None:
    at = open_holds()
    before = len(api.requests)
    at = place_hold(at, kind, value, reason, start=start, end=end)
    (error,) = texts(at.error)
    assert "The hold was not placed" in error
    assert complaint in error
    assert not at.success
    assert len(api.requests) == before


def test_a_release_needs_a_reason_and_confirmation(seeded_store: Store, api: _Counting) -> None:
    hold_id = AdminClient(api.url, token=ADMIN).place_hold(
        {"kind": "agent", "value": "agent-kept", "reason": "m-5", "requested_by": "legal"}
    )["hold"]["hold_id"]
    at = open_holds()
    before = len(api.requests)
    at = release_hold(at, hold_id, "closed", confirm=False)
    assert any("Tick the confirmation box" in e for e in texts(at.error))
    at = release_hold(at, hold_id, "   ", confirm=True)
    assert any("give a reason" in e for e in texts(at.error))
    assert len(api.requests) == before
    assert row_of(at, "agent-kept")["state"] == "active"
    assert row_of(at, "agent-kept")["placed_by"] == "legal"  # placed through the API


def test_the_apis_refusal_is_shown(api: _Counting) -> None:
    """A hold released elsewhere (the CLI) while the page is open: the API's 409, as text."""
    client = AdminClient(api.url, token=ADMIN)
    hold_id = client.place_hold({"kind": "user", "value": "user-twice", "reason": "m-6"})["hold"][
        "hold_id"
    ]
    at = open_holds()
    client.release_hold(hold_id, reason="from the CLI", requested_by="cli")
    at = release_hold(at, hold_id, "again")
    (error,) = texts(at.error)
    assert "409" in error
    assert "already released" in error
    assert row_of(at, "user-twice")["release_reason"] == "from the CLI"


def test_wrong_token_and_unreachable_api(monkeypatch: pytest.MonkeyPatch, api: _Counting) -> None:
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", "not-the-token")
    at = place_hold(open_holds(), "session", "sess-wrong-token", "m-7")
    (error,) = texts(at.error)
    assert "401" in error
    assert "AGENTAUDIT_ADMIN_TOKEN" in error
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", AGENT)
    at = place_hold(open_holds(), "session", "sess-agent-token", "m-7")
    assert "403" in texts(at.error)[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("AGENTAUDIT_API_URL", f"http://127.0.0.1:{closed}")
    at = place_hold(open_holds(), "session", "sess-unreachable", "m-7")
    (error,) = texts(at.error)
    assert "AGENTAUDIT_API_URL" in error
    assert not any(h == "sess-wrong-token" for h in listed(at)["held"])


def test_a_viewer_reads_the_holds_but_gets_no_form(api: _Counting) -> None:
    AdminClient(api.url, token=ADMIN).place_hold(
        {"kind": "session", "value": "sess-for-viewer", "reason": "m-8"}
    )
    at = open_holds(VAL)
    assert row_of(at, "sess-for-viewer")["state"] == "active"
    assert not at.text_input
    assert not at.text_area
    assert not at.checkbox
    assert [b.label for b in at.button] == ["Log out"]  # the sidebar's, nothing else
    assert not at.selectbox
    assert any("viewers read them" in i for i in texts(at.info))
    assert any("sess-for-viewer" in label for label in (e.label for e in at.expander))


def test_viewers_see_the_page_in_the_navigation() -> None:
    at = open_holds(VAL)
    assert "Legal holds" in texts(at.title)


# --- hostile text -------------------------------------------------------------------------


def test_a_hostile_value_and_reason_typed_in_the_form_are_shown_as_text() -> None:
    at = place_hold(open_holds(), "session", HOSTILE_VALUE, HOSTILE_REASON)
    assert not at.error, texts(at.error)
    assert_markup_is_inert(at)
    assert_shows(at, HOSTILE_VALUE, HOSTILE_REASON)  # the outcome, the expander, its text
    assert {HOSTILE_VALUE, HOSTILE_REASON} <= cells(at)


def test_a_hostile_hold_from_the_api_is_shown_as_text(api: _Counting) -> None:
    """Placed through the API or CLI, a hold's id and reason may span lines."""
    value, reason = "session " + HOSTILE_MARKUP, "reason " + HOSTILE_MARKUP
    hold = AdminClient(api.url, token=ADMIN).place_hold(
        {
            "kind": "session",
            "value": value,
            "reason": reason,
            "requested_by": "by " + HOSTILE_MARKUP,
        }
    )["hold"]
    at = open_holds()
    assert_markup_is_inert(at)
    assert_shows(at, value, reason, "by " + HOSTILE_MARKUP)
    row = row_of(at, value)
    assert (row["reason"], row["placed_by"]) == (reason, "by " + HOSTILE_MARKUP)
    at = release_hold(at, hold["hold_id"], "released " + HOSTILE_MARKUP.replace("\n", " "))
    assert_markup_is_inert(at)
    assert row_of(at, value)["release_reason"] == "released " + HOSTILE_MARKUP.replace("\n", " ")
    (done,) = [str(e.value) for e in at.success]
    assert visible(value) in values_in(done)


# --- the client's rules -------------------------------------------------------------------


def test_build_hold_sends_only_the_fields_of_its_scope() -> None:
    session = build_hold("session", " s-1 ", reason=" why ", requested_by="rita")
    assert session.body() == {
        "kind": "session",
        "value": "s-1",
        "reason": "why",
        "requested_by": "rita",
    }
    time = build_hold("time", start="2026-11-01", end="2026-11-02", reason="x", requested_by="r")
    assert time.body() == {
        "kind": "time",
        "from": "2026-11-01",
        "to": "2026-11-02",
        "reason": "x",
        "requested_by": "r",
    }


def test_hold_rows_are_newest_first() -> None:
    rows = hold_rows(
        [
            {"hold_id": "a", "kind": "user", "value": "u", "placed_at": "2026-11-01T00:00:00Z"},
            {"hold_id": "b", "kind": "user", "value": "v", "placed_at": "2026-11-02T00:00:00Z"},
        ]
    )
    assert [r["hold_id"] for r in rows] == ["b", "a"]
