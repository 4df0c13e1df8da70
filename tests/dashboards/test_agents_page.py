"""The Agents page and the Blast radius page over an identity-card catalog (AppTest).

One store: the dashboards' demo data with the detector's findings and the hostile
session, plus the demo agents' traffic as the catalog tests write it (the mail and
calendar assistants with the demo's credentials). The catalog comes from the registered
config: the shipped demo catalog, a hostile one, a broken one, or none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from agentaudit.catalog import SignoffLog, canonical_card, card_content, card_hash, load_catalog
from agentaudit.config import Config
from agentaudit.dashboards import register_config, register_store
from agentaudit.dashboards._markdown import visible
from agentaudit.dashboards._ui import USER_KEY
from agentaudit.dashboards.auth import RESPONDER, User, hash_password
from agentaudit.dashboards.server import APP_PATH
from agentaudit.store import Store
from tests.catalog._seed import demo_traffic, write
from tests.dashboards.markdown_reader import outside_code, rendered
from tests.dashboards.seed_store import DEMO_FINDING, HOSTILE_AGENT, HOSTILE_MARKUP, seed
from tests.dashboards.test_safe_rendering import assert_markup_is_inert, shown

TIMEOUT = 60
RITA = User("rita", RESPONDER)
DEMO_CATALOG = Path(__file__).resolve().parents[2] / "agentaudit" / "demo" / "catalog.toml"
EVIL = HOSTILE_MARKUP.replace("\n", " ")  # a catalog holds no control characters
EVIL_AGENT = "[click](https://evil.example/a)**bold**<img/src=x>:smile:"
EVIL_TOOL = "![x](https://evil.example/t.png)_:red[tool]"
EVIL_SCOPE = "![s](https://evil.example/s.png)"


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


HOSTILE_CATALOG = f"""\
[agents.{_toml(EVIL_AGENT)}]
owner = {_toml(EVIL)}
description = {_toml(EVIL)}
audit_destination = {_toml("https://evil.example/audit " + EVIL)}
revocation_path = {_toml(":material/home: " + EVIL)}

[agents.{_toml(EVIL_AGENT)}.tools.{_toml(EVIL_TOOL)}]
action = {_toml(EVIL)}
min_scopes = [{_toml(EVIL_SCOPE)}]
credential = {_toml(":material/home:")}
granted_scopes = [{_toml(EVIL_SCOPE)}, ":smile:"]
lifetime_s = 60
resource_argument = "**to**"
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.open(f"chdb://{tmp_path_factory.mktemp('agents-store')}")
    seed(store, hostile_rows=True, findings=True)
    write(store, demo_traffic())
    # The calendar assistant's card is signed as it is; the mail assistant's was signed
    # when it said something else (so it has drifted).
    demo = load_catalog(DEMO_CATALOG)
    log = SignoffLog(store)
    calendar = demo.agent("calendar-assistant")
    mail = demo.agent("mail-assistant")
    assert calendar is not None
    assert mail is not None
    log.record(
        "calendar-assistant",
        signed_by="Scheduling team",
        card_hash=card_hash(calendar),
        card=canonical_card(calendar),
        recorded_by="test",
    )
    older = dataclasses.replace(mail, description="Answers Bob's mail (old)")
    log.record(
        "mail-assistant",
        signed_by="Dana Reyes",
        card_hash=card_hash(older),
        card=canonical_card(older),
        recorded_by="test",
    )
    assert card_content(older) != card_content(mail)
    register_store(store)
    yield store
    register_store(None)
    store.close()


USERS = {"rita": {"role": RESPONDER, "password_hash": hash_password("rita-secret")}}


def use_catalog(path: Path | None) -> None:
    sections = {"dashboard": {"users": USERS}}
    register_config(Config(clickhouse_url="chdb:///unused", sections=sections, catalog=path))


@pytest.fixture(autouse=True)
def _config(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)
    use_catalog(DEMO_CATALOG)
    yield
    register_config(None)


@pytest.fixture
def hostile_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.toml"
    path.write_text(HOSTILE_CATALOG)
    load_catalog(path)  # it loads: the loader refuses only control characters
    return path


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = RITA
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements: Any) -> list[str]:
    return [rendered(str(e.value)) for e in elements]


