"""The scope linter: each problem kind next to its clean twin.

Catalog-only problems are checked on parsed catalogs; observed problems on tool calls
written through the real writer into a chdb store and read back with ``observe``.
"""

from __future__ import annotations

from typing import Any

from agentaudit.catalog import (
    PROBLEM_KINDS,
    Observations,
    Problem,
    StoreSource,
    lint_catalog,
    observe,
    parse_catalog,
)
from agentaudit.store import Store
from tests.catalog._seed import DEMO_CATALOG, call, demo_traffic, write

AGENT = "mail-assistant"
HEAD = """\
[agents.mail-assistant]
owner = "Dana Reyes <dana@example.com>"
description = "Answers Bob's mail"
audit_destination = "agentaudit collector at otel.internal:4317"
revocation_path = "POST /v1/revocations (responder token); broker deny-list; Vault"
"""


def catalog(tool: str = "", *, head: str = HEAD) -> Any:
    return parse_catalog(head + tool, "cat.toml")


def send_email(**fields: Any) -> str:
    values: dict[str, Any] = {
        "action": '"send one email"',
        "min_scopes": '["mail.send"]',
        "credential": '"cred-mail-*"',
        "granted_scopes": '["mail.send"]',
        "lifetime_s": "60",
        "resource_argument": '"to"',
    }
    values.update(fields)
    body = "".join(f"{k} = {v}\n" for k, v in values.items() if v is not None)
    return "[agents.mail-assistant.tools.send_email]\n" + body


def kinds(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.problem, p.severity) for p in problems]


def test_the_clean_catalog_has_no_problem() -> None:
    assert lint_catalog(catalog(send_email())) == []


def test_the_seeds_send_email_with_mail_read_is_a_high_credential_bug() -> None:
    """Granted mail.send + mail.read for a send tool: high, whether or not the read is used."""
    problems = lint_catalog(catalog(send_email(granted_scopes='["mail.send", "mail.read"]')))
    assert kinds(problems) == [("excess_scope", "high")]
    problem = problems[0]
    assert (problem.agent, problem.tool) == ("mail-assistant", "send_email")
    assert problem.detail == "`mail.read` allows read; `send_email` (mail.send) needs `mail.send`"
    assert (problem.location.path, problem.location.line) == ("cat.toml", 10)  # type: ignore[union-attr]
    assert problem.location.key.endswith("send_email.granted_scopes")  # type: ignore[union-attr]


def test_an_extra_scope_in_another_area_is_high_and_one_it_implies_is_medium() -> None:
    other_area = lint_catalog(catalog(send_email(granted_scopes='["mail.send", "crm.read"]')))
    assert kinds(other_area) == [("excess_scope", "high")]
    assert "read on crm" in other_area[0].detail
    export = (
        '[agents.mail-assistant.tools.export_customers]\naction = "export"\n'
        'min_scopes = ["crm.export"]\ncredential = "c"\n'
        'granted_scopes = ["crm.export", "crm.read"]\n'
        "lifetime_s = 60\n"
    )
    assert kinds(lint_catalog(catalog(export))) == [("excess_scope", "medium")]


def test_an_unknown_extra_scope_is_medium() -> None:
    problems = lint_catalog(catalog(send_email(granted_scopes='["mail.send", "x.private"]')))
    assert kinds(problems) == [("excess_scope", "medium")]
    assert "no vocabulary knows" in problems[0].detail


def test_a_wider_minimum_names_the_narrowest_scope() -> None:
    """`calendar.events` allows delete; `create_event` needs `calendar.events.owned`."""
    tool = (
        '[agents.mail-assistant.tools.create_event]\naction = "add one event"\n'
        'provider = "google"\nmin_scopes = ["calendar.events"]\ncredential = "c"\n'
        'granted_scopes = ["calendar.events"]\nlifetime_s = 60\n'
    )
    problems = lint_catalog(catalog(tool))
    assert kinds(problems) == [("min_too_wide", "medium")]
    assert problems[0].detail == (
        "`calendar.events` allows read, update, delete; `create_event` (calendar.create) "
        "needs `calendar.events.owned`"
    )
    twin = tool.replace('["calendar.events"]', '["calendar.events.owned"]')
    assert lint_catalog(catalog(twin)) == []


def test_granted_beyond_the_narrowest_minimum_is_high_when_it_allows_more() -> None:
    tool = (
        '[agents.mail-assistant.tools.create_event]\naction = "add one event"\n'
        'min_scopes = ["calendar.events.owned"]\ncredential = "c"\n'
        'granted_scopes = ["calendar.events.owned", "https://www.googleapis.com/auth/calendar"]\n'
        "lifetime_s = 60\n"
    )
    problems = lint_catalog(catalog(tool))
    assert kinds(problems) == [("excess_scope", "high")]
    assert "delete, share, admin;" in problems[0].detail


def test_missing_min_scopes_suggests_the_narrowest() -> None:
    problems = lint_catalog(catalog(send_email(min_scopes=None)))
    assert kinds(problems) == [("missing_min_scopes", "medium")]
    assert "suggest mail.send (mail.send)" in problems[0].detail


def test_a_minimum_the_credential_lacks() -> None:
    problems = lint_catalog(catalog(send_email(granted_scopes='["mail.read"]')))
    assert ("min_not_granted", "medium") in kinds(problems)


