"""``off_card``: each way a call leaves the agent's identity card, and its near-miss twin.

The rule is built over a catalog and called directly with the :class:`Context` the
engine gives every rule. The catalog is the demo's shape: the mail assistant's card
lists ``read_inbox`` (minimum ``mail.read``) and ``send_email`` (minimum ``mail.send``),
both on a standing credential wider than either (``mail.read mail.send crm.read``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentaudit.catalog import CatalogFile, parse_catalog
from agentaudit.detector.baseline import Baseline, Bounds
from agentaudit.detector.card_rule import MAX_CACHED, OffCard, resource_types
from agentaudit.detector.engine import Detector
from agentaudit.detector.model import Call
from agentaudit.detector.policy import DetectorSettings, load_detector_settings
from agentaudit.detector.rules import RULE_NAMES, Context, Rule
from tests.detector._data import NS, T0, call, store_calls

WIDE = ("mail.read", "mail.send", "crm.read")
CATALOG = """\
[agents.mail-assistant]
owner = "Dana Reyes <dana@example.com>"

[agents.mail-assistant.tools.read_inbox]
action = "read one folder of Bob's mailbox"
min_scopes = ["mail.read"]
credential = "cred-mail-*"
granted_scopes = ["mail.read", "mail.send", "crm.read"]

[agents.mail-assistant.tools.send_email]
action = "send one email"
min_scopes = ["mail.send"]
credential = "cred-mail-*"
granted_scopes = ["mail.read", "mail.send", "crm.read"]

