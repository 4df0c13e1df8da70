"""Scope vocabularies: what scopes allow, and the narrowest scope per action."""

from __future__ import annotations

import pytest

from agentaudit.catalog import load_vocabularies
from agentaudit.catalog.vocabulary import REACHES, VERBS, action_verb

VOCAB = load_vocabularies()


def test_every_provider_of_the_issue_is_shipped() -> None:
    assert set(VOCAB.providers) >= {"google", "microsoft", "github", "slack", "agentaudit"}


@pytest.mark.parametrize(
    ("provider", "action", "narrowest"),
    [
        ("google", "mail.send", "gmail.send"),
        ("google", "mail.read", "gmail.readonly"),
        ("google", "calendar.create", "calendar.events.owned"),
        ("google", "files.create", "drive.file"),
        ("microsoft", "mail.send", "Mail.Send"),
        ("microsoft", "calendar.create", "Calendars.ReadWrite"),
        ("microsoft", "files.read", "Files.Read"),
        ("github", "code.read", "contents:read"),
        ("github", "pulls.create", "pull_requests:write"),
        ("slack", "chat.send", "chat:write"),
        ("agentaudit", "mail.send", "mail.send"),
        ("agentaudit", "calendar.create", "calendar.write"),
    ],
)
def test_narrowest_scope_per_action(provider: str, action: str, narrowest: str) -> None:
    found = VOCAB.narrowest(action, provider)
    assert found is not None
    assert found.name == narrowest
    assert action in found.allows


def test_every_narrowest_entry_is_minimal_among_scopes_of_its_reach() -> None:
    """No scope of the same reach allows the action with strictly fewer actions."""
    for vocabulary in VOCAB:
        for action, name in vocabulary.narrowest.items():
            chosen = vocabulary.scopes[name]
            rivals = [
                s
                for s in vocabulary.allowing(action)
                if s.reach == chosen.reach and s.allows < chosen.allows
            ]
            assert not rivals, (vocabulary.id, action, name, [r.name for r in rivals])


def test_every_scope_names_known_verbs_and_reaches() -> None:
    for vocabulary in VOCAB:
        for scope in vocabulary.scopes.values():
            assert scope.reach in REACHES
            assert all(action_verb(a) in VERBS for a in scope.allows), scope


def test_google_scopes_resolve_short_or_in_full() -> None:
    short = VOCAB.resolve("calendar.events")
    full = VOCAB.resolve("https://www.googleapis.com/auth/calendar.events")
    assert short is not None
    assert short == full
    assert short.provider == "google"
    assert "calendar.delete" in short.allows  # "calendar.events allows delete"
    assert VOCAB.resolve("https://mail.google.com/") is not None


def test_graph_names_are_case_insensitive_only_when_the_provider_is_named() -> None:
    assert VOCAB.resolve("Mail.Send").provider == "microsoft"  # type: ignore[union-attr]
    assert VOCAB.resolve("mail.send").provider == "agentaudit"  # type: ignore[union-attr]
    assert VOCAB.resolve("mail.send", "microsoft").name == "Mail.Send"  # type: ignore[union-attr]
    assert VOCAB.resolve("Mail.ReadWrite").allows >= {"mail.delete"}  # type: ignore[union-attr]
    assert "mail.send" not in VOCAB.resolve("Mail.ReadWrite").allows  # type: ignore[union-attr]


def test_unknown_scopes_and_providers_resolve_to_nothing() -> None:
    assert VOCAB.resolve("made.up") is None
    assert VOCAB.resolve("gmail.send", "nobody") is None
    assert VOCAB.allows("made.up") is None


@pytest.mark.parametrize(
    ("tool", "scopes", "types", "actions"),
    [
        ("send_email", ["mail.read", "mail.send", "crm.read"], [], {"mail.send"}),
        ("read_inbox", ["mail.read", "mail.send", "crm.read"], ["mailbox"], {"mail.read"}),
        ("export_customers", ["crm.read", "crm.export"], ["crm"], {"crm.export"}),
        ("list_events", ["calendar.read", "calendar.write"], ["calendar"], {"calendar.read"}),
        ("createEvent", ["calendar.events"], [], {"calendar.create"}),
        ("post_message", ["chat:write", "channels:history"], [], {"chat.send"}),
        ("frobnicate", ["mail.send"], [], set()),
    ],
)
def test_actions_are_inferred_from_tool_names_and_scopes(
    tool: str, scopes: list[str], types: list[str], actions: set[str]
) -> None:
    assert set(VOCAB.infer_actions(tool, scopes, resource_types=types).actions) == actions


def test_exercised_is_the_narrowest_presented_scope_allowing_the_action() -> None:
    presented = ["calendar", "calendar.events", "calendar.events.owned"]
    assert VOCAB.exercised({"calendar.create"}, presented, "google") == ("calendar.events.owned",)
    assert VOCAB.exercised({"mail.send"}, ["mail.read", "mail.send"]) == ("mail.send",)
    assert VOCAB.exercised({"mail.send"}, ["mail.read"]) == ()
