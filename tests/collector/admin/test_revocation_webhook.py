"""The webhook backend against a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import socket

import pytest

from agentaudit.collector.admin.revocation import (
    SIGNATURE_HEADER,
    AlertContext,
    RetryPolicy,
    RevocationRequest,
    WebhookBackend,
    WebhookSignatureError,
    alert_payload,
    sign_webhook,
    verify_webhook_signature,
)
from tests.broker.helpers import FakeClock
from tests.broker.receivers import RunningReceiver

SECRET = "whsec-test-secret"


def _request(**overrides: object) -> RevocationRequest:
    values: dict[str, object] = {
        "id": "rev-1",
        "action": "revoke",
        "target": "agent",
        "target_id": "mail-assistant",
        "reason": "deleted a calendar event after reading an untrusted email",
        "requested_by": "oncall@example.com",
        "requested_at": 1_800_000_000.0,
        "context": AlertContext(
            agent="mail-assistant",
            user="alice",
            session="sess-42",
            tool="calendar.delete_event",
            arguments='{"event_id": "evt-12345"}',
            resource_ids=("calendar:evt-12345",),
            source_refs=("email:msg-42",),
            source_kinds=("email",),
            source_trust=("untrusted",),
            approval_status="none",
            trace_id="ab" * 16,
            span_id="cd" * 8,
        ),
        "link": "http://127.0.0.1:8501/session?session=sess-42",
    }
    values.update(overrides)
    return RevocationRequest(**values)  # type: ignore[arg-type]


def _backend(url: str, clock: FakeClock, attempts: int = 3) -> WebhookBackend:
    return WebhookBackend(
        url,
        SECRET,
        name="chat",
        retry=RetryPolicy(attempts=attempts, base_delay=0.5),
        sleep=clock.sleep,
        timeout=10,
    )


def test_delivery_is_signed_and_readable() -> None:
    clock = FakeClock()
    with RunningReceiver(SECRET) as running:
        result = _backend(running.url, clock).revoke(_request())
    assert result.ok
    assert result.attempts == 1
    assert result.response["status"] == 200
    assert json.loads(result.response["body"]) == {"received": True, "status": 200}
    (delivery,) = running.receiver.deliveries
    assert delivery.signature_ok, delivery.signature_error
    payload = delivery.payload
    text = payload["text"]
    for needle in (
        "mail-assistant",
        "alice",
        "calendar.delete_event",
        "calendar:evt-12345",
        "`email:msg-42` (`untrusted`)",
        "`oncall@example.com`",
        "http://127.0.0.1:8501/session?session=sess-42",
    ):
        assert needle in text
    assert payload["event"] == "agentaudit.revoke"
    assert payload["trigger"]["source_trust"] == ["untrusted"]
    assert payload["link"].endswith("session=sess-42")


def test_span_values_in_the_text_are_inert_in_slack_and_teams() -> None:
    hostile = AlertContext(
        agent="<!here>",
        user="**alice**",
        session="s\nReason: approved by the CISO",
        tool="send`email`",
        arguments="[click](https://evil.example/x) ![p](http://evil.example/p.png)",
        resource_ids=("<https://evil.example|mailbox:bob>",),
        source_refs=("email:\u202emsg",),
        source_kinds=("email",),
        source_trust=("untrusted",),
        approval_status="human",
        trace_id="ab" * 16,
        span_id="cd" * 8,
    )
    payload = alert_payload(
        _request(target="credential", target_id="cred-1", context=hostile, reason="<@U123> now")
    )
    text = payload["text"]
    lines = text.split("  \n")
    assert len(lines) == 6  # no value forged a line of its own
    assert lines[3] == "Prompted by: `email:\ufffdmsg` (`untrusted`)"  # no bidi override
    assert "in session `s Reason: approved by the CISO`" in lines[1]  # stays in its line
    assert lines[4] == "Reason: `&lt;@U123&gt; now` (by `oncall@example.com`)"
    assert "<" not in text  # Slack: no link or mention...
    assert ">" not in text
    assert "agent `&lt;!here&gt;`" in lines[1]
    assert "://evil" not in text  # ...and no live URL
    assert "`send'email'`" in text  # a backtick cannot close the code span (Teams)
    assert lines[-1] == "Forensics: http://127.0.0.1:8501/session?session=sess-42"  # ours
    assert (payload["unfurl_links"], payload["unfurl_media"]) == (False, False)


def test_retries_on_500_then_succeeds_with_fresh_signatures() -> None:
    clock = FakeClock()
    with RunningReceiver(SECRET, statuses=[500, 503]) as running:
        result = _backend(running.url, clock).revoke(_request())
    assert result.ok
    assert result.attempts == 3
    assert result.errors == ("receiver answered HTTP 500", "receiver answered HTTP 503")
    deliveries = running.receiver.deliveries
    assert [d.signature_ok for d in deliveries] == [True, True, True]
    assert len({d.headers["x-agentaudit-delivery"] for d in deliveries}) == 1  # one delivery id
    assert clock.now == FakeClock().now + 0.5 + 1.0  # backoff: 0.5 s, then 1 s


def test_gives_up_after_bounded_retries_and_reports_the_answer() -> None:
    clock = FakeClock()
    with RunningReceiver(SECRET, statuses=[500, 500]) as running:
        result = _backend(running.url, clock, attempts=2).revoke(_request())
    assert not result.ok
    assert result.attempts == 2
    assert result.response["status"] == 500
    assert len(running.receiver.deliveries) == 2


def test_client_errors_are_not_retried() -> None:
    clock = FakeClock()
    with RunningReceiver(SECRET, statuses=[404]) as running:
        result = _backend(running.url, clock).revoke(_request())
    assert not result.ok
    assert result.attempts == 1
    assert result.detail == "receiver answered HTTP 404"


def test_wrong_secret_is_rejected_by_the_receiver() -> None:
    clock = FakeClock()
    with RunningReceiver("another-secret") as running:
        result = WebhookBackend(running.url, SECRET, sleep=clock.sleep).revoke(_request())
    assert not result.ok
    assert result.response["status"] == 401
    assert not running.receiver.deliveries[0].signature_ok


def test_unreachable_receiver_is_retried_and_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FakeClock()
    result = _backend(f"http://127.0.0.1:{port}/hook", clock).revoke(_request())
    assert not result.ok
    assert result.attempts == 3
    assert "unreachable" in result.detail


def test_signature_helper_rejects_stale_forged_and_malformed() -> None:
    body = b'{"id": "rev-1"}'
    header = sign_webhook(SECRET, body, 1_800_000_000)
    assert verify_webhook_signature(SECRET, header, body, now=1_800_000_100) == 1_800_000_000
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify_webhook_signature(SECRET, header, body, now=1_800_000_301)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_webhook_signature(SECRET, header, body + b" ", now=1_800_000_000)
    with pytest.raises(WebhookSignatureError, match="malformed"):
        verify_webhook_signature(SECRET, "v1=abc", body, now=1_800_000_000)
    with pytest.raises(WebhookSignatureError, match="missing"):
        verify_webhook_signature(SECRET, None, body)
    rotated = header + "," + sign_webhook("old-secret", body, 1_800_000_000).split(",")[1]
    assert verify_webhook_signature("old-secret", rotated, body, now=1_800_000_000)
    assert SIGNATURE_HEADER == "X-Agentaudit-Signature"


def test_payload_without_context_and_for_a_release() -> None:
    payload = alert_payload(_request(action="release", target="agent", context=None, link=None))
    assert payload["text"].startswith("agentaudit: Released agent `mail-assistant`")
    assert payload["trigger"] is None
    assert payload["event"] == "agentaudit.release"


def test_backend_refuses_bad_configuration() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookBackend("ftp://x", SECRET)
    with pytest.raises(ValueError, match="secret"):
        WebhookBackend("http://127.0.0.1/hook", "")
    assert SECRET not in repr(WebhookBackend("http://127.0.0.1/hook", SECRET))
