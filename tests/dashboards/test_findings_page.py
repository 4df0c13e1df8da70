"""The Findings page, the Overview's findings panel and the Agent profile's baseline.

A store of its own (``seed(..., findings=True)``: the demo incident with its open high
finding, an acknowledged and a low finding, the mail assistant's baseline in two
versions, a baseline still learning). Triage goes to the **real** admin API
(``build_admin_app`` with the revocation path and :func:`finding_routes` on a free
port) writing to the same store the page reads; an ASGI wrapper counts the requests
that reach it, so "sends nothing" is checked where it matters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.findings_api import finding_routes
from agentaudit.collector.admin.findings_log import EXCEPTIONS_SQL
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import Config
from agentaudit.dashboards import register_config, register_store
from agentaudit.dashboards._ui import USER_KEY
from agentaudit.dashboards.auth import RESPONDER, VIEWER, User, hash_password
from agentaudit.dashboards.server import APP_PATH
from agentaudit.detector.model import Finding
from agentaudit.store import Store
from tests.dashboards.markdown_reader import rendered
from tests.dashboards.seed_store import (
    ACKED_FINDING,
    DEMO_AGENT,
    DEMO_FINDING,
    DEMO_SESSION,
    DEMO_SUMMARY,
    LOW_FINDING,
    insert_finding,
    seed,
)

TIMEOUT = 60
ADMIN = "responder-token"
AGENT = "agent-token"
RITA = User("rita", RESPONDER)
VAL = User("val", VIEWER)


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
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.open(f"chdb://{tmp_path_factory.mktemp('findings-store')}")
    seed(store, findings=True)
    register_store(store)
    yield store
    register_store(None)
    store.close()


@pytest.fixture(scope="module")
def users(seeded_store: Store) -> Iterator[None]:
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
def path(seeded_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RevocationPath]:
    key_file: Path = tmp_path_factory.mktemp("findings-page") / "broker.pem"
    built = build_revocation_path(seeded_store, {}, default_key_file=key_file)
    yield built
    built.close()


@pytest.fixture(scope="module")
def api(seeded_store: Store, path: RevocationPath) -> Iterator[_Counting]:
    gate = path.gate(Authenticator(agent_token=AGENT, admin_token=ADMIN))
    app = _Counting(
        build_admin_app(
            seeded_store,
            gate=gate,
            extra_routes=[*path.routes(gate), *finding_routes(seeded_store, path.service, gate)],
        )
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


def texts(elements: Any) -> list[str]:
    return [rendered(str(e.value)) for e in elements]


def open_page(page: str, user: User = RITA, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = user
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def listed(at: AppTest) -> list[str]:
    """The finding ids in the page's list."""
    frame = next((d.value for d in at.dataframe if "finding_id" in d.value.columns), None)
    return [] if frame is None else frame["finding_id"].tolist()


def new_finding(store: Store, **fields: Any) -> Finding:
    suffix = uuid.uuid4().hex[:8]
    finding = Finding(
        **{
            "finding_id": f"f-page-{suffix}",
            "ts_ns": store.query("SELECT toUnixTimestamp64Nano(now64(9))").rows[0][0],
            "agent_id": f"agent-{suffix}",
            "rule": "fanout",
            "severity": "high",
            "score": 0.8,
            "summary": "sent to 200 recipients; never more than 3 before",
            "evidence": {"triggering_calls": [{"trace_id": "0af7651916cd43dd8448eb211c80319c"}]},
            **fields,
        }
    )
    insert_finding(store, finding)
    return finding


def triage_form(
    at: AppTest, finding_id: str, state: str, reason: str = "", *, confirm: bool = False
) -> AppTest:
    if reason:
        at.text_area(key=f"reason-{state}:{finding_id}").input(reason)
    if confirm:
        at.checkbox(key=f"confirm-escalate:{finding_id}").check()
    at.button(key=f"submit-{state}:{finding_id}").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def state_of(store: Store, finding_id: str) -> tuple[Any, ...]:
    return store.query(
        "SELECT state, triaged_by, triage_reason, revocation_id FROM agentaudit.findings "
        "WHERE finding_id = {id:String} ORDER BY updated_at DESC LIMIT 1",
        {"id": finding_id},
    ).rows[0]


# --- the list ---------------------------------------------------------------------------