def test_an_agent_with_no_owner_is_high_and_a_registry_owner_is_reconciled() -> None:
    no_owner = HEAD.replace('owner = "Dana Reyes <dana@example.com>"\n', "")
    problems = lint_catalog(
        catalog(send_email(), head=no_owner), registry_owners={"mail-assistant": "secops"}
    )
    assert kinds(problems) == [("missing_owner", "high")]
    assert "registry says 'secops'" in problems[0].detail
    mismatch = lint_catalog(catalog(send_email()), registry_owners={"Mail-Assistant": "secops"})
    assert kinds(mismatch) == [("owner_mismatch", "medium")]
    for same in ("dana@example.com", "Dana Reyes", "DANA REYES <dana@example.com>"):
        assert lint_catalog(catalog(send_email()), registry_owners={"mail-assistant": same}) == []


def test_an_incomplete_card_names_each_missing_field() -> None:
    bare = '[agents.mail-assistant]\nowner = "x"\n[agents.mail-assistant.tools.send_email]\n'
    found = {p.detail.split(":")[0] for p in lint_catalog(catalog(head=bare))}
    assert {"no audit_destination written down", "no revocation_path written down",
            "no granted_scopes", "no lifetime_s", "no min_scopes"} <= found  # fmt: skip


def test_an_explicit_provider_flags_unknown_scope_names() -> None:
    tool = send_email(min_scopes='["gmail.send"]', granted_scopes='["gmail.send", "gmail.sendd"]')
    tool = tool.replace(
        "[agents.mail-assistant.tools.send_email]\n",
        '[agents.mail-assistant.tools.send_email]\nprovider = "google"\n',
    )
    assert ("unknown_scope", "low") in kinds(lint_catalog(catalog(tool)))
    assert ("unknown_scope", "low") not in kinds(
        lint_catalog(catalog(tool.replace(', "gmail.sendd"', "")))
    )


def test_every_problem_kind_is_documented(tmp_path: Any) -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text()
    assert [k for k in PROBLEM_KINDS if f"\n### {k}\n" not in text] == []


# -- observed behaviour ---------------------------------------------------------------


def observed(store: Store, spans: list[Any]) -> Observations:
    write(store, spans)
    return observe(StoreSource(store), since_ns=0)


def test_observed_behaviour_inside_the_card_is_clean(store: Store) -> None:
    spans = [call("mail-assistant", "send_email", scopes=["mail.send"], credential="cred-mail-1",
                  arguments={"to": "a@example.com"}, resources=["a@example.com"])]  # fmt: skip
    assert lint_catalog(catalog(send_email()), observations=observed(store, spans)) == []


def test_observed_problems(store: Store) -> None:
    spans = [
        # a scope the catalog does not grant, exercised or not
        call(AGENT, "send_email", scopes=["mail.send", "mail.read"], credential="cred-mail-1"),
        # a credential that lives an hour, and one that does not match the pattern
        call(AGENT, "send_email", scopes=["mail.send"], credential="cred-x-2", lifetime_s=3600),
        # a tool the card does not list, and an agent with no card
        call("mail-assistant", "delete_email", scopes=["mail.send"]),
        call("shadow-agent", "send_email", scopes=["mail.send"]),
    ]  # fmt: skip
    problems = lint_catalog(catalog(send_email()), observations=observed(store, spans))
    assert sorted(kinds(problems)) == sorted(
        [
            ("scope_not_allowed", "high"),
            ("lifetime_exceeded", "high"),
            ("credential_mismatch", "medium"),
            ("unlisted_tool", "high"),
            ("unlisted_agent", "high"),
        ]
    )
    by_kind = {p.problem: p for p in problems}
    assert (
        "`mail.read` was presented on 1 call (not exercised" in by_kind["scope_not_allowed"].detail
    )
    assert "lived at least 3600 s; the catalog says 60 s" in by_kind["lifetime_exceeded"].detail
    assert by_kind["unlisted_tool"].tool == "delete_email"
    assert by_kind["unlisted_agent"].agent == "shadow-agent"


def test_a_call_sent_with_another_agents_token_counts_against_the_sender(store: Store) -> None:
    """The collector's authenticated agent wins over the id the span claims."""
    spans = [call("mail-assistant", "wipe_mailbox", scopes=["mail.send"], sent_by="intruder")]
    problems = lint_catalog(catalog(send_email()), observations=observed(store, spans))
    assert kinds(problems) == [("unlisted_agent", "high")]
    assert problems[0].agent == "intruder"


def test_the_demo_catalog_names_the_mail_assistants_credential_bug(store: Store) -> None:
    problems = lint_catalog(
        parse_catalog(DEMO_CATALOG, "demo.toml"), observations=observed(store, demo_traffic())
    )
    high = {(p.agent, p.tool, p.detail.split("`")[1]) for p in problems if p.severity == "high"}
    assert ("mail-assistant", "send_email", "mail.read") in high
    assert ("mail-assistant", "send_email", "crm.read") in high
    assert all(p.problem == "excess_scope" for p in problems)  # behaviour matches the card


def test_an_agent_id_that_is_not_canonical_is_linted_alone() -> None:
    """A look-alike id has no entry and gets none of the catalog's other agents' problems
    (the dashboard builds a card for every agent id the store holds)."""
    demo = parse_catalog(DEMO_CATALOG)
    assert lint_catalog(demo, agent="mail-assistant")
    assert lint_catalog(demo, agent="m\u0430il-assistant") == []  # a Cyrillic a
    assert lint_catalog(demo, agent="evil \u202e agent") == []
