"""Every page rendered with AppTest over a seeded store: filters, empty states, bad input."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from agentaudit.config import Config
from agentaudit.dashboards import register_config
from agentaudit.dashboards._ui import USER_KEY
from agentaudit.dashboards.auth import RESPONDER, VIEWER, User, hash_password
from agentaudit.dashboards.server import APP_PATH
from agentaudit.store import Store
from tests.dashboards.markdown_reader import rendered
from tests.dashboards.seed_store import DEMO_AGENT, DEMO_EMAIL, DEMO_SESSION, DEMO_TRACE

TIMEOUT = 60
RESPONDER_USER = User("rita", RESPONDER)
VIEWER_USER = User("val", VIEWER)
PASSWORDS = {"rita": "rita-secret", "val": "val-secret"}


@pytest.fixture(scope="module")
def users_config() -> Iterator[Config]:
    users = {
        "rita": {"role": RESPONDER, "password_hash": hash_password(PASSWORDS["rita"])},
        "val": {"role": VIEWER, "password_hash": hash_password(PASSWORDS["val"])},
    }
    config = Config(clickhouse_url="chdb:///unused", sections={"dashboard": {"users": users}})
    register_config(config)
    yield config
    register_config(None)


@pytest.fixture(autouse=True)
def _environment(
    seeded_store: Store, users_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)


def open_page(page: str, user: User | None = RESPONDER_USER, **query: str) -> AppTest:
    """Run the app as ``user`` and switch to ``views/<page>.py`` with ``query``."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    if user is not None:
        at.session_state[USER_KEY] = user
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    if page != "overview":
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements: Any) -> list[str]:
    """The elements' text as shown (quoted values are code spans: see markdown_reader)."""
    return [rendered(str(e.value)) for e in elements]


def page_links(at: AppTest) -> list[Any]:
    return list(at.get("page_link"))


# --- login and roles ------------------------------------------------------------------


def test_login_form_is_shown_before_any_page() -> None:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert texts(at.title) == ["agentaudit"]
    assert [t.label for t in at.text_input] == ["User", "Password"]


def test_wrong_password_is_refused_and_right_one_logs_in() -> None:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT).run()
    at.text_input[0].input("rita")
    at.text_input[1].input("wrong")
    at.button[0].click().run()
    assert "Unknown user or wrong password." in texts(at.error)
    assert USER_KEY not in at.session_state
    at.text_input[1].input(PASSWORDS["rita"])
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state[USER_KEY].name == "rita"
    assert "Overview" in texts(at.title)


def test_viewer_cannot_open_revoke() -> None:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = VIEWER_USER
    at.run()
    assert "Overview" in texts(at.title)
    at.switch_page("views/investigate.py").run()  # a viewer sees the other pages
    assert "Investigate" in texts(at.title)
    with pytest.raises(ValueError, match=r"Could not find a navigation page.*revoke\.py"):
        at.switch_page("views/revoke.py")  # Revoke is not among the viewer's pages


def test_revoke_page_refuses_a_viewer_even_when_run_directly() -> None:
    at = AppTest.from_file(str(APP_PATH.parent / "views" / "revoke.py"), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = VIEWER_USER
    at.run()
    assert any("Only responders" in e for e in texts(at.error))
    assert not at.button


def test_responder_opens_revoke() -> None:
    assert "Revoke" in texts(open_page("revoke").title)


def test_a_forged_role_in_the_session_is_not_trusted() -> None:
    at = open_page("revoke", User("val", RESPONDER))
    assert texts(at.title) == ["agentaudit"]  # back to the login form


@pytest.fixture
def no_users(users_config: Config) -> Iterator[None]:
    register_config(Config(clickhouse_url="chdb:///unused"))
    yield
    st_config.set_option("server.address", None)
    register_config(users_config)


@pytest.mark.usefixtures("no_users")
def test_no_users_on_loopback_runs_without_login_and_says_so() -> None:
    st_config.set_option("server.address", "127.0.0.1")
    at = open_page("overview", None)
    assert "Overview" in texts(at.title)
    assert any("No login" in w for w in texts(at.warning))


@pytest.mark.usefixtures("no_users")
def test_no_users_on_another_address_is_refused() -> None:
    st_config.set_option("server.address", "0.0.0.0")
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT).run()
    assert any("Refusing to serve" in e for e in texts(at.error))
    assert not at.title


# --- Overview ---------------------------------------------------------------------------


def test_overview_links_the_demo_incident_to_session_forensics() -> None:
    at = open_page("overview")
    links = page_links(at)
    assert any(DEMO_SESSION in link.proto.label for link in links)
    assert any(DEMO_EMAIL in link.proto.label for link in links)
    assert any(f"session={DEMO_SESSION}" in link.proto.page for link in links) or any(
        DEMO_SESSION in str(link.proto) for link in links
    )
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tool calls stored"] == "20"
    assert metrics["Spans stored"] == "28"


