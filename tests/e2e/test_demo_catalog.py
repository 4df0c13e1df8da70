"""End to end: ``agentaudit up --demo`` enforces the demo's identity cards.

A real ``up --demo`` process with no catalog configured: it says which catalog is in
force (``agentaudit/demo/catalog.toml``), its detector raises ``off_card`` for the
injected email's ``export_customers`` call (a tool the mail assistant's card does not
list), and its broker, through the running admin API, mints the card's minimum and
refuses a scope beyond it and any scope for a tool not on the agent's card.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._procs import Running, agentaudit_up, cli, wait_for

pytestmark = pytest.mark.e2e

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "agentaudit" / "demo" / "catalog.toml"


def _rows(up: Running, sql: str) -> list[dict[str, Any]]:
    done = cli("sql", sql, "--api", up.api, "--format", "json", env=up.responder_env)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _mint(
    up: Running, agent: str, tool: str, scopes: list[str] | None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {
        "user": "alice",
        "agent": agent,
        "tool": tool,
        "resource": "r:1",
    }
    if scopes is not None:
        body["scopes"] = scopes
    request = urllib.request.Request(
        f"{up.api}/v1/credentials",
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {up.agent_env['AGENTAUDIT_TOKEN']}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(reply.status), dict(json.load(reply))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read()))


def test_up_demo_enforces_the_demo_catalog(tmp_path: Path) -> None:
    with agentaudit_up(tmp_path, "--demo") as up:
        findings = wait_for(
            lambda: _rows(
                up,
                "SELECT tool_name, severity, summary, evidence FROM agentaudit.findings "
                "WHERE agent_id = 'mail-assistant' AND rule = 'off_card' "
                "ORDER BY updated_at DESC LIMIT 1 BY finding_id",
            ),
            timeout=90,
            what="the off_card finding of the mail assistant",
        )
        (finding,) = findings  # one incident: the injected session's export
        assert finding["tool_name"] == "export_customers"
        assert finding["severity"] in ("high", "critical")
        assert finding["summary"].startswith(
            "mail-assistant called export_customers, a tool its identity card does not list "
            "(it lists read_inbox, send_email)"
        )
        evidence = json.loads(finding["evidence"])
        assert evidence["observed"]["reason"] == "unlisted_tool"
        assert evidence["baseline"]["catalog"] == str(DEMO_CATALOG)
        # The calendar assistant stays on its card: no off_card finding for it.
        assert (
            _rows(
                up,
                "SELECT count() AS n FROM agentaudit.findings "
                "WHERE rule = 'off_card' AND agent_id != 'mail-assistant'",
            )[0]["n"]
            == 0
        )

        # The broker mints from the same cards (the calendar assistant: the detector may
        # have quarantined the mail assistant by now, and a quarantine is refused first).
        status, reply = _mint(up, "calendar-assistant", "list_events", None)
        assert (status, reply["scopes"]) == (201, ["calendar.read"]), reply  # the minimum
        status, reply = _mint(up, "calendar-assistant", "list_events", ["calendar.write"])
        assert (status, reply["reason"]) == (403, "scope_not_allowed"), reply  # granted, not min
        status, reply = _mint(up, "calendar-assistant", "send_email", ["mail.send"])
        assert (status, reply["reason"]) == (403, "unknown_tool"), reply  # not on its card
        up.process.terminate()
        output, _ = up.process.communicate(timeout=60)
    assert f"catalog    {DEMO_CATALOG} (identity cards)" in output
