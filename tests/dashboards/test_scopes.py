"""The blast radius per tool, judged with the vocabularies and the identity card."""

from __future__ import annotations

from agentaudit.catalog import ToolUse, load_vocabularies, parse_catalog
from agentaudit.catalog.observed import ScopeUse
from agentaudit.dashboards.scopes import allows_text, blast_radius, excess_lines

VOCAB = load_vocabularies()
WIDE = ("mail.read", "mail.send", "crm.read")
CARD = parse_catalog(
    """\
[agents.mail-assistant.tools.send_email]
min_scopes = ["mail.send"]
granted_scopes = ["mail.read", "mail.send", "crm.read"]

[agents.mail-assistant.tools.read_inbox]
min_scopes = ["mail.read"]
granted_scopes = ["mail.read"]
"""
).agent("mail-assistant")


def use(tool: str, scopes: tuple[str, ...], types: tuple[str, ...], calls: int = 2) -> ToolUse:
    return ToolUse("mail-assistant", tool, calls, 0, 0, (ScopeUse(scopes, types, calls, calls),))


def test_with_a_card_excess_is_granted_beyond_the_minimum_whether_exercised_or_not() -> None:
    radius = {
        r.tool: r
        for r in blast_radius(
            [use("send_email", WIDE, ("email",)), use("read_inbox", WIDE, ("mailbox",))],
            VOCAB,
            entry=CARD,
            catalogued=True,
        )
    }
    send = radius["send_email"]
    assert send.listed is True
    assert send.exercised == ("mail.send",)
    assert send.excess == ("mail.read", "crm.read")
    assert send.beyond_card == ()
    read = radius["read_inbox"]
    assert read.excess == ()
    assert set(read.beyond_card) == {"mail.send", "crm.read"}  # the real credential is wider
    assert excess_lines([send], VOCAB) == [
        "mail.read on send_email: allows read on mail",
        "crm.read on send_email: allows read on crm",
    ]


def test_a_tool_off_the_card_and_a_card_tool_never_called() -> None:
    radius = blast_radius(
        [use("export_customers", ("crm.export",), ("crm",))], VOCAB, entry=CARD, catalogued=True
    )
    assert [(r.tool, r.listed, r.calls) for r in radius] == [
        ("send_email", True, 0),
        ("read_inbox", True, 0),
        ("export_customers", False, 2),
    ]
    assert radius[2].beyond_card == ("crm.export",)


def test_without_a_catalog_excess_is_known_scopes_never_exercised() -> None:
    (send,) = blast_radius([use("send_email", (*WIDE, "email.x"), ("email",))], VOCAB)
    assert send.listed is None
    assert send.exercised == ("mail.send",)
    assert set(send.excess) == {"mail.read", "crm.read"}
    assert send.unknown == ("email.x",)
    assert send.beyond_card == ()


def test_failed_calls_exercise_nothing() -> None:
    failed = ToolUse("a", "send_email", 1, 0, 0, (ScopeUse(("mail.send",), ("email",), 1, 0),))
    (send,) = blast_radius([failed], VOCAB)
    assert send.exercised == ()


def test_allows_text_groups_verbs_by_area() -> None:
    assert allows_text("calendar.write", VOCAB) == "create, update, delete on calendar"
    assert allows_text("nobody.knows", VOCAB) == "unknown to the vocabularies"
    assert allows_text("Mail.Send", VOCAB, "microsoft") == "send on mail"