def test_overview_empty_states() -> None:
    at = open_page("overview", window="15m")
    assert any("No unapproved tool calls" in s for s in texts(at.success))
    infos = texts(at.info)
    assert any("No tool calls in this window" in i for i in infos)
    # The findings and quarantine tables arrive with other issues: either empty state.
    states = infos + texts(at.success)
    assert any("No findings yet" in s or "No open findings" in s for s in states)
    assert any("No quarantine records yet" in s or "No agent is quarantined" in s for s in states)


def test_overview_malformed_window_falls_back_with_an_error() -> None:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = RESPONDER_USER
    at.query_params["window"] = "yesterday'; DROP TABLE x"
    at.run()
    assert any("Invalid time window" in e for e in texts(at.error))
    assert page_links(at)  # still shows the default 24 h window
    assert at.query_params["window"] in ("24h", ["24h"])  # and corrects the link


# --- Investigate ------------------------------------------------------------------------


def investigate_rows(at: AppTest) -> int:
    frames = at.dataframe
    return len(frames[0].value) if frames else 0


def test_investigate_filters_from_the_url() -> None:
    assert investigate_rows(open_page("investigate", agent=DEMO_AGENT)) == 2
    at = open_page("investigate", agent=DEMO_AGENT, untrusted="1")
    assert investigate_rows(at) == 1
    assert at.dataframe[0].value["tool_name"].tolist() == ["send_email"]
    assert at.get("download_button")


def test_investigate_text_in_arguments_and_resource() -> None:
    assert investigate_rows(open_page("investigate", q="ATTACKER@evil")) == 1
    at = open_page("investigate", resource="email:inbox/alice", window="all")
    assert at.dataframe[0].value["tool_name"].tolist() == ["read_inbox"]


def test_investigate_injection_attempt_is_just_a_value() -> None:
    at = open_page("investigate", agent="x' OR 1=1 --", session="') UNION SELECT 1 --")
    assert not at.error
    assert any("No tool calls match" in i for i in texts(at.info))
    assert investigate_rows(open_page("investigate", agent=DEMO_AGENT)) == 2  # still intact


def test_investigate_keeps_a_trace_filter_from_the_link() -> None:
    at = open_page("investigate", trace=DEMO_TRACE)
    assert investigate_rows(at) == 2
    next(t for t in at.text_input if t.label == "Tool").input("send_email")
    at.button[0].click().run()
    assert investigate_rows(at) == 1
    assert at.query_params["trace"] in (DEMO_TRACE, [DEMO_TRACE])


def test_investigate_malformed_time_range() -> None:
    at = open_page("investigate", since="not-a-time")
    assert any("since" in e and "ISO-8601" in e for e in texts(at.error))
    assert not at.dataframe
    at = open_page("investigate", since="2026-01-02T00:00:00Z", until="2026-01-01T00:00:00Z")
    assert any("before until" in e for e in texts(at.error))
    at = open_page("investigate", status="deleted")
    assert any("status" in e for e in texts(at.error))


def test_investigate_form_writes_filters_to_the_url() -> None:
    at = open_page("investigate")
    agent_box = next(t for t in at.text_input if t.label == "Agent")
    agent_box.input(DEMO_AGENT)
    at.button[0].click().run()
    assert at.query_params["agent"] == [DEMO_AGENT] or at.query_params["agent"] == DEMO_AGENT
    assert investigate_rows(at) == 2
    since_box = next(t for t in at.text_input if t.label.startswith("Since"))
    since_box.input("31/12/2026")
    at.button[0].click().run()
    assert any("Invalid filter" in e for e in texts(at.error))


# --- Session forensics ------------------------------------------------------------------


def graph_spec(at: AppTest) -> str:
    charts = at.get("graphviz_chart")
    assert charts, "no provenance graph"
    return str(charts[0].proto.spec)


def test_session_forensics_draws_the_provenance_chain() -> None:
    at = open_page("session", session=DEMO_SESSION)
    spec = graph_spec(at)
    assert DEMO_EMAIL in spec
    assert "send_email" in spec
    assert "NOT APPROVED" in spec
    assert any("send_email ran without approval" in e for e in texts(at.error))
    timeline = at.dataframe[0].value
    assert timeline["kind"].tolist() == ["model call", "tool call", "model call", "tool call"]
    assert timeline["what"].tolist()[1::2] == ["read_inbox", "send_email"]


def test_session_forensics_by_trace() -> None:
    at = open_page("session", trace=DEMO_TRACE)
    assert "send_email" in graph_spec(at)


def test_session_forensics_unknown_session() -> None:
    at = open_page("session", session="no-such-session'--")
    assert any("No tool calls recorded" in w for w in texts(at.warning))
    assert not at.get("graphviz_chart")


