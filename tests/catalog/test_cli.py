"""``agentaudit lint``, ``card`` and ``catalog suggest`` as real subprocesses.

Exit codes (0 clean, 1 a high problem, 2 a catalog error), the three lint formats (SARIF
checked against the structure of SARIF 2.1.0), the card's formats on a store seeded
through the writer, a sign-off written directly into the store, and a suggested catalog
that lints without an unlisted tool.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.catalog._seed import DEMO_CATALOG, demo_traffic, write

CLEAN = (
    DEMO_CATALOG.replace(
        'granted_scopes = ["mail.read", "mail.send", "crm.read"]\nlifetime_s = 60\n'
        'resource_argument = "folder"',
        'granted_scopes = ["mail.read"]\nlifetime_s = 60\nresource_argument = "folder"',
    )
    .replace(
        'granted_scopes = ["mail.read", "mail.send", "crm.read"]\nlifetime_s = 60\n'
        'resource_argument = "to"',
        'granted_scopes = ["mail.send"]\nlifetime_s = 60\nresource_argument = "to"',
    )
    .replace('granted_scopes = ["crm.read", "crm.export"]', 'granted_scopes = ["crm.export"]')
)
CLEAN = CLEAN[: CLEAN.index("[agents.calendar-assistant]")]

# The parts of the SARIF 2.1.0 schema a code-scanning UI relies on (the OASIS schema's
# required properties and types for log, run, tool, result, location, region).
SARIF_SHAPE: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "rules": {
                                        "type": "array",
                                        "items": {"type": "object", "required": ["id"]},
                                    }
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message", "ruleId", "level", "locations"],
                            "properties": {
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {"type": "object", "required": ["text"]},
                                "ruleIndex": {"type": "integer", "minimum": 0},
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation", "region"],
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "required": ["uri"],
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "required": ["startLine"],
                                                        "properties": {
                                                            "startLine": {
                                                                "type": "integer",
                                                                "minimum": 1,
                                                            }
                                                        },
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def agentaudit(
    python: str, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "agentaudit", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def run(python: str, subprocess_env: dict[str, str], tmp_path: Path) -> Any:
    return lambda *args: agentaudit(python, subprocess_env, tmp_path, *args)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A store directory holding the demo's calls (closed: the CLI opens it)."""
    directory = tmp_path / "store"
    with Store.open(embedded_dsn(directory)) as store:
        apply_migrations(store)
        write(store, demo_traffic())
    return directory