def cells(at: AppTest) -> set[str]:
    """Every string the page's dataframes hold (plain text), list cells item by item."""
    out: set[str] = set()
    for frame in at.dataframe:
        for column in frame.value.columns:
            for cell in frame.value[column]:
                items = list(cell) if isinstance(cell, list | tuple | np.ndarray) else [cell]
                out.update(str(item) for item in items)
    return out


def row_of(at: AppTest, agent: str) -> dict[str, Any]:
    table = at.dataframe[0].value
    rows = table[table["agent"] == agent].to_dict("records")
    assert len(rows) == 1, table
    return dict(rows[0])


# -- the Agents page ----------------------------------------------------------------------


def test_the_agents_page_lists_every_agent_with_its_card_status() -> None:
    at = open_page("agents")
    assert "Agents" in texts(at.title)
    assert any("demo/catalog.toml" in c for c in texts(at.caption))
    table = at.dataframe[0].value
    # Catalogued, seen in the store, or both (the hostile agent's id included).
    assert {"mail-assistant", "calendar-assistant", "calendar-bot", "research-agent"} <= set(
        table["agent"]
    )
    assert HOSTILE_AGENT in set(table["agent"])
    mail = row_of(at, "mail-assistant")
    assert mail["owner"] == "Dana Reyes <dana@example.com>"
    assert mail["card"] == "drifted"  # signed when the card said something else
    assert set(mail["excess scopes"]) == {
        "mail.send (read_inbox)",
        "crm.read (read_inbox)",
        "mail.read (send_email)",
        "crm.read (send_email)",
    }
    assert mail["high problems"] >= 4
    assert mail["open findings"] == 1  # DEMO_FINDING
    assert row_of(at, "calendar-assistant")["card"] == "signed"
    assert row_of(at, "calendar-bot")["card"] == "none"
    assert row_of(at, "calendar-bot")["open findings"] == 0  # its finding was acknowledged
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Signed cards"] == "1"


def test_one_click_opens_an_agents_card() -> None:
    at = open_page("agents")
    (link,) = [
        p for p in at.get("page_link") if rendered(p.proto.label).startswith("mail-assistant:")
    ]
    problems = row_of(at, "mail-assistant")["problems"]
    assert rendered(link.proto.label) == (
        f"mail-assistant: card drifted · problems {problems} · open findings 1"
    )
    assert parse_qs(link.proto.query_string) == {"agent": ["mail-assistant"], "since": ["30d"]}
    at = open_page("agents", **{k: v[0] for k, v in parse_qs(link.proto.query_string).items()})
    assert texts(at.header) == ["Identity card"]
    body = "\n".join(texts(at.markdown))
    assert "Agent: mail-assistant" in body
    assert "Owner: Dana Reyes <dana@example.com>" in body
    assert "Revocation path: Quarantine: POST /v1/revocations" in body
    tools = at.dataframe[0].value
    assert tools["tool"].tolist() == ["read_inbox", "send_email"]
    assert list(tools.set_index("tool").loc["send_email", "excess"]) == ["mail.read", "crm.read"]
    problems = at.dataframe[1].value
    assert "excess_scope" in set(problems["problem"])
    assert "unlisted_tool" in set(problems["problem"])  # export_customers, called
    assert any("Drifted since the sign-off by" in e for e in texts(at.error))
    findings = [p for p in at.get("page_link") if "finding" in p.proto.query_string]
    assert [parse_qs(p.proto.query_string)["finding"] for p in findings] == [[DEMO_FINDING]]
    assert '"revocation_path"' in at.get("json")[0].proto.body
    assert [b.label for b in at.get("download_button")] == [
        "Download JSON",
        "Download Markdown",
        "Download A2A AgentCard",
    ]


def test_a_signed_and_an_uncatalogued_card() -> None:
    at = open_page("agents", agent="calendar-assistant")
    assert any(s.startswith("Signed by Scheduling team at") for s in texts(at.success))
    at = open_page("agents", agent="calendar-bot")
    assert any("has no identity card in the catalog" in i for i in texts(at.info))
    problems = at.dataframe[-1].value
    assert problems["problem"].tolist() == ["unlisted_agent"]


def test_without_a_catalog_the_page_says_so_and_still_lists_agents() -> None:
    use_catalog(None)
    at = open_page("agents")
    assert any("No catalog is configured" in i for i in texts(at.info))
    table = at.dataframe[0].value
    assert set(table["card"]) == {"none"}
    assert "mail-assistant" in set(table["agent"])


