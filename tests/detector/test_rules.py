"""Each rule: an attack it must catch, and a near-miss benign twin it must let pass.

Every test learns the same ordinary history first (``History``: ten working days of a
support bot reading tickets and answering 1-3 of twelve known recipients), so learning
is complete and the reference frozen; then it adds the attack or the twin.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from agentaudit.cli.detect import render_baseline
from agentaudit.detector.engine import Detector
from agentaudit.detector.model import Call, Finding
from agentaudit.detector.policy import DetectorSettings
from tests.detector._data import DAY, HOUR, MINUTE, NS, History, after, call, untrusted

HISTORY = History()
CALLS = HISTORY.calls()
AT = after(HISTORY)  # day 11, 10:00 UTC


def run(
    *extra: Call, history: list[Call] = CALLS, settings: DetectorSettings | None = None
) -> dict[str, Finding]:
    detector = Detector(settings or DetectorSettings())
    detector.process_all(history)
    baseline = detector.baseline(history[0].agent_id)
    assert baseline is not None
    assert not baseline.learning
    assert baseline.reference is not None
    assert baseline.reference.frozen
    assert detector.take_findings() == []  # the ordinary history raises nothing
    detector.process_all(extra)
    return {finding.rule: finding for finding in detector.take_findings()}


def mail(ts: int = AT, to: str = "mailbox:c1@company.example", **fields: object) -> Call:
    return call(ts=ts, resource_ids=(to,), session_id=fields.pop("session_id", "s-new"), **fields)  # type: ignore[arg-type]


def ticket(ts: int = AT, session: str = "s-new") -> Call:
    return call(
        tool="read_ticket",
        ts=ts,
        session_id=session,
        resource_ids=("ticket:T-99",),
        arguments={"id": "T-99"},
        credential_scopes=("tickets.read",),
    )


# -- the baseline's own traffic -----------------------------------------------------------


def test_another_ordinary_day_raises_nothing() -> None:
    more = History(start=HISTORY.end, days=2, seed=99).calls()
    assert run(*more) == {}


# -- new_tool ------------------------------------------------------------------------------


def test_new_tool_attack() -> None:
    found = run(
        call(
            tool="export_customers",
            ts=AT,
            resource_ids=("crm:customers",),
            arguments={"segment": "all"},
        )
    )
    finding = found["new_tool"]
    assert finding.severity == "medium"
    assert finding.action == "alert"
    assert "called export_customers, a tool it never used in" in finding.summary


def test_new_tool_twin_a_rare_known_tool() -> None:
    rare = call(
        tool="export_customers",
        ts=HISTORY.start + 3 * DAY + 12 * HOUR,
        resource_ids=("crm:customers",),
        arguments={"segment": "all"},
    )
    history = sorted([*CALLS, rare], key=lambda c: c.ts_ns)
    found = run(
        call(
            tool="export_customers",
            ts=AT,
            resource_ids=("crm:customers",),
            arguments={"segment": "all"},
        ),
        history=history,
    )
    assert "new_tool" not in found


# -- new_transition ------------------------------------------------------------------------


def test_new_transition_attack() -> None:
    found = run(mail(AT), ticket(AT + MINUTE))  # send_email -> read_ticket: never in a session
    assert found["new_transition"].severity == "low"
    assert "send_email -> read_ticket" in found["new_transition"].summary


def test_new_transition_twin_the_usual_order() -> None:
    assert "new_transition" not in run(ticket(AT), mail(AT + MINUTE))


# -- new_resource_type / new_recipient_domain / new_resource --------------------------------


def test_new_resource_type_attack() -> None:
    found = run(mail(AT, to="crm:customers/all"))
    assert "resource type crm" in found["new_resource_type"].summary


def test_new_resource_type_twin_a_known_type() -> None:
    assert "new_resource_type" not in run(mail(AT, to="mailbox:c3@company.example"))


def test_new_recipient_domain_attack() -> None:
    found = run(mail(AT, to="mailbox:drop@evil.example"))
    finding = found["new_recipient_domain"]
    assert "@evil.example" in finding.summary
    assert finding.evidence["items"] == ["@evil.example"]


def _fetches(hosts: list[str]) -> list[Call]:
    """Ten days of a bot fetching pages (24 a day) whose resource ids are the bare URLs
    (what ``resource = "url"`` records), from ``hosts``."""
    out = []
    for day in range(10):
        for n in range(24):
            host = hosts[(day * 24 + n) % len(hosts)]
            out.append(
                call(
                    tool="fetch_page",
                    ts=HISTORY.start + day * DAY + n * HOUR,
                    session_id=f"f-{day}-{n}",
                    resource_ids=(f"https://{host}/page/{day}-{n}",),
                    arguments={"url": f"{host}/page/{day}-{n}"},  # no scheme: no realm
                )
            )
    return out


def test_new_recipient_domain_attack_a_bare_url_names_its_host() -> None:
    # A resource id that is a URL itself (the scheme looks like a type) still has a host:
    # a page on a host the tool never reached is a new realm (AgentDojo's slack suite:
    # "visit www.true-informations.com" after an injected message).
    known = _fetches(["docs.acme.example", "wiki.acme.example"])
    found = run(
        call(tool="fetch_page", ts=AT, resource_ids=("https://evil.example/x",)), history=known
    )
    finding = found["new_recipient_domain"]
    assert finding.evidence["items"] == ["host:evil.example"]
    assert "host:evil.example" in finding.summary


def test_new_recipient_domain_twin_a_known_host_behind_a_bare_url() -> None:
    known = _fetches(["docs.acme.example", "wiki.acme.example"])
    found = run(
        call(tool="fetch_page", ts=AT, resource_ids=("https://docs.acme.example/new",)),
        history=known,
    )
    assert "new_recipient_domain" not in found


def test_new_recipient_domain_twin_an_agent_that_writes_to_anyone() -> None:
    # A customer-facing bot answers a new customer domain every day: its baseline knows
    # that new domains are ordinary (Good-Turing), so one more is not a finding.
    open_world = History(recipients=[f"mailbox:c@cust{i}.example" for i in range(400)])
    found = run(mail(AT, to="mailbox:someone@newcustomer.example"), history=open_world.calls())
    assert "new_recipient_domain" not in found


def test_new_resource_attack_and_an_open_ended_family_twin() -> None:
    found = run(mail(AT, to="mailbox:c99@company.example"))  # 12 known recipients, never this one
    assert "mailbox:c99@company.example" in found["new_resource"].summary
    # Tickets are new every time: a new ticket id is no finding.
    assert "new_resource" not in run(ticket(AT))


# -- fan_out -------------------------------------------------------------------------------


def test_fan_out_attack_per_session_is_critical_with_untrusted_unapproved() -> None:
    attack = [ticket(AT, "evil")]
    attack += [
        untrusted(
            mail(AT + 10 * NS + i * NS // 10, to=f"mailbox:v{i}@company.example", session_id="evil")
        )
        for i in range(2314)
    ]
    found = run(*attack)
    finding = found["fan_out"]
    assert finding.severity == "critical"
    assert finding.action == "quarantine"
    assert re.fullmatch(
        r"support-bot called send_email for 2,314 distinct recipients in 4 minutes; in \d days "
        r"it never sent to more than 3 per session; the calls followed untrusted content from "
        r"ticket T-5512; no human approved them\.",
        finding.summary,
    ), finding.summary
    evidence = finding.evidence
    assert evidence["observed"]["distinct"] == 2314
    assert evidence["baseline"]["max"] == 3
    assert evidence["untrusted_sources"] == ["ticket:T-5512"]
    assert evidence["approvals"]["none"] == evidence["calls"]
    assert len(evidence["triggering_calls"]) == 20  # the first and the latest ten
    assert evidence["triggering_calls"][0]["span_id"] == finding.span_id
    # One incident, one finding: the same finding grew over 2,301 calls.
    assert evidence["calls"] == 2314 - 13


def test_fan_out_twin_at_the_limit() -> None:
    # baseline max 3 per session: the limit is max(3 * 3, 3 + 10) = 13 distinct
    near = [mail(AT + i * NS, to=f"mailbox:c{i % 12}@company.example") for i in range(12)]
    near.append(mail(AT + 20 * NS, to="mailbox:c-extra@company.example"))
    assert "fan_out" not in run(*near)
    over = [*near, mail(AT + 30 * NS, to="mailbox:c-more@company.example")]
    assert run(*over)["fan_out"].evidence["observed"]["distinct"] == 14


def test_fan_out_attack_per_window_across_sessions() -> None:
    spread = [
        mail(AT + i * 5 * NS, to=f"mailbox:w{i}@company.example", session_id=f"w-{i}")
        for i in range(40)
    ]
    finding = run(*spread)["fan_out"]
    assert finding.evidence["observed"]["per"] == "window"
    assert "per 5 minutes" in finding.summary


def test_fan_out_twin_spread_over_hours() -> None:
    slow = [
        mail(AT + i * 20 * MINUTE, to=f"mailbox:c{i % 12}@company.example", session_id=f"w-{i}")
        for i in range(20)
    ]
    assert "fan_out" not in run(*slow)


# -- burst ---------------------------------------------------------------------------------


def test_burst_attack_and_twin() -> None:
    detector = Detector()
    detector.process_all(CALLS)
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert baseline.reference is not None
    limit = max(3 * baseline.reference.minute_max, baseline.reference.minute_max + 30)
    minute = AT - AT % MINUTE
    twin = [mail(minute + i * NS // 10, session_id="b") for i in range(limit)]
    assert "burst" not in run(*twin)
    attack = [mail(minute + i * NS // 10, session_id="b") for i in range(limit + 1)]
    assert run(*attack)["burst"].evidence["observed"]["per_minute"] == limit + 1


# -- off_hours -----------------------------------------------------------------------------


def test_off_hours_attack_and_twin() -> None:
    night = after(HISTORY, hour=3)
    found = run(mail(night, session_id="night"))
    assert "03:00" in found["off_hours"].summary
    assert "off_hours" not in run(mail(after(HISTORY, hour=12)))


# -- argument_shape ------------------------------------------------------------------------


def test_argument_shape_attack_and_twin() -> None:
    bcc = {"to": "x", "subject": "s", "body": "b", "bcc": "all@company.example"}
    assert "bcc" in run(mail(arguments=bcc))["argument_shape"].summary
    reordered = '{"subject": "t", "body": "other", "to": "y"}'
    assert "argument_shape" not in run(mail(arguments=reordered))


def test_argument_shape_an_agent_that_claims_the_hash_of_ordinary_arguments() -> None:
    """The arguments' hash is the client's claim (the collector cannot recompute it:
    the agent hashed its arguments before the collector's redaction): the shape and the
    realms come from the arguments themselves, whatever hash a call names."""
    ordinary = mail()  # its hash was met in the history: the shape of ordinary mail
    assert any(c.arguments_hash == ordinary.arguments_hash for c in CALLS)
    bcc = '{"bcc": "all@company.example", "body": "b", "subject": "s", "to": "x"}'
    bcc_url = '{"bcc": "https://drop.attacker.example/x", "body": "b", "subject": "s", "to": "x"}'
    found = run(
        replace(ordinary, arguments=bcc),
        replace(mail(session_id="s-other"), arguments=bcc_url),
    )
    assert "bcc" in found["argument_shape"].summary
    assert "host:drop.attacker.example" in found["new_recipient_domain"].summary


# -- untrusted_unapproved ------------------------------------------------------------------


def test_untrusted_unapproved_attack() -> None:
    found = run(untrusted(mail()))
    finding = found["untrusted_unapproved"]
    assert finding.summary.endswith(
        "the call followed untrusted content from ticket T-5512; no human approved it."
    )


def test_untrusted_unapproved_twins() -> None:
    verified = replace(untrusted(mail()), approval_status="human", approval_verified=True)
    assert "untrusted_unapproved" not in run(verified)
    # A tool that ordinarily follows untrusted content unapproved: nothing new.
    usual = [untrusted(c) if c.tool_name == "send_email" else c for c in CALLS]
    assert "untrusted_unapproved" not in run(untrusted(mail()), history=usual)


def test_a_claimed_approval_is_not_a_verified_one() -> None:
    claimed = replace(untrusted(mail()), approval_status="human")
    finding = run(claimed)["untrusted_unapproved"]
    assert "a human approval was claimed for it but never verified" in finding.summary


# -- approval_skipped ----------------------------------------------------------------------

BANK = "mailbox:cfo@bank.example"


def approved(c: Call) -> Call:
    return replace(c, approval_status="human", approval_verified=True)


def with_approved_mails(*, one_unapproved: bool = False) -> list[Call]:
    """The ordinary history plus a mail to the bank's CFO on each of its first eight
    days, every one with a verified approval (but one, when ``one_unapproved``)."""
    extra = [
        approved(mail(HISTORY.start + day * DAY + 15 * HOUR, to=BANK, session_id=f"bank-{day}"))
        for day in range(8)
    ]
    if one_unapproved:
        extra[3] = replace(extra[3], approval_status="none", approval_verified=False)
    return sorted([*CALLS, *extra], key=lambda c: c.ts_ns)


def test_approval_skipped_attack_to_a_realm_always_approved() -> None:
    found = run(untrusted(mail(to=BANK)), history=with_approved_mails())
    finding = found["approval_skipped"]
    assert finding.severity == "high"  # medium, +1: it followed untrusted content
    assert finding.summary.startswith(
        "support-bot called send_email for @bank.example without a verified approval; all "
        "8 of its earlier such calls in"
    )
    assert finding.summary.endswith("from ticket T-5512; no human approved it.")


def test_approval_skipped_a_claimed_approval_does_not_count() -> None:
    claimed = replace(mail(to=BANK), approval_status="human")
    found = run(claimed, history=with_approved_mails())
    assert found["approval_skipped"].severity == "medium"
    assert "a human approval was claimed for it but never verified" in (
        found["approval_skipped"].summary
    )


def test_approval_skipped_twins() -> None:
    history = with_approved_mails()
    # the same call, approved: nothing
    assert "approval_skipped" not in run(approved(untrusted(mail(to=BANK))), history=history)
    # the ordinary realm, never approved: nothing to skip
    assert "approval_skipped" not in run(mail(), history=history)
    # a realm that already had a call without approval is not approved-only
    mixed = with_approved_mails(one_unapproved=True)
    assert "approval_skipped" not in run(mail(to=BANK), history=mixed)


def test_approval_skipped_until_calls_without_approval_are_settled() -> None:
    # From day 11 the agent mails the CFO every day without approval (a policy change).
    # Each such call is flagged until they are settled behaviour (promote_days = 3 days,
    # the first 3 days ago) at a reference refresh (every 7 days); then no more.
    later = History(start=HISTORY.end, days=16, seed=7).calls()
    unapproved = [mail(HISTORY.end + day * DAY + 16 * HOUR, to=BANK, session_id=f"u-{day}")
                  for day in range(1, 16)]  # fmt: skip
    detector = Detector(DetectorSettings())
    detector.process_all(with_approved_mails())
    assert detector.take_findings() == []
    flagged_days = set()
    for c in sorted([*later, *unapproved], key=lambda c: c.ts_ns):
        detector.process(c)
        for finding in detector.take_findings():
            if finding.rule == "approval_skipped":
                flagged_days.add((c.ts_ns - HISTORY.end) // DAY)
    assert {1, 2, 3} <= flagged_days  # flagged while it was new
    assert max(flagged_days) < 15  # settled at a refresh: the last days pass
    assert not {13, 14, 15} & flagged_days


def test_approval_skipped_for_a_tool_always_approved() -> None:
    refunds = [
        approved(
            call(
                tool="issue_refund",
                ts=HISTORY.start + day * DAY + 14 * HOUR,
                session_id=f"refund-{day}",
                arguments={"order": f"o-{day}", "amount": 20},
            )
        )
        for day in range(6)
    ]
    history = sorted([*CALLS, *refunds], key=lambda c: c.ts_ns)
    attempt = call(tool="issue_refund", ts=AT, session_id="s-new",
                   arguments={"order": "o-99", "amount": 20})  # fmt: skip
    finding = run(attempt, history=history)["approval_skipped"]
    assert finding.summary.startswith(
        "support-bot called issue_refund without a verified approval; all 6 of its earlier"
    )
    assert "approval_skipped" not in run(approved(attempt), history=history)


# -- new_scope -----------------------------------------------------------------------------


def test_new_scope_attack_and_twin() -> None:
    assert (
        "admin.all" in run(mail(credential_scopes=("mail.send", "admin.all")))["new_scope"].summary
    )
    assert "new_scope" not in run(mail(credential_scopes=("mail.send",)))


# -- identity_mismatch ---------------------------------------------------------------------


def test_identity_mismatch_attack_and_twin() -> None:
    history = History(authenticated=True).calls()
    found = run(mail(authenticated_agent="support-bot", agent="billing-bot"), history=history)
    assert "claimed to come from billing-bot" in found["identity_mismatch"].summary
    twin = mail(authenticated_agent="support-bot", agent="Support-Bot")
    assert "identity_mismatch" not in run(twin, history=history)


# -- severity escalation -------------------------------------------------------------------


@pytest.mark.parametrize(("risky", "expected"), [(False, "medium"), (True, "high")])
def test_untrusted_unapproved_provenance_raises_a_severity(risky: bool, expected: str) -> None:
    # a history where send_email often follows untrusted content (so that alone is no
    # finding): a new resource type is medium, and high when this call followed it too
    usual = [untrusted(c) if c.tool_name == "send_email" else c for c in CALLS]
    attempt = mail(to="crm:customers")
    found = run(untrusted(attempt) if risky else attempt, history=usual)
    assert set(found) == {"new_resource_type", "new_resource"}
    assert found["new_resource_type"].severity == expected


def test_several_indicators_on_one_call_raise_each_other() -> None:
    # new type + new realm + new resource + untrusted unapproved: four rules on one call
    found = run(untrusted(mail(to="crm:acme/customers")))
    assert {
        "new_resource_type",
        "new_recipient_domain",
        "new_resource",
        "untrusted_unapproved",
    } <= set(found)
    assert found["untrusted_unapproved"].severity == "high"  # medium, +1 for the crowd
    assert found["new_resource_type"].severity == "critical"  # medium +1 risky +1 crowd
    assert "new_resource" in found["new_resource_type"].evidence["also"]


def test_explain_names_what_was_always_approved() -> None:
    detector = Detector(DetectorSettings())
    detector.process_all(with_approved_mails())
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    text = render_baseline(baseline.to_json(), "rebuilt")
    assert "always with a verified approval: @bank.example (8 calls)" in text
