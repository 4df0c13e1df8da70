"""The identity card: JSON, Markdown and A2A shapes; sign-off, card changes and drift."""

from __future__ import annotations

import json
import time
from typing import Any

from markdown_it import MarkdownIt

from agentaudit.catalog import (
    STATUSES,
    SignoffLog,
    StoreSource,
    build_card,
    canonical_card,
    card_a2a,
    card_hash,
    card_markdown,
    newest_signoff,
    observe,
    open_findings,
    parse_catalog,
    verify_signoffs,
)
from agentaudit.catalog.card import A2A_EXTENSION_URI
from agentaudit.store import Store
from tests.catalog._seed import DEMO_CATALOG, call, demo_traffic, write

ISSUE_KEYS = {
    "agent", "owner", "description", "audit_destination", "revocation_path", "tools",
    "problems", "signed_by", "signed_at", "card_hash",
}  # fmt: skip
TOOL_KEYS = {
    "name", "action", "credential", "granted_scopes", "min_scopes", "exercised_scopes",
    "lifetime_s", "resource_argument",
}  # fmt: skip


def demo_card(store: Store, catalog_text: str = DEMO_CATALOG, **kwargs: Any) -> Any:
    source = StoreSource(store)
    signoff = newest_signoff(source, "mail-assistant")
    return build_card(
        parse_catalog(catalog_text, "demo.toml"),
        "mail-assistant",
        observations=observe(source, since_ns=0),
        since_signoff=observe(source, since_ns=signoff.signed_at_ms * 1_000_000)
        if signoff
        else None,
        findings=open_findings(source, "mail-assistant"),
        signoff=signoff,
        **kwargs,
    )


def sign(store: Store, catalog_text: str = DEMO_CATALOG, by: str = "Dana Reyes") -> Any:
    entry = parse_catalog(catalog_text, "demo.toml").agent("mail-assistant")
    assert entry is not None
    return SignoffLog(store).record(
        entry.name, signed_by=by, card_hash=card_hash(entry), card=canonical_card(entry),
        recorded_by="cli",
    )  # fmt: skip


def test_the_card_json_has_the_issue_keys_and_the_join(store: Store) -> None:
    write(store, demo_traffic())
    data = demo_card(store).to_json()
    assert set(data) >= ISSUE_KEYS
    assert data["owner"] == "Dana Reyes <dana@example.com>"
    assert data["revocation_path"].startswith("POST /v1/revocations")
    assert data["status"] == "unsigned"
    assert data["signed_by"] is None
    assert data["card_hash"].startswith("sha256:")
    assert len(data["card_hash"]) == 71
    tools = {t["name"]: t for t in data["tools"]}
    assert set(tools) == {"read_inbox", "send_email", "export_customers"}
    assert set(tools["send_email"]) >= TOOL_KEYS
    assert tools["send_email"]["exercised_scopes"] == ["mail.send"]
    assert tools["send_email"]["granted_scopes"] == ["mail.read", "mail.send", "crm.read"]
    assert tools["export_customers"]["exercised_scopes"] == ["crm.export"]
    assert {p["problem"] for p in data["problems"]} == {"excess_scope"}
    assert json.loads(json.dumps(data)) == data


def test_open_findings_are_on_the_card(store: Store) -> None:
    now_ms = int(time.time() * 1000)
    for finding_id, state in (("f-open", "open"), ("f-closed", "false_positive")):
        store.command(
            "INSERT INTO agentaudit.findings (ts, finding_id, updated_at, agent_id, rule, "
            "severity, summary, state) VALUES (fromUnixTimestamp64Milli({ms:Int64}), {id:String}, "
            "fromUnixTimestamp64Milli({ms:Int64}), 'mail-assistant', 'untrusted_exfil', 'high', "
            "'mailed the customer list out', {state:String})",
            {"ms": now_ms, "id": finding_id, "state": state},
        )
    findings = demo_card(store).to_json()["open_findings"]
    assert [(f["finding_id"], f["rule"], f["severity"]) for f in findings] == [
        ("f-open", "untrusted_exfil", "high")
    ]


