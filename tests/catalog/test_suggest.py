"""``catalog suggest``: a draft from a real store, which loads and lists every tool seen."""

from __future__ import annotations

import sys

from agentaudit.catalog import (
    StoreSource,
    lint_catalog,
    observe,
    parse_catalog,
    registry_owners,
    suggest_catalog,
)
from agentaudit.store import Store
from tests.catalog._seed import call, demo_traffic, write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_suggest_then_lint_lists_every_tool_seen(store: Store) -> None:
    write(store, demo_traffic())
    observations = observe(StoreSource(store), since_ns=0)
    draft = suggest_catalog(observations)
    catalog = parse_catalog(draft, "draft.toml")
    problems = lint_catalog(catalog, observations=observations)
    assert not [p for p in problems if p.problem in ("unlisted_tool", "unlisted_agent")]
    # what only a person can decide is left for lint to flag
    assert {("mail-assistant", "missing_owner"), ("calendar-assistant", "missing_owner")} <= {
        (p.agent, p.problem) for p in problems
    }
    send = catalog.agent("mail-assistant").tool("send_email")  # type: ignore[union-attr]
    assert send is not None
    assert send.min_scopes == ("mail.send",)  # the narrowest for the inferred action
    assert set(send.granted_scopes or ()) == {"mail.read", "mail.send", "crm.read"}
    assert (send.credential, send.lifetime_s, send.resource_argument) == (
        "cred-mail-7f3a",
        60,
        "to",
    )
    assert send.actions == ("mail.send",)
    inbox = catalog.agent("mail-assistant").tool("read_inbox")  # type: ignore[union-attr]
    assert inbox is not None
    assert inbox.resource_argument == "folder"
    events = catalog.agent("calendar-assistant").tool("create_event")  # type: ignore[union-attr]
    assert events is not None
    assert events.min_scopes == ("calendar.write",)
    assert "# exercised: calendar.write (2 call(s))" in draft
    assert "# resource types touched: calendar" in draft
    # so the draft's credential bug is named on the first lint, before anyone signs it
    assert ("excess_scope", "high") in {(p.problem, p.severity) for p in problems}


def test_suggest_narrows_a_google_scope_and_patterns_credentials(store: Store) -> None:
    spans = [
        call("planner", "create_event", scopes=["calendar.events"], credential=f"jit-{n:04d}",
             lifetime_s=300, arguments={"calendar": "primary"}, resources=["calendar:primary"])
        for n in range(3)
    ]  # fmt: skip
    write(store, spans)
    draft = suggest_catalog(observe(StoreSource(store), since_ns=0))
    tool = parse_catalog(draft).agent("planner").tool("create_event")  # type: ignore[union-attr]
    assert tool is not None
    assert tool.min_scopes == ("calendar.events.owned",)
    assert tool.granted_scopes == ("calendar.events",)
    assert (tool.credential, tool.lifetime_s, tool.resource_argument) == (
        "jit-000*",
        300,
        "calendar",
    )


def test_registry_owners_are_offered_in_comments(store: Store) -> None:
    write(store, [call("mail-assistant", "send_email", scopes=["mail.send"])])
    store.command(
        "INSERT INTO agentaudit.agents (name, updated_at, state, owner) VALUES "
        "('mail-assistant', now64(6), 'active', 'secops')"
    )
    source = StoreSource(store)
    draft = suggest_catalog(observe(source, since_ns=0), registry_owners=registry_owners(source))
    assert "TODO: the agent registry says 'secops'" in draft
    assert parse_catalog(draft).agent("mail-assistant").owner == ""  # type: ignore[union-attr]


def test_a_registered_tool_server_is_not_an_agent_of_the_catalog(store: Store) -> None:
    # Registered first as an agent, then made a tool server (the newest version wins).
    store.command(
        "INSERT INTO agentaudit.agents (name, updated_at, state, owner, kind) VALUES "
        "('calendar-mcp', now64(6) - 1, 'active', 'platform', 'agent'), "
        "('calendar-mcp', now64(6), 'active', 'platform', 'tool_server'), "
        "('mail-assistant', now64(6), 'active', 'secops', 'agent')"
    )
    assert registry_owners(StoreSource(store)) == {"mail-assistant": "secops"}


def test_hostile_observed_names_cannot_inject_toml(store: Store) -> None:
    names = [
        'x"]\n[agents.evil]\nowner = "me',
        "tool\u202e",
        'quote"and\\backslash',
        "# not a comment",
        "[agents.fake]",
    ]
    write(store, [call("mail-assistant", n, scopes=["mail.send"], arguments={n: n}) for n in names])
    write(store, [call("ok\nagent", "t", scopes=["a\nb"])])
    observations = observe(StoreSource(store), since_ns=0)
    draft = suggest_catalog(observations)
    data = tomllib.loads(draft)
    assert set(data["agents"]) == {"mail-assistant"}
    tools = set(data["agents"]["mail-assistant"]["tools"])
    assert tools == {'quote"and\\backslash', "# not a comment", "[agents.fake]"}
    catalog = parse_catalog(draft)
    unlisted = {
        p.tool
        for p in lint_catalog(catalog, observations=observations)
        if p.problem == "unlisted_tool"
    }
    assert unlisted == {
        'x"]\n[agents.evil]\nowner = "me',
        "tool\u202e",
    }  # refused, so still flagged
    assert "left out (cannot have a card)" in draft