def test_a_catalog_that_does_not_load_is_named_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[agents.mail-assistant]\nowner = 7\n")
    use_catalog(broken)
    at = open_page("agents")
    (error,) = [e for e in texts(at.error) if "does not load" in e]
    assert "broken.toml:2: agents.mail-assistant.owner: must be a string" in error


def test_a_bad_window_in_the_link_falls_back() -> None:
    at = open_page("agents", since="**1y**")
    assert any("Invalid window in the link" in e for e in texts(at.error))
    assert_markup_is_inert(at)


# -- hostile strings ------------------------------------------------------------------------


def test_hostile_catalog_and_agent_strings_are_shown_as_text(hostile_catalog: Path) -> None:
    use_catalog(hostile_catalog)
    at = open_page("agents")
    assert_markup_is_inert(at)
    agent = EVIL_AGENT.lower()  # the catalog's canonical id
    assert {agent, HOSTILE_AGENT} <= cells(at)
    assert EVIL in cells(at)  # the owner, in a plain-text cell
    (link,) = [p for p in at.get("page_link") if "evil.example/a" in p.proto.label]
    assert parse_qs(link.proto.query_string)["agent"] == [agent]
    assert "](" not in outside_code(link.proto.label)

    at = open_page("agents", agent=agent)
    assert_markup_is_inert(at)
    spans = shown(at)
    assert visible(agent) in spans
    assert EVIL in spans  # owner, description
    assert ":material/home: " + EVIL in spans  # the revocation path (its icon defused)
    assert {EVIL_TOOL, EVIL_SCOPE} <= cells(at)

    at = open_page("agents", agent=HOSTILE_AGENT)  # a store id that is not canonical
    assert_markup_is_inert(at)
    assert visible(HOSTILE_AGENT) in shown(at)


# -- the Blast radius page --------------------------------------------------------------------


def test_blast_radius_judges_each_tool_against_its_card() -> None:
    at = open_page("blast_radius", agent="calendar-assistant", window="24h")
    assert any("identity card in" in c for c in texts(at.caption))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Scopes granted (card)": "2",
        "Scopes exercised": "2",
        "Excess scopes": "2",
        "Presented, not on the card": "0",
    }
    (warning,) = texts(at.warning)
    assert "calendar.write on list_events: allows create, update, delete on calendar" in warning
    assert "calendar.read on create_event: allows read on calendar" in warning
    tools = at.dataframe[0].value.set_index("tool")
    assert list(tools.loc["list_events", "minimum"]) == ["calendar.read"]
    assert list(tools.loc["list_events", "exercised"]) == ["calendar.read"]
    assert list(tools.loc["create_event", "exercised"]) == ["calendar.write"]


def test_blast_radius_names_tools_and_scopes_off_the_card() -> None:
    at = open_page("blast_radius", agent="mail-assistant", window="24h")
    tools = at.dataframe[0].value.set_index("tool")
    assert list(tools.index) == ["read_inbox", "send_email", "export_customers"]
    assert not tools.loc["export_customers", "on card"]
    assert set(tools.loc["export_customers", "not on the card"]) == {"crm.read", "crm.export"}
    # The dashboards' seeded mail assistant presents email.* scopes its card does not grant.
    (error,) = texts(at.error)
    assert "email.read on read_inbox" in error
    assert any("No scope vocabulary knows" in i for i in texts(at.info))


def test_blast_radius_without_a_catalog_says_so() -> None:
    use_catalog(None)
    at = open_page("blast_radius", agent="calendar-assistant", window="24h")
    assert any("No catalog is configured" in i for i in texts(at.info))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Scopes presented": "2",
        "Scopes exercised": "2",
        "Excess scopes": "2",  # per tool: each holds the scope the other one exercises
        "Unknown scopes": "0",
    }
    (warning,) = texts(at.warning)
    assert warning.startswith("Presented, never exercised: ")
    assert "calendar.write on list_events: allows create, update, delete on calendar" in warning
    tools = at.dataframe[0].value
    assert tools["on card"].isna().all()


def test_blast_radius_for_an_agent_with_no_card() -> None:
    at = open_page("blast_radius", agent="research-agent", window="24h")
    assert any("has no identity card in the catalog" in w for w in texts(at.warning))