def test_a_sign_off_makes_it_signed_and_a_card_change_makes_it_drift(store: Store) -> None:
    write(store, demo_traffic(ts=time.time() - 3600))
    signed = sign(store)
    card = demo_card(store)
    assert card.status == "signed"
    assert (card.signed_by, card.signoff.card_hash) == ("Dana Reyes", card.card_hash)
    # the card's hash covers the declared join only: exercised scopes come and go
    changed = DEMO_CATALOG.replace(
        'lifetime_s = 60\nresource_argument = "to"', 'lifetime_s = 3600\nresource_argument = "to"'
    )
    drifted = demo_card(store, changed)
    assert drifted.status == "drifted"
    assert drifted.card_hash != signed.card_hash
    assert "the card changed since Dana Reyes signed it" in drifted.drift[0]
    # signing the changed card makes it signed again
    sign(store, changed, by="Rita Oncall")
    assert demo_card(store, changed).status == "signed"


def test_calls_outside_the_card_after_the_sign_off_make_it_drift(store: Store) -> None:
    write(store, demo_traffic(ts=time.time() - 3600))
    signed = sign(store)
    assert demo_card(store).status == "signed"
    after = signed.signed_at_ms / 1000 + 1
    write(store, [call("mail-assistant", "send_email", scopes=["mail.send", "files.write"],
                       credential="cred-mail-9", ts=after)])  # fmt: skip
    card = demo_card(store)
    assert card.status == "drifted"
    assert any("scope_not_allowed" in d and "files.write" in d for d in card.drift)
    write(store, [call("mail-assistant", "delete_all", scopes=["mail.send"], ts=after)])
    assert any("delete_all unlisted_tool" in d for d in demo_card(store).drift)


def test_a_call_received_after_the_sign_off_drifts_it_whatever_time_it_claims(
    store: Store,
) -> None:
    """Backdating a span before the sign-off does not hide an off-card call made after it:
    the collector received it after the sign-off."""
    write(store, demo_traffic(ts=time.time() - 3600))
    signed = sign(store)
    assert demo_card(store).status == "signed"
    before = signed.signed_at_ms / 1000 - 86_400  # the claim: a day before the sign-off
    write(store, [call("mail-assistant", "delete_all", scopes=["mail.send"], ts=before)])
    card = demo_card(store)
    assert card.status == "drifted"
    assert any("delete_all unlisted_tool" in d for d in card.drift)


def test_calls_before_the_sign_off_do_not_drift_it(store: Store) -> None:
    write(
        store, [call("mail-assistant", "delete_all", scopes=["mail.send"], ts=time.time() - 7200)]
    )
    sign(store)
    card = demo_card(store)
    assert card.status == "signed"
    assert "unlisted_tool" in {p.problem for p in card.problems}  # still a problem on the card


def test_an_agent_not_in_the_catalog_has_status_none(store: Store) -> None:
    card = build_card(parse_catalog(DEMO_CATALOG, "demo.toml"), "nobody")
    assert card.status == "none"
    assert card.tools == ()
    assert card.card_hash == ""
    assert set(STATUSES) == {"signed", "unsigned", "drifted", "none"}


def test_sign_offs_are_chained_and_tampering_is_named(store: Store) -> None:
    sign(store)
    sign(store, by="Rita Oncall")
    source = StoreSource(store)
    assert verify_signoffs(source) == []
    store.command(
        "ALTER TABLE agentaudit.card_signoffs UPDATE signed_by = 'Mallory' "
        "WHERE signed_by = 'Dana Reyes' SETTINGS mutations_sync = 1"
    )
    problems = verify_signoffs(source)
    assert any("Mallory" in p and "altered" in p for p in problems)


def test_a_forged_card_is_refused(store: Store) -> None:
    import pytest

    from agentaudit.catalog import SignoffError

    entry = parse_catalog(DEMO_CATALOG, "demo.toml").agent("mail-assistant")
    assert entry is not None
    with pytest.raises(SignoffError, match="SHA-256"):
        SignoffLog(store).record("mail-assistant", signed_by="x", card_hash="sha256:" + "0" * 64,
                                 card=canonical_card(entry), recorded_by="cli")  # fmt: skip
    with pytest.raises(SignoffError, match="not calendar-assistant's"):
        SignoffLog(store).record("calendar-assistant", signed_by="x", card_hash=card_hash(entry),
                                 card=canonical_card(entry), recorded_by="cli")  # fmt: skip