def test_the_list_shows_open_findings_and_filters() -> None:
    at = open_page("findings")
    assert DEMO_FINDING in listed(at)
    assert LOW_FINDING in listed(at)
    assert ACKED_FINDING not in listed(at)  # its newest version is acknowledged
    frame = next(d.value for d in at.dataframe if "finding_id" in d.value.columns)
    row = frame[frame["finding_id"] == DEMO_FINDING].iloc[0]
    assert (row["severity"], row["agent_id"], row["rule"], row["action"]) == (
        "high",
        DEMO_AGENT,
        "new_resource",
        "alert",
    )
    assert row["summary"] == DEMO_SUMMARY

    assert listed(open_page("findings", severity="high")) == [DEMO_FINDING]
    assert listed(open_page("findings", state="acknowledged")) == [ACKED_FINDING]
    assert set(listed(open_page("findings", state="all"))) >= {
        DEMO_FINDING,
        ACKED_FINDING,
        LOW_FINDING,
    }
    assert listed(open_page("findings", agent="calendar-bot", state="all")) == [ACKED_FINDING]
    assert listed(open_page("findings", agent="nobody")) == []


def test_a_bad_filter_in_the_link_falls_back() -> None:
    at = open_page("findings", state="closed'; DROP TABLE x")
    assert any("Invalid state in the link" in e for e in texts(at.error))
    assert DEMO_FINDING in listed(at)


# --- one finding ------------------------------------------------------------------------


def test_a_finding_shows_its_evidence_and_its_calls_one_click_from_forensics() -> None:
    at = open_page("findings", finding=DEMO_FINDING)
    assert at.selectbox(key="finding-picker").value == DEMO_FINDING
    assert DEMO_SUMMARY in [t.value for t in at.text]
    evidence = [j.proto.body for j in at.get("json")]
    assert any("evil.example" in body and "untrusted_sources" in body for body in evidence)
    sessions = [
        p
        for p in at.get("page_link")
        if p.proto.page.endswith("session.py") or "session" in p.proto.page
    ]
    assert any(
        "send_email" in p.proto.label and p.proto.query_string == f"session={DEMO_SESSION}"
        for p in sessions
    ), [(p.proto.label, p.proto.query_string) for p in sessions]
    calls = next(d.value for d in at.dataframe if "span_id" in d.value.columns)
    assert calls["tool_name"].tolist() == ["send_email"]  # exactly the triggering call
    # The agent's other calls, by when they arrived: a backdated one is not left out.
    investigate = [p.proto for p in at.get("page_link") if "investigate" in p.proto.page]
    assert [p.query_string for p in investigate] == [
        f"agent={DEMO_AGENT}&window=24h&time=received"
    ], [(p.label, p.query_string) for p in investigate]


def test_an_unknown_finding_from_a_link_says_so() -> None:
    at = open_page("findings", finding="no-such-finding")
    assert any("No finding" in w and "no-such-finding" in w for w in texts(at.warning))


# --- triage -----------------------------------------------------------------------------


def test_acknowledge_through_the_admin_api(seeded_store: Store, api: _Counting) -> None:
    finding = new_finding(seeded_store)
    at = open_page("findings", finding=finding.finding_id)
    at = triage_form(at, finding.finding_id, "acknowledged", "looking into it")
    assert any("is now acknowledged (recorded by rita)" in s for s in texts(at.success)), texts(
        at.error
    )
    assert ("POST", f"/v1/findings/{finding.finding_id}/triage") in api.requests
    assert state_of(seeded_store, finding.finding_id) == (
        "acknowledged",
        "rita",
        "looking into it",
        "",
    )
    assert finding.finding_id not in listed(at)  # the list (open) is read uncached
    assert at.selectbox(key="finding-picker").value == finding.finding_id  # still open below

    at.button(key=f"submit-open:{finding.finding_id}").click().run()
    assert state_of(seeded_store, finding.finding_id)[0] == "open"
    assert finding.finding_id in listed(at)


def test_false_positive_needs_a_reason_and_sends_nothing_without(
    seeded_store: Store, api: _Counting
) -> None:
    finding = new_finding(seeded_store)
    before = len(api.requests)
    at = triage_form(
        open_page("findings", finding=finding.finding_id), finding.finding_id, "false_positive"
    )
    assert any("give a reason" in e for e in texts(at.error)), texts(at.error)
    assert len(api.requests) == before
    assert state_of(seeded_store, finding.finding_id)[0] == "open"

    at = triage_form(at, finding.finding_id, "false_positive", "a newsletter, sent monthly")
    assert any("is now false_positive" in s for s in texts(at.success)), texts(at.error)
    assert (finding.agent_id, finding.rule) in set(seeded_store.query(EXCEPTIONS_SQL).rows)