[agents.mail-assistant.tools.frobnicate]
action = "something no vocabulary can name"
granted_scopes = ["mail.read"]
"""
SETTINGS = DetectorSettings()


def context(c: Call) -> Context:
    """The Context the engine builds for ``c`` (a fresh agent's provisional reference)."""
    agent = c.authenticated_agent or c.agent_id
    baseline = Baseline(agent, Bounds())
    activity = baseline.activity(SETTINGS)
    seen = activity.observe(c, c.ts_ns)
    baseline.learn(c, seen, SETTINGS, activity.closed_minutes)
    assert baseline.reference is not None
    return Context(agent, c, seen, baseline.reference, SETTINGS)


def mail_call(tool: str, *, scopes: Sequence[str] = WIDE, resource: str, **fields: Any) -> Call:
    return call(
        fields.pop("agent", "mail-assistant"),
        tool,
        credential_scopes=tuple(scopes),
        resource_ids=(resource,),
        **fields,
    )


@pytest.fixture(scope="module")
def rule() -> OffCard:
    return OffCard(parse_catalog(CATALOG, "catalog.toml"))


# -- a tool the card does not list -------------------------------------------------------


def test_a_tool_the_card_does_not_list_is_off_card(rule: OffCard) -> None:
    found = rule.check(
        context(mail_call("export_customers", scopes=("crm.export",), resource="crm:customers"))
    )
    assert found is not None
    assert (found.rule, found.severity) == ("off_card", 2)  # high
    assert found.observed["reason"] == "unlisted_tool"
    assert found.items == ("export_customers (not on the card)",)
    assert found.baseline == {
        "catalog": "catalog.toml",
        "tools": ["read_inbox", "send_email", "frobnicate"],
    }


def test_twin_a_listed_tool_on_the_wide_credential_is_on_the_card(rule: OffCard) -> None:
    """The card's own credential bug (mail.read on send_email) is lint's, not a finding:
    the call exercised only mail.send."""
    assert rule.check(context(mail_call("send_email", resource="email:x@example.com"))) is None


def test_a_tool_name_that_only_looks_listed_is_off_card(rule: OffCard) -> None:
    for name in ("Send_Email", "send_email ", "send\u200bemail"):
        found = rule.check(context(mail_call(name, resource="email:x@example.com")))
        assert found is not None, name
        assert found.observed["reason"] == "unlisted_tool"


# -- a scope the card does not allow -------------------------------------------------------


def test_a_scope_exercised_beyond_the_minimum_is_off_card(rule: OffCard) -> None:
    """read_inbox touching the CRM exercised crm.read: granted on the standing credential
    (the card's known bug), but not what the card allows read_inbox."""
    found = rule.check(context(mail_call("read_inbox", resource="crm:customers")))
    assert found is not None
    assert found.severity == 2
    assert found.observed == {
        "reason": "scope_not_allowed",
        "tool": "read_inbox",
        "scopes": ["crm.read"],
        "presented": list(WIDE),
    }
    assert found.baseline["allowed"] == ["mail.read"]
    assert found.items == ("scope crm.read on read_inbox",)


def test_twin_the_same_credential_reading_the_mailbox_is_on_the_card(rule: OffCard) -> None:
    assert rule.check(context(mail_call("read_inbox", resource="mailbox:bob/inbox"))) is None


def test_twin_a_failed_call_exercised_nothing(rule: OffCard) -> None:
    failed = mail_call("read_inbox", resource="crm:customers", status="error")
    assert rule.check(context(failed)) is None


def test_a_scope_beyond_the_whole_card_counts_when_the_action_is_unknown(rule: OffCard) -> None:
    """``frobnicate``'s action cannot be told: only a scope beyond the card's granted
    scopes counts (here ``mail.send``, presented on a call that touched mail)."""
    within = mail_call("frobnicate", scopes=("mail.read",), resource="mail:1")
    assert rule.check(context(within)) is None
    found = rule.check(
        context(mail_call("frobnicate", scopes=("mail.read", "mail.send"), resource="mail:1"))
    )
    assert found is not None
    assert found.observed["scopes"] == ["mail.send"]


def test_a_wider_scope_than_the_minimum_is_off_card_and_a_narrower_one_is_not() -> None:
    """A scope whose every action the minimum allows too is within the card; one that
    reaches further, exercised in its place, is not."""

    def card(minimum: str) -> OffCard:
        return OffCard(
            parse_catalog(
                "[agents.cal]\n[agents.cal.tools.list_events]\n"
                f'provider = "google"\nmin_scopes = ["{minimum}"]\n',
                "g.toml",
            )
        )

    narrow = call("cal", "list_events", credential_scopes=("calendar.readonly",))
    wide = call("cal", "list_events", credential_scopes=("calendar",))
    assert card("calendar").check(context(narrow)) is None
    found = card("calendar.readonly").check(context(wide))
    assert found is not None
    assert found.observed["scopes"] == ["calendar"]


# -- the agent -------------------------------------------------------------------------------


def test_the_agent_is_compared_as_a_canonical_id(rule: OffCard) -> None:
    on_card = mail_call("read_inbox", agent="Mail-Assistant", resource="mailbox:bob/inbox")
    assert rule.check(context(on_card)) is None


def test_a_look_alike_agent_has_no_card(rule: OffCard) -> None:
    cyrillic = "m\u0430il-assistant"  # a Cyrillic a
    found = rule.check(context(mail_call("read_inbox", agent=cyrillic, resource="mailbox:b")))
    assert found is not None
    assert (found.observed["reason"], found.severity) == ("no_card", 1)  # medium


def test_the_authenticated_agent_is_judged_not_the_one_claimed(rule: OffCard) -> None:
    """A call sent with another agent's token counts against the sender's card."""
    claimed = mail_call("read_inbox", resource="mailbox:bob/inbox", authenticated_agent="ghost")
    found = rule.check(context(claimed))
    assert found is not None
    assert found.observed["reason"] == "no_card"


def test_without_a_catalog_the_rule_never_fires() -> None:
    idle = OffCard()
    assert idle.check(context(mail_call("export_customers", resource="crm:x"))) is None


# -- the catalog file follows edits ---------------------------------------------------------


def test_an_edited_catalog_file_changes_the_verdict(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG)
    source = CatalogFile(path, check_seconds=0)
    rule = OffCard(source)
    export = mail_call("export_customers", scopes=("crm.export",), resource="crm:customers")
    assert rule.check(context(export)) is not None
    path.write_text(
        CATALOG + '\n[agents.mail-assistant.tools.export_customers]\nmin_scopes = ["crm.export"]\n'
    )
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    assert rule.check(context(export)) is None  # the new card lists it
    path.write_text("[agents.mail-assistant\n")  # an edit that does not load
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
    assert rule.check(context(export)) is None  # the last good catalog stays in force
    assert "not valid TOML" in source.error


# -- the words --------------------------------------------------------------------------------


@dataclass
class _Incident:
    agent: str = "mail-assistant"
    tool: str = "export_customers"
    count: int = 1
    observed: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    approvals: dict[str, int] = field(default_factory=dict)


def _incident(rule: OffCard, *calls: Call) -> _Incident:
    incident = _Incident()
    for c in calls:
        hit = rule.check(context(c))
        assert hit is not None
        incident.observed, incident.baseline = dict(hit.observed), dict(hit.baseline)
        incident.items += [i for i in hit.items if i not in incident.items]
    return incident


def test_each_clause_says_what_left_the_card(rule: OffCard) -> None:
    export = mail_call("export_customers", scopes=("crm.export",), resource="crm:customers")
    crm = mail_call("read_inbox", resource="crm:customers")
    assert rule.clause(_incident(rule, export)) == (
        "mail-assistant called export_customers, a tool its identity card does not list "
        "(it lists read_inbox, send_email, frobnicate)"
    )
    assert rule.clause(_incident(rule, crm)) == (
        "mail-assistant's read_inbox call exercised crm.read, beyond what its identity card "
        "allows read_inbox (mail.read)"
    )
    assert rule.clause(_incident(rule, export, crm)) == (
        "mail-assistant went outside its identity card: export_customers (not on the card), "
        "scope crm.read on read_inbox"
    )
    ghost = call("ghost", "x", credential_scopes=())
    assert rule.clause(_incident(rule, ghost)).endswith("has no identity card for mail-assistant")


def test_resource_types_are_the_prefix_before_the_first_colon() -> None:
    assert resource_types(["crm:customers", "email:a@b", "bare", "crm:x"]) == (
        "",
        "crm",
        "email",
    )


def test_the_rule_follows_the_rule_protocol() -> None:
    assert isinstance(OffCard(), Rule)
    assert OffCard.learning
    assert OffCard.escalates
    assert OffCard.name == "off_card"


# -- through the engine (rules.py registers the rule; docs/catalog.md) --------------------


def test_off_card_is_registered_and_the_policy_knows_it() -> None:
    assert "off_card" in RULE_NAMES
    on = load_detector_settings({"detector": {"rules": {"off_card": {"high": "quarantine"}}}})
    assert on.policy.enabled("mail-assistant", "off_card")
    assert on.policy.action("mail-assistant", "off_card", "high") == "quarantine"
    off = load_detector_settings({"detector": {"rules": {"off_card": {"enabled": False}}}})
    assert not off.policy.enabled("mail-assistant", "off_card")


def test_a_detector_without_a_catalog_raises_no_off_card_finding() -> None:
    detector = Detector()
    export = mail_call("export_customers", scopes=("crm.export",), resource="crm:x", ts=T0)
    detector.process_all([mail_call("read_inbox", resource="mailbox:b", ts=T0 - 1), export])
    assert [f for f in detector.take_findings() if f.rule == "off_card"] == []


def test_a_rule_turned_off_raises_nothing_even_with_a_catalog() -> None:
    off = load_detector_settings({"detector": {"rules": {"off_card": {"enabled": False}}}})
    detector = Detector(off, catalog=parse_catalog(CATALOG, "catalog.toml"))
    export = mail_call("export_customers", scopes=("crm.export",), resource="crm:x", ts=T0)
    detector.process_all([mail_call("read_inbox", resource="mailbox:b", ts=T0 - 1), export])
    assert [f for f in detector.take_findings() if f.rule == "off_card"] == []


def test_the_engine_raises_an_off_card_finding_with_a_summary() -> None:
    detector = Detector(catalog=parse_catalog(CATALOG, "catalog.toml"))
    first = mail_call("read_inbox", resource="mailbox:bob/inbox", ts=T0)
    export = mail_call(
        "export_customers",
        scopes=("crm.export",),
        resource="crm:customers",
        ts=T0 + 1,
        source_refs=("email:msg-42",),
        source_kinds=("email",),
        source_trust=("untrusted",),
        untrusted_source=True,
    )
    detector.process_all([first, export])
    (finding,) = [f for f in detector.take_findings() if f.rule == "off_card"]
    assert finding.severity == "critical"  # high, raised by the untrusted, unapproved input
    assert finding.action == "alert"  # the agent is still learning
    assert finding.summary.startswith(
        "mail-assistant called export_customers, a tool its identity card does not list"
    )
    assert "untrusted content from email msg-42" in finding.summary


def test_a_flood_of_distinct_calls_keeps_the_verdict_cache_bounded() -> None:
    """Hostile traffic (a new tool name per call, each 10 kB) never grows the cache past
    MAX_CACHED, and every such call is still judged off the card."""
    rule = OffCard(parse_catalog(CATALOG, "catalog.toml"))
    for n in range(MAX_CACHED + 50):
        found = rule.check(context(mail_call(f"t{n}" + "x" * 10_000, resource="crm:x")))
        assert found is not None
        assert found.observed["reason"] == "unlisted_tool"
        assert len(rule._cache) <= MAX_CACHED


# -- detect --replay judges against the catalog setting (a real CLI over a real store) -------


def _agentaudit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentaudit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            **env,
        },
    )


