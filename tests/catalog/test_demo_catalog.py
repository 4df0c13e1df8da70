"""The catalog ``agentaudit up --demo`` ships (agentaudit/demo/catalog.toml).

It tells the truth about the demo (agentaudit/demo/data.py): each tool's credential
and granted scopes are the ones the demo's agents present, and the mail assistant's
card leaves out ``export_customers``, the tool the injected email makes it call. Its
bug is the seed's: ``agentaudit lint`` (a real subprocess) names the mail assistant's
credential wider than ``send_email`` and exits 1; ``agentaudit card`` prints the whole
join document with the owner and the revocation path.
"""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path

from agentaudit.catalog import load_catalog
from agentaudit.config import embedded_dsn
from agentaudit.demo import data
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.catalog._seed import demo_traffic, write

CATALOG = Path(str(resources.files("agentaudit.demo") / "catalog.toml"))
REPO = Path(__file__).resolve().parents[2]


def agentaudit(
    python: str, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "agentaudit", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False,
    )  # fmt: skip


def test_the_demo_catalog_is_package_data_and_tells_the_truth_about_the_demo() -> None:
    assert CATALOG == REPO / "agentaudit" / "demo" / "catalog.toml"
    catalog = load_catalog(CATALOG)
    assert catalog.agent_names == (data.INCIDENT_AGENT, data.CALENDAR_AGENT)
    mail, calendar = (catalog.agent(name) for name in catalog.agent_names)
    assert mail is not None
    assert calendar is not None
    for agent, tools, credential in (
        (mail, ("read_inbox", "send_email"), data.MAIL_CREDENTIAL),
        (calendar, ("list_events", "create_event"), data.CALENDAR_CREDENTIAL),
    ):
        assert agent.owner
        assert agent.revocation_path
        assert agent.audit_destination
        assert agent.tool_names == tools
        for tool in agent.tools:
            assert tool.credential_matches(credential["id"])
            assert tool.granted_scopes == tuple(credential["scopes"])
            assert tool.min_scopes
            assert set(tool.min_scopes) < set(tool.granted_scopes)  # wider than the action
            assert tool.resource_argument
    assert mail.tool("export_customers") is None  # the incident's call is off the card


def test_lint_names_the_mail_assistants_wider_credential_and_exits_1(
    python: str, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    table = agentaudit(python, subprocess_env, tmp_path, "lint", "--catalog", str(CATALOG))
    assert table.returncode == 1, table.stderr
    assert (
        "high   excess_scope        mail-assistant/send_email: `mail.read` allows read; "
        "`send_email` (mail.send) needs `mail.send`"
    ) in table.stdout
    as_json = agentaudit(
        python, subprocess_env, tmp_path, "lint", "--catalog", str(CATALOG), "--format", "json"
    )
    assert as_json.returncode == 1
    problems = json.loads(as_json.stdout)
    mail = {
        (p["tool"], p["problem"], p["severity"]) for p in problems if p["agent"] == "mail-assistant"
    }
    assert ("send_email", "excess_scope", "high") in mail
    assert ("read_inbox", "excess_scope", "high") in mail


def test_card_prints_the_whole_join_document(
    python: str, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    with Store.open(embedded_dsn(store)) as opened:
        apply_migrations(opened)
        write(opened, demo_traffic())
    args = ("card", "mail-assistant", "--catalog", str(CATALOG), "--store", str(store))
    shown = agentaudit(python, subprocess_env, tmp_path, *args)
    assert shown.returncode == 0, shown.stderr
    assert "| Owner | `Dana Reyes <dana@example.com>` |" in shown.stdout
    assert "| Revocation path | `Quarantine: POST /v1/revocations" in shown.stdout
    assert "**Status:** UNSIGNED" in shown.stdout
    card = json.loads(
        agentaudit(python, subprocess_env, tmp_path, *args, "--format", "json").stdout
    )
    assert card["owner"] == "Dana Reyes <dana@example.com>"
    assert card["revocation_path"].startswith("Quarantine: POST /v1/revocations")
    assert card["audit_destination"]
    send = next(t for t in card["tools"] if t["name"] == "send_email")
    assert send["min_scopes"] == ["mail.send"]
    assert send["granted_scopes"] == ["mail.read", "mail.send", "crm.read"]
    assert send["exercised_scopes"] == ["mail.send"]
    assert {"unlisted_tool", "excess_scope"} <= {p["problem"] for p in card["problems"]}
