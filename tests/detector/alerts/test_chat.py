"""The chat alert: signed delivery to a real receiver, and text no hostile id can turn
into markup (checked as Slack reads it and with a real CommonMark renderer, as Teams)."""

from __future__ import annotations

import json
import re

import pytest
from markdown_it import MarkdownIt

from agentaudit.collector.admin.revocation import (
    RetryPolicy,
    SignedWebhook,
    WebhookSignatureError,
    verify_webhook_signature,
)
from agentaudit.demo.webhook_receiver import Alert as ReceivedAlert
from agentaudit.demo.webhook_receiver import AlertReceiver, format_alert
from agentaudit.detector.alerts import (
    Alert,
    AlertDeliveryError,
    ChatWebhookSink,
    chat_payload,
    chat_text,
    displayed_text,
    finding_link,
)
from tests.broker.helpers import FakeClock
from tests.broker.receivers import RunningReceiver
from tests.detector.alerts.helpers import DASHBOARD, SECRET, SENTENCE, finding

HOSTILE = [
    "<https://evil.example|click>",
    "*bold*",
    "_italic_ ~strike~",
    "@channel",
    "<!here>",
    "<!channel> <@U0123>",
    "[click](https://evil.example)",
    "![img](https://evil.example/pixel.png)",
    "line one\nAction: released by oncall\r\nForensics: https://evil.example",
    "`code` ```block```",
    "a & b <b>html</b> &lt;",
    "\u202eevil\u200b",
    "x" * 5000,
]


def _sink(url: str, secret: str = SECRET, attempts: int = 3) -> ChatWebhookSink:
    clock = FakeClock()
    return ChatWebhookSink(
        SignedWebhook(
            url,
            secret,
            name="chat",
            retry=RetryPolicy(attempts=attempts, base_delay=0.5),
            sleep=clock.sleep,
            user_agent="agentaudit-detector/1",
        )
    )


def _alert(**overrides: object) -> Alert:
    found = finding(**overrides)
    return Alert.single(found, finding_link(DASHBOARD, found))


def test_delivery_is_signed_and_carries_text_and_the_finding() -> None:
    alert = _alert()
    with RunningReceiver(SECRET) as running:
        _sink(running.url).send(alert)
    (delivery,) = running.receiver.deliveries
    assert delivery.signature_ok, delivery.signature_error
    assert delivery.headers["x-agentaudit-delivery"] == alert.alert_id
    assert delivery.headers["user-agent"] == "agentaudit-detector/1"
    payload = delivery.payload
    text = payload["text"]
    assert SENTENCE in text
    assert "http://127.0.0.1:8501/session?session=sess-42" in text
    for needle in ("[HIGH]", "`support-bot`", "agent quarantined", "`5f0c2a9e`", "`fan_out`"):
        assert needle in text
    assert payload["finding"] == json.loads(json.dumps(alert.finding.to_json()))
    assert payload["event"] == "agentaudit.finding"
    assert payload["link"] == "http://127.0.0.1:8501/session?session=sess-42"
    assert payload["unfurl_links"] is False
    assert payload["unfurl_media"] is False
    # The same check a receiver makes, on the raw body: the shared secret verifies it,
    # another does not.
    header = delivery.headers["x-agentaudit-signature"]
    assert verify_webhook_signature(SECRET, header, delivery.body)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_webhook_signature("another-secret", header, delivery.body)


def test_a_receiver_with_another_secret_refuses_it_and_the_sink_reports_it() -> None:
    with (
        RunningReceiver("another-secret") as running,
        pytest.raises(AlertDeliveryError, match="HTTP 401"),
    ):
        _sink(running.url).send(_alert())
    assert [d.signature_ok for d in running.receiver.deliveries] == [False]  # 401: no retry


def test_500_is_retried_within_the_policy_with_one_delivery_id() -> None:
    with (
        RunningReceiver(SECRET, statuses=[500, 500, 500, 500]) as running,
        pytest.raises(AlertDeliveryError, match="after 3 attempts"),
    ):
        _sink(running.url).send(_alert())
    deliveries = running.receiver.deliveries
    assert len(deliveries) == 3
    assert len({d.headers["x-agentaudit-delivery"] for d in deliveries}) == 1


def test_deep_link_falls_back_to_the_trace() -> None:
    alert = _alert(session_id="")
    assert alert.link == f"{DASHBOARD}/session?trace={'ab' * 16}"
    assert f"Forensics: {alert.link}" in chat_text(alert)
    assert "Forensics: (no dashboard URL set)" in chat_text(Alert.single(finding()))