def test_escalate_needs_confirmation_then_revokes_the_agent(
    seeded_store: Store, api: _Counting, path: RevocationPath
) -> None:
    finding = new_finding(seeded_store)
    before = len(api.requests)
    at = open_page("findings", finding=finding.finding_id)
    at = triage_form(at, finding.finding_id, "escalated", "exfiltration")
    assert any("Tick the confirmation box" in e for e in texts(at.error))
    assert len(api.requests) == before
    assert not path.quarantine.is_quarantined(finding.agent_id)

    at = triage_form(at, finding.finding_id, "escalated", "exfiltration", confirm=True)
    assert any("is now escalated" in s for s in texts(at.success)), texts(at.error)
    assert any("status done" in s for s in texts(at.success))
    backends = next(d.value for d in at.dataframe if "backend" in d.value.columns)
    assert backends["ok"].all()
    assert any(f"Agent {finding.agent_id} is quarantined" in i for i in texts(at.info))
    assert path.quarantine.is_quarantined(finding.agent_id)
    state, who, reason, revocation = state_of(seeded_store, finding.finding_id)
    assert (state, who, reason) == ("escalated", "rita", "exfiltration")
    assert revocation
    # The page now says it is escalated and offers no second escalation.
    assert any(revocation in w for w in texts(at.warning))
    with pytest.raises(KeyError):
        at.button(key=f"submit-escalated:{finding.finding_id}")


def test_an_agent_token_is_refused_and_nothing_changes(
    seeded_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", AGENT)
    finding = new_finding(seeded_store)
    at = open_page("findings", finding=finding.finding_id)
    at = triage_form(at, finding.finding_id, "false_positive", "the agent says so")
    assert any("HTTP 403" in e and "AGENTAUDIT_ADMIN_TOKEN" in e for e in texts(at.error)), texts(
        at.error
    )
    assert state_of(seeded_store, finding.finding_id)[0] == "open"
    refused = seeded_store.query(
        "SELECT count() FROM agentaudit.revocations FINAL WHERE status = 'refused' "
        "AND target = 'finding'"
    ).rows[0][0]
    assert refused >= 1


def test_a_viewer_reads_but_cannot_triage(api: _Counting) -> None:
    before = len(api.requests)
    at = open_page("findings", VAL, finding=DEMO_FINDING)
    assert DEMO_FINDING in listed(at)
    assert at.get("json")  # the evidence
    assert any("Responders triage findings" in i for i in texts(at.info))
    assert not at.text_area
    assert not [b for b in at.button if b.key and b.key.startswith("submit-")]
    assert len(api.requests) == before


# --- Overview and Agent profile ---------------------------------------------------------


def test_the_overview_lists_open_findings_with_a_link_to_triage() -> None:
    at = open_page("overview")
    panel = next(d.value for d in at.dataframe if "triage" in d.value.columns)
    demo = panel[panel["agent_id"] == DEMO_AGENT].iloc[0]
    assert (demo["severity"], demo["summary"]) == ("high", DEMO_SUMMARY)
    assert demo["triage"] == f"./findings?finding={DEMO_FINDING}"
    assert panel["severity"].tolist()[0] in ("critical", "high")  # most severe first
    assert "calendar-bot" not in panel["agent_id"].tolist()  # acknowledged: not open
    assert any(p.proto.label == "Open the Findings page" for p in at.get("page_link"))
    chart = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert chart  # the activity chart (its marks: tests/e2e/test_browser.py)


def test_the_agent_profile_shows_the_newest_baseline_against_the_window() -> None:
    at = open_page("agent", agent=DEMO_AGENT)
    assert any("Learned from 1,240 calls" in s for s in texts(at.success)), texts(at.success)
    frames = [d.value for d in at.dataframe]
    tools = next(f for f in frames if list(f.columns) == ["tool_name", "baseline", "window", "new"])
    assert tools.set_index("tool_name")["baseline"].to_dict() == {
        "read_inbox": 820,
        "send_email": 400,
        "search_contacts": 20,
    }
    assert tools.set_index("tool_name")["window"].to_dict()["send_email"] == 1
    transitions = next(f for f in frames if "to_tool" in f.columns)
    row = transitions[
        (transitions["from_tool"] == "read_inbox") & (transitions["to_tool"] == "send_email")
    ].iloc[0]
    assert (row["baseline"], row["window"]) == (390, 1)
    types = next(f for f in frames if "resource_type" in f.columns)
    assert set(types["resource_type"]) == {"email"}
    fanout = next(f for f in frames if "figure" in f.columns and "tool_name" in f.columns)
    assert {"session_max", "per session (max)"} <= set(fanout["figure"])
    cadence = next(f for f in frames if list(f.columns) == ["figure", "baseline", "window"])
    assert cadence.set_index("figure").loc["busiest minute (calls)", "baseline"] == 6
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) >= 2  # tools and hours, baseline against window


def test_the_agent_profile_says_when_there_is_no_baseline_or_it_is_learning() -> None:
    at = open_page("agent", agent="calendar-bot")
    assert any("No baseline yet" in i for i in texts(at.info))
    at = open_page("agent", agent="research-agent")
    assert any(i.startswith("Still learning: 12 calls") for i in texts(at.info)), texts(at.info)
