"""Loading a catalog: every problem names the file, the line and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentaudit.catalog import CatalogError, load_catalog, parse_catalog
from agentaudit.catalog._toml_lines import key_lines
from agentaudit.errors import ConfigError, ExitCode
from tests.catalog._seed import DEMO_CATALOG


def problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "cat.toml")
    return [(where.line, where.key, message) for where, message in caught.value.problems]


def test_the_issue_example_loads_with_every_field() -> None:
    catalog = parse_catalog(DEMO_CATALOG, "demo.toml")
    agent = catalog.agent("Mail-Assistant")  # canonical ids: case does not matter
    assert agent is not None
    assert agent.name == "mail-assistant"
    assert agent.owner == "Dana Reyes <dana@example.com>"
    tool = agent.tool("send_email")
    assert tool is not None
    assert tool.min_scopes == ("mail.send",)
    assert tool.granted_scopes == ("mail.read", "mail.send", "crm.read")
    assert (tool.lifetime_s, tool.resource_argument, tool.credential) == (60, "to", "cred-mail-*")
    assert tool.credential_matches("cred-mail-7f3a")
    assert not tool.credential_matches("cred-crm-1")
    assert catalog.locate("mail-assistant", "send_email", "min_scopes").line == 17


def test_a_catalog_error_is_a_config_error_naming_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text('[agents.a]\nowner = "x"\n\n[agents.a.tools.t]\nlifetime = 60\n')
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.exit_code == ExitCode.CONFIG
    assert str(caught.value).startswith(f"catalog {path}:5: agents.a.tools.t.lifetime: unknown key")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('colour = "red"\n', (1, "colour", "unknown key")),
        ('[agents.a]\nowner = "x"\nbogus = 1\n', (3, "agents.a.bogus", "unknown key")),
        ("[agents.a]\nowner = 7\n", (2, "agents.a.owner", "must be a string")),
        (
            '[agents.a]\n[agents.a.tools.t]\nmin_scopes = "mail.send"\n',
            (3, "agents.a.tools.t.min_scopes", "must be a list of strings"),
        ),
        (
            '[agents.a.tools.t]\ngranted_scopes = ["a", "a"]\n',
            (2, "agents.a.tools.t.granted_scopes", "twice"),
        ),
        ("[agents.a.tools.t]\nlifetime_s = 0\n", (2, "agents.a.tools.t.lifetime_s", "> 0")),
        ("[agents.a.tools.t]\nlifetime_s = true\n", (2, "agents.a.tools.t.lifetime_s", "> 0")),
        (
            '[agents.a.tools.t]\nactions = ["send_email"]\n',
            (2, "agents.a.tools.t.actions", "AREA.VERB"),
        ),
        ('[agents."mаil"]\nowner = "x"\n', (1, 'agents."mаil"', "canonical agent id")),
        (
            '[agents.a]\nowner = "x"\n[agents.A]\nowner = "y"\n',
            (3, "agents.A", "same agent as [agents.a]"),
        ),
        (
            '[agents.a]\nowner = "Dana \\u202Eevil"\n',
            (2, "agents.a.owner", "U+202E"),
        ),
        (
            '[agents.a.tools.t]\nresource_argument = "two words"\n',
            (2, "agents.a.tools.t.resource_argument", "whitespace"),
        ),
        ("[agents.a]\nowner = \n", (2, "", "not valid TOML")),
    ],
)
def test_each_problem_names_its_line_and_key(text: str, expected: tuple[int, str, str]) -> None:
    found = problems(text)
    line, key, words = expected
    assert any(n == line and k == key and words in m for n, k, m in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems("[agents.a]\nowner = 1\nx = 2\n[agents.a.tools.t]\ny = 3\n")
    assert [(line, key) for line, key, _ in found] == [
        (2, "agents.a.owner"),
        (3, "agents.a.x"),
        (5, "agents.a.tools.t.y"),
    ]


def test_lines_survive_multiline_values_quoted_keys_and_dotted_keys() -> None:
    text = '''\
# a comment with [agents.fake] and owner = "x"
[agents.a]
description = """
[agents.b]
owner = "not a key"
"""
granted = 1
tools.t.min_scopes = [
  "mail.send",  # ] a bracket in a comment
  "mail.read",
]
"tools"."quoted key".bogus = 2
[agents.a.tools.u]
min_scopes = ['literal]', "basic\\"]"]
nope = 3
'''
    found = problems(text)
    assert (7, "agents.a.granted") in [(line, key) for line, key, _ in found]
    assert (12, 'agents.a.tools."quoted key".bogus') in [(line, key) for line, key, _ in found]
    assert (15, "agents.a.tools.u.nope") in [(line, key) for line, key, _ in found]
    lines = key_lines(text)
    assert lines.line("agents", "a", "tools", "t", "min_scopes") == 8
    assert lines.line("agents", "b") == 2  # inside a string: not a table; its parent's line


def test_an_inline_table_key_resolves_to_its_holder() -> None:
    text = "[agents.a]\ntools = { t = { bogus = 1 } }\n"
    assert problems(text) == [(2, "agents.a.tools.t.bogus", problems(text)[0][2])]


def test_unreadable_and_non_utf8_files_are_catalog_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the catalog"):
        load_catalog(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[agents.a]\nowner = "\xff"\n')
    with pytest.raises(CatalogError, match=r"bad.toml:2: is not UTF-8"):
        load_catalog(bad)