def _replay_cli(store_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    replay = ("detect", "--replay", "--since", "30d", "--format", "json")
    done = _agentaudit(*replay, "--store", str(store_dir), env=env)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_replay_raises_off_card_only_with_a_catalog(
    store: Any, store_dir: Path, tmp_path: Path
) -> None:
    now = time.time_ns()
    calls = [
        mail_call("read_inbox", resource="mailbox:bob/inbox", ts=now - 120 * NS),
        mail_call("export_customers", scopes=("crm.export",), resource="crm:c", ts=now - 60 * NS),
    ]
    store_calls(store, calls, batch=10)
    store.close()  # the CLI's process opens it
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)

    judged = _replay_cli(store_dir, {"AGENTAUDIT_CATALOG": str(catalog)})
    (finding,) = [f for f in judged["findings"] if f["rule"] == "off_card"]
    assert finding["tool_name"] == "export_customers"
    assert finding["evidence"]["observed"]["reason"] == "unlisted_tool"
    assert finding["action"] != "quarantine"  # a replay acts on nothing

    idle = _replay_cli(store_dir, {})
    assert [f for f in idle["findings"] if f["rule"] == "off_card"] == []

    catalog.write_text("[agents.mail-assistant\n")  # a catalog that does not load: exit 2
    broken = _agentaudit(
        "detect", "--replay", "--store", str(store_dir), env={"AGENTAUDIT_CATALOG": str(catalog)}
    )
    assert broken.returncode == 2, broken.stderr
    assert "catalog.toml" in broken.stderr
