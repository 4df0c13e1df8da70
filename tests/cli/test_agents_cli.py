"""``agentaudit agents``: registering agents and tool servers on a store no process holds.

In-process through :func:`agentaudit.cli.main` with ``--store`` (the direct path: the
registry is opened on the store itself, as an operator does before the first start).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentaudit.cli import main

pytestmark = pytest.mark.usefixtures("clean_env")


def _listed(capsys: pytest.CaptureFixture[str], store: str) -> dict[str, str]:
    assert main(["agents", "list", "--store", store, "--format", "json"]) == 0
    return {a["name"]: a["kind"] for a in json.loads(capsys.readouterr().out)}


def test_a_tool_server_is_registered_and_keeps_its_kind_on_rotation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")
    add = ["agents", "add", "calendar-mcp", "--owner", "platform", "--store", store]
    assert main([*add, "--tool-server"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("aa_agent_")  # the token alone on stdout, for a secret store
    assert "tool server calendar-mcp registered (owner platform)" in err
    assert main(["agents", "add", "mail-assistant", "--owner", "secops", "--store", store]) == 0
    assert "agent mail-assistant registered" in capsys.readouterr().err
    assert _listed(capsys, store) == {"calendar-mcp": "tool_server", "mail-assistant": "agent"}
    assert main([*add, "--rotate"]) == 0  # a new token; still a tool server
    capsys.readouterr()
    assert _listed(capsys, store)["calendar-mcp"] == "tool_server"
    assert main(["agents", "list", "--store", store]) == 0
    table = capsys.readouterr().out
    assert "calendar-mcp" in table
    assert "tool_server active" in table


def test_an_agent_becomes_a_tool_server_with_rotate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")
    add = ["agents", "add", "legacy-mcp", "--owner", "platform", "--store", store]
    assert main(add) == 0
    assert main([*add, "--tool-server"]) == 2  # registered already: rotate to change it
    assert "rotate its token with --rotate" in capsys.readouterr().err
    assert main([*add, "--tool-server", "--rotate"]) == 0
    capsys.readouterr()
    assert _listed(capsys, store) == {"legacy-mcp": "tool_server"}


def test_the_help_explains_a_tool_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["agents", "add", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--tool-server" in text
    assert "name their callers" in text
    assert "gets no credentials" in text