def test_session_forensics_without_an_id() -> None:
    at = open_page("session")
    assert any("Enter a session id" in i for i in texts(at.info))


# --- Agent profile and blast radius -----------------------------------------------------


def test_agent_profile() -> None:
    at = open_page("agent", agent=DEMO_AGENT)
    assert not at.error
    frames = [f.value for f in at.dataframe]
    mix = frames[0]
    assert set(mix["tool_name"]) == {"read_inbox", "send_email"}
    assert any("email:outbound/attacker@evil.example" in set(f.get("resource", [])) for f in frames)


def test_agent_profile_unknown_agent_shows_empty_states() -> None:
    at = open_page("agent", agent="ghost-agent")
    assert any("No tool calls for this agent" in i for i in texts(at.info))


def test_blast_radius_judges_scopes_with_the_vocabularies() -> None:
    """No catalog is registered here: the page says so, and infers exercised scopes with
    the scope vocabularies, which know none of the seeded agent's ``email.*`` scopes."""
    at = open_page("blast_radius", agent=DEMO_AGENT)
    assert any("No catalog is configured" in i for i in texts(at.info))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Scopes presented"] == "3"
    assert metrics["Unknown scopes"] == "3"
    assert any("contacts.read" in i and "No scope vocabulary knows" in i for i in texts(at.info))
    assert set(at.dataframe[0].value["tool"]) == {"read_inbox", "send_email"}
    credentials = at.dataframe[2].value
    assert credentials["credential_id"].tolist() == ["cred-mail-7f3a"]


# --- Revoke -----------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any], str]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, body, self.headers.get("Authorization", "")))
        payload = json.dumps({"id": "rev-1", "status": "pending"}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def admin_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any], str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AGENTAUDIT_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", "responder-token")
    yield _Recorder.received
    server.shutdown()
    server.server_close()


def fill_revoke(at: AppTest, target_id: str, reason: str, confirm: bool) -> AppTest:
    at.text_input[0].input(target_id)
    at.text_area[0].input(reason)
    if confirm:
        at.checkbox[0].check()
    at.button[0].click()
    return at.run()


def test_revoke_posts_to_the_admin_api(admin_api: list[Any]) -> None:
    at = open_page("revoke", target="agent", id=DEMO_AGENT)
    at = fill_revoke(at, DEMO_AGENT, "sent mail to an attacker after reading msg-42", True)
    assert any("requested" in s and "pending" in s for s in texts(at.success)), texts(at.error)
    assert admin_api == [
        (
            "/v1/revocations",
            {
                "target": "agent",
                "id": DEMO_AGENT,
                "reason": "sent mail to an attacker after reading msg-42",
                "requested_by": "rita",
            },
            "Bearer responder-token",
        )
    ]


def test_revoke_needs_confirmation_and_a_reason(admin_api: list[Any]) -> None:
    at = fill_revoke(open_page("revoke"), DEMO_AGENT, "because", False)
    assert any("confirmation" in e for e in texts(at.error))
    at = fill_revoke(open_page("revoke"), DEMO_AGENT, "   ", True)
    assert any("reason" in e for e in texts(at.error))
    at = fill_revoke(open_page("revoke"), "", "a reason", True)
    assert any("give the agent id" in e for e in texts(at.error))
    assert admin_api == []


def test_revoke_reports_an_unreachable_api(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AGENTAUDIT_API_URL", f"http://127.0.0.1:{port}")
    at = fill_revoke(open_page("revoke"), DEMO_AGENT, "a reason", True)
    assert any("unreachable" in e for e in texts(at.error))


def test_revoke_history_shows_recorded_revocations(seeded_store: Store) -> None:
    seeded_store.command(
        "INSERT INTO agentaudit.revocations (id, requested_at, updated_at, target, target_id, "
        "reason, requested_by, status) VALUES ('rev-h', now64(3), now64(3), 'agent', "
        "'old-agent', 'test history', 'rita', 'pending')"
    )
    at = open_page("revoke")
    history = at.dataframe[0].value
    assert "old-agent" in history["target_id"].tolist()


# --- SQL --------------------------------------------------------------------------------


def test_sql_console_runs_an_example() -> None:
    at = open_page("sql")
    at.button[0].click().run()
    assert not at.error
    result = at.dataframe[0].value
    assert result["session_id"].tolist() == [DEMO_SESSION]
    assert at.get("download_button")


def test_sql_console_refuses_writes() -> None:
    at = open_page("sql")
    at.text_area[0].input("DROP TABLE agentaudit.tool_calls")
    at.button[0].click().run()
    assert any("refused" in e for e in texts(at.error))
    at.text_area[0].input("SELEC nonsense")
    at.button[0].click().run()
    assert any("query failed" in e for e in texts(at.error))
    assert investigate_rows(open_page("investigate", agent=DEMO_AGENT)) == 2