def _outside_code(text: str) -> str:
    """The parts of ``text`` outside inline code spans: our own wording only."""
    return "".join(text.split("`")[0::2])


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_stay_literal_text(hostile: str) -> None:
    alert = _alert(
        agent_id=hostile,
        user_id=hostile,
        session_id=hostile,
        tool_name=hostile,
        rule=hostile,
        revocation_id=hostile,
        summary=f"{hostile} called send_email",
    )
    text = chat_text(alert)
    lines = text.split("\n")
    assert len(lines) == 5  # no value can add a line (or forge "Action:" / "Forensics:")
    assert [line.split(" ")[0] for line in lines] == [
        "agentaudit",
        "Agent",
        lines[2].split(" ")[0],
        "Action:",
        "Forensics:",
    ]
    assert lines[2].startswith("`")
    assert lines[2].endswith("`  ")
    # Slack: its control sequences start with "<"; the only "<"/">" are escaped ones,
    # and "&" only starts an entity.
    assert "<" not in text
    assert ">" not in text
    assert re.fullmatch(r"[^&]*(&(amp|lt|gt);[^&]*)*", text)
    # Every value sits inside a code span, each span on one line, none broken by "`".
    assert all(line.count("`") % 2 == 0 for line in lines)
    outside = _outside_code("\n".join(lines[:4]))
    for marker in ("evil", "*bold*", "@channel", "!here", "[click]", "![img]", "html", "xxx"):
        assert marker not in outside
    # The deep link is ours: the session id in it is percent-encoded.
    assert re.fullmatch(
        r"Forensics: http://127\.0\.0\.1:8501/session\?session=[A-Za-z0-9%._~-]+", lines[4]
    )
    # No URL from a value survives in a form a client would auto-link.
    assert "://evil" not in text
    assert "\u202e" not in text
    assert "\u200b" not in text
    assert len("\n".join(lines[:4])) < 2500  # values are cut


@pytest.mark.parametrize("hostile", HOSTILE)
def test_markdown_rendering_has_no_links_images_or_emphasis(hostile: str) -> None:
    alert = Alert.single(
        finding(agent_id=hostile, user_id=hostile, summary=f"{hostile} called send_email")
    )  # no deep link: then the rendering must hold no link at all
    html = MarkdownIt("commonmark").render(chat_text(alert))
    for tag in ("<a ", "<img", "<em>", "<strong>", "<b>", "<script", "<h1", "<blockquote"):
        assert tag not in html
    assert "<code>" in html


def test_the_only_url_an_autolinker_could_find_is_the_deep_link() -> None:
    hostile = "https://evil.example/x <https://evil.example|click> www.evil.example"
    text = chat_text(_alert(agent_id=hostile, summary=hostile))
    assert re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s`]+", text) == [
        "http://127.0.0.1:8501/session?session=sess-42"
    ]


def test_a_follow_up_says_how_many_findings_and_since_when() -> None:
    first = finding()
    alert = Alert(
        finding(severity="critical"),
        finding_link(DASHBOARD, first),
        incident=first.finding_id,
        sequence=1,
        count=50,
        new=49,
        first_ts_ns=first.ts_ns,
        last_ts_ns=first.ts_ns + 60 * 10**9,
    )
    text = chat_text(alert)
    assert text.startswith(
        "agentaudit finding [CRITICAL] rule `fan_out` — update: 50 findings since "
        "2027-01-15 08:00:00 UTC, 49 new"
    )
    payload = chat_payload(alert)
    assert payload["event"] == "agentaudit.finding.update"
    assert (payload["incident"], payload["count"], payload["new"]) == (first.finding_id, 50, 49)


def test_a_huge_evidence_is_left_out_of_the_chat_payload() -> None:
    payload = chat_payload(_alert(evidence={"calls": ["x" * 1000] * 100}))
    assert payload["finding"]["evidence"]["truncated"] is True
    assert chat_payload(_alert())["finding"]["evidence"]["observed"] == {"recipients": 2314}


def test_displayed_text_is_what_the_channel_shows() -> None:
    alert = _alert(agent_id="<https://evil.example|click>", user_id="a & b")
    shown = displayed_text(chat_text(alert))
    assert "Agent <https[:]//evil.example|click>, acting for user a & b" in shown
    assert SENTENCE in shown
    assert "`" not in shown
    assert not any(line.endswith(" ") for line in shown.split("\n"))
    assert displayed_text("see <https://x.example/a|the page> or <https://y.example>") == (
        "see the page (https://x.example/a) or https://y.example"
    )


def test_the_demo_receiver_prints_the_chat_text_of_a_finding() -> None:
    alert = _alert(agent_id="<!here> support-bot")
    with AlertReceiver(SECRET, show=lambda received: None) as receiver:
        _sink(receiver.url).send(alert)
        (received,) = receiver.wait_for(1, timeout=10)
    assert receiver.rejected == []
    printed = format_alert(received)
    head, *body = printed.split("\n")
    assert re.fullmatch(r"--- finding \d\d:\d\d:\d\d \(HIGH, new\) ---", head)
    assert body[0].startswith("agentaudit finding [HIGH] rule fan_out at ")
    assert body[1] == (
        "Agent <!here> support-bot, acting for user alice, in session sess-42, tool send_email"
    )
    assert body[2] == SENTENCE
    assert body[3] == "Action: agent quarantined (revocation 5f0c2a9e)"
    assert body[4] == "Forensics: http://127.0.0.1:8501/session?session=sess-42"


def test_the_demo_receiver_still_prints_revocation_alerts_as_they_are() -> None:
    received = ReceivedAlert(
        "d1", {"event": "agentaudit.revoke", "text": "agentaudit: Revoked agent `x`"}, 0.0
    )
    assert format_alert(received).endswith("(agentaudit.revoke) ---\nagentaudit: Revoked agent `x`")