def test_the_a2a_card_carries_the_join_in_an_extension(store: Store) -> None:
    write(store, demo_traffic())
    card = demo_card(store)
    a2a = card_a2a(card)
    for key in ("protocolVersion", "name", "description", "url", "version", "capabilities",
                "defaultInputModes", "defaultOutputModes", "skills"):  # fmt: skip
        assert key in a2a, key
    assert a2a["name"] == "mail-assistant"
    assert a2a["provider"] == {
        "organization": "Dana Reyes <dana@example.com>",
        "url": "mailto:dana@example.com",
    }
    assert {s["id"] for s in a2a["skills"]} == {"read_inbox", "send_email", "export_customers"}
    skill = next(s for s in a2a["skills"] if s["id"] == "send_email")
    assert skill["description"] == "send one email"
    assert "mail.send" in skill["tags"]
    (extension,) = a2a["capabilities"]["extensions"]
    assert extension["uri"] == A2A_EXTENSION_URI
    assert extension["required"] is False
    assert extension["params"]["card_hash"] == card.card_hash
    assert extension["params"]["revocation_path"] == card.revocation_path


# -- Markdown stays inert ----------------------------------------------------------------

HOSTILE = [
    "[click](https://evil.example)",
    "![x](https://evil.example/b.png)",
    "<img src=x onerror=alert(1)>",
    "**bold** _em_ `code` ``x``",
    "a | b | c",
    "# heading",
    "https://evil.example/autolink",
]
OBSERVED_ONLY = ["line\n# heading\n- item", "\u202etxt.exe"]
"""Control and bidi characters: the catalog refuses them, observed tool names carry them."""


def hostile_catalog() -> str:
    tools = "".join(
        f"[agents.mail-assistant.tools.{json.dumps(f'tool-{i}-{value}')}]\n"
        f"action = {json.dumps(value)}\ncredential = {json.dumps(value)}\n"
        f"min_scopes = [{json.dumps(value.replace(' ', '_'))}]\n\n"
        for i, value in enumerate(HOSTILE)
    )
    description = json.dumps(" ".join(HOSTILE))
    return (
        DEMO_CATALOG.replace('description = "Answers Bob\'s mail"', f"description = {description}")
        + "\n"
        + tools
    )


def tokens_of(markdown: str) -> list[Any]:
    parser = MarkdownIt("commonmark").enable("table")
    out = []
    for token in parser.parse(markdown):
        out.append(token)
        out += token.children or []
    return out


def test_hostile_strings_stay_text_in_the_markdown(store: Store) -> None:
    write(
        store,
        [call("mail-assistant", value, scopes=["mail.send"]) for value in HOSTILE + OBSERVED_ONLY],
    )
    card = demo_card(store, hostile_catalog())
    markdown = card_markdown(card)
    tokens = tokens_of(markdown)
    types = [t.type for t in tokens]
    for markup in ("link_open", "image", "html_inline", "html_block", "em_open"):
        assert markup not in types, markup
    strong = types.count("strong_open")
    assert strong == len(card.problems) + 2  # Status, Card hash, each problem's severity
    assert types.count("heading_open") == 4  # the title, Tools, Problems, Open findings
    assert types.count("bullet_list_open") == 1  # the problems' list only
    assert "\u202e" not in markdown
    assert "⟨U+202E⟩" in markdown
    assert "\n# heading" not in markdown
    assert "line␊# heading␊- item" in markdown
    # every tool row keeps its 8 cells: a "|" in a value cannot add one
    rows = [
        line for line in markdown.splitlines() if line.startswith("| `") and "tool-" in line[:12]
    ]
    assert len(rows) == len(HOSTILE)
    for line in rows:
        assert line.replace("\\|", "").count("|") == 9, line
    # the values are all there, as code
    code = " ".join(t.content for t in tokens if t.type == "code_inline")
    for value in HOSTILE:
        assert value.replace("`", "") in code.replace("`", "") or value in code