def test_lint_exits_1_on_a_high_problem_and_0_when_clean(run: Any, tmp_path: Path) -> None:
    (tmp_path / "demo.toml").write_text(DEMO_CATALOG)
    (tmp_path / "clean.toml").write_text(CLEAN)
    bad = run("lint", "--catalog", "demo.toml")
    assert bad.returncode == 1, bad.stderr
    assert (
        "high   excess_scope        mail-assistant/send_email: `mail.read` allows read"
        in bad.stdout
    )
    assert "[demo.toml:" in bad.stdout
    good = run("lint", "--catalog", "clean.toml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.strip() == "no problems"


def test_lint_json_is_a_list_of_the_five_keys(run: Any, tmp_path: Path) -> None:
    (tmp_path / "demo.toml").write_text(DEMO_CATALOG)
    done = run("lint", "--catalog", "demo.toml", "--format", "json")
    assert done.returncode == 1
    problems = json.loads(done.stdout)
    assert problems
    assert all(set(p) == {"agent", "tool", "problem", "detail", "severity"} for p in problems)
    assert {"agent": "mail-assistant", "tool": "send_email", "problem": "excess_scope",
            "detail": "`mail.read` allows read; `send_email` (mail.send) needs `mail.send`",
            "severity": "high"} in problems  # fmt: skip


def test_lint_sarif_locates_results_at_the_catalog_line(run: Any, tmp_path: Path) -> None:
    (tmp_path / "demo.toml").write_text(DEMO_CATALOG)
    done = run("lint", "--catalog", "demo.toml", "--format", "sarif")
    assert done.returncode == 1
    log = json.loads(done.stdout)
    jsonschema.validate(log, SARIF_SHAPE, format_checker=jsonschema.FormatChecker())
    (run_,) = log["runs"]
    rules = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    result = next(
        r
        for r in run_["results"]
        if "`mail.read` allows read; `send_email`" in r["message"]["text"]
    )
    assert result["level"] == "error"
    assert rules[result["ruleIndex"]] == result["ruleId"]
    (location,) = result["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "demo.toml"  # repository-relative
    line = physical["region"]["startLine"]
    assert DEMO_CATALOG.splitlines()[line - 1].startswith("granted_scopes")
    assert location["logicalLocations"][0]["fullyQualifiedName"] == (
        "agents.mail-assistant.tools.send_email.granted_scopes"
    )


def test_a_bad_catalog_exits_2_naming_file_line_and_key(run: Any, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[agents.a]\nowner = "x"\nowners = "y"\n')
    done = run("lint", "--catalog", "bad.toml")
    assert done.returncode == 2
    assert "bad.toml:3: agents.a.owners: unknown key" in done.stderr
    assert "Traceback" not in done.stderr
    missing = run("lint")
    assert missing.returncode == 2
    assert "no catalog" in missing.stderr


def test_the_catalog_comes_from_the_environment(
    run: Any, tmp_path: Path, subprocess_env: dict[str, str], python: str
) -> None:
    (tmp_path / "clean.toml").write_text(CLEAN)
    env = {**subprocess_env, "AGENTAUDIT_CATALOG": str(tmp_path / "clean.toml")}
    assert agentaudit(python, env, tmp_path, "lint").returncode == 0


def test_lint_with_a_store_checks_observed_use(run: Any, tmp_path: Path, seeded: Path) -> None:
    (tmp_path / "clean.toml").write_text(CLEAN)
    done = run("lint", "--catalog", "clean.toml", "--store", str(seeded), "--format", "json")
    assert done.returncode == 1, done.stderr
    kinds = {(p["agent"], p["tool"], p["problem"]) for p in json.loads(done.stdout)}
    assert ("mail-assistant", "send_email", "scope_not_allowed") in kinds  # the real credential
    assert ("calendar-assistant", "", "unlisted_agent") in kinds


def test_card_formats_and_a_direct_sign_off(run: Any, tmp_path: Path, seeded: Path) -> None:
    (tmp_path / "demo.toml").write_text(DEMO_CATALOG)
    where = ("--catalog", "demo.toml", "--store", str(seeded))
    markdown = run("card", "mail-assistant", *where)
    assert markdown.returncode == 0, markdown.stderr
    assert "# Identity card: `mail-assistant`" in markdown.stdout
    assert "**Status:** UNSIGNED" in markdown.stdout
    assert "`POST /v1/revocations (responder token); broker deny-list`" in markdown.stdout
    card = json.loads(run("card", "mail-assistant", *where, "--format", "json").stdout)
    assert card["owner"] == "Dana Reyes <dana@example.com>"
    assert card["status"] == "unsigned"
    a2a = json.loads(run("card", "mail-assistant", *where, "--format", "a2a").stdout)
    assert a2a["name"] == "mail-assistant"
    assert a2a["capabilities"]["extensions"][0]["params"]["card_hash"] == card["card_hash"]
    signed = run("card", "sign", "mail-assistant", "--by", "Dana Reyes", *where)
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["card_hash"] == card["card_hash"]
    after = json.loads(run("card", "mail-assistant", *where, "--format", "json").stdout)
    assert (after["status"], after["signed_by"]) == ("signed", "Dana Reyes")
    nobody = run("card", "sign", "nobody", "--by", "x", *where)
    assert nobody.returncode == 2
    assert "not in the catalog" in nobody.stderr
    unknown = json.loads(run("card", "nobody", *where, "--format", "json").stdout)
    assert unknown["status"] == "none"


def test_suggest_writes_a_draft_that_lints_without_unlisted_tools(
    run: Any, tmp_path: Path, seeded: Path
) -> None:
    done = run("catalog", "suggest", "--store", str(seeded), "--output", "draft.toml")
    assert done.returncode == 0, done.stderr
    again = run("catalog", "suggest", "--store", str(seeded), "--output", "draft.toml")
    assert again.returncode == 2
    assert "--force" in again.stderr
    linted = run("lint", "--catalog", "draft.toml", "--store", str(seeded), "--format", "json")
    assert linted.returncode == 1  # the mail assistant's credential bug, and the owner TODOs
    problems = {p["problem"] for p in json.loads(linted.stdout)}
    assert "unlisted_tool" not in problems
    assert "unlisted_agent" not in problems
    assert {"excess_scope", "missing_owner"} <= problems
    only = run("catalog", "suggest", "--store", str(seeded), "--agent", "calendar-assistant")
    assert "[agents.calendar-assistant]" in only.stdout
    assert "mail-assistant" not in only.stdout
