"""Verifiable approvals: a grant approves one exact call; claims stay claims.

Unit level: the real signer (Ed25519, the broker's key type) and verifier over spans.
End to end: a real collector, a grant from its admin API, an agent's tool calls made with
the real instrumentation and exported over OTLP, and the stored rows.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentaudit.broker import SigningKey
from agentaudit.collector.identity.approvals import (
    CLOCK_SKEW,
    LEDGER_SECONDS,
    RECEIPT_GRACE,
    REFUSED_ATTRIBUTE,
    ApprovalSigner,
    ApprovalVerifier,
    ApprovedAction,
    GrantError,
    GrantLedger,
)
from agentaudit.collector.model import VERIFIED_APPROVAL_GRANT, VERIFIED_APPROVER, SpanRecord
from agentaudit.schema import attributes as A

HASH = "sha256:" + "ab" * 32
ACTION = ApprovedAction(
    agent="mail-assistant", tool="send_email", arguments_hash=HASH, resources=("mailbox:bob",)
)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def signer(key: SigningKey) -> ApprovalSigner:
    return ApprovalSigner(key, issuer="agentaudit")


@pytest.fixture
def verifier(key: SigningKey) -> ApprovalVerifier:
    return ApprovalVerifier(key.jwks(), issuer="agentaudit")


def _span(grant: str | None = None, *, at: float | None = None, **overrides: Any) -> SpanRecord:
    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: "execute_tool",
        A.GEN_AI_TOOL_NAME: "send_email",
        A.GEN_AI_AGENT_ID: "mail-assistant",
        A.ARGUMENTS_HASH: HASH,
        A.RESOURCE_IDS: ["mailbox:bob"],
        A.APPROVAL_STATUS: "human",
        A.APPROVAL_APPROVER: "oncall-alice",
    }
    attributes.update(overrides)
    if grant is not None:
        attributes[A.APPROVAL_GRANT] = grant
    start = int((time.time() if at is None else at) * 1e9)
    return SpanRecord(
        "1" * 32, "2" * 16, "execute_tool send_email", start, start + 1000, attributes=attributes
    )


def test_a_grant_for_the_exact_call_verifies_and_is_not_kept(
    signer: ApprovalSigner, verifier: ApprovalVerifier
) -> None:
    token, grant = signer.grant(ACTION, approver="rita", lifetime=300)
    span = _span(token)
    verifier.stamp([span])
    assert span.verified[VERIFIED_APPROVAL_GRANT] == grant.id
    assert span.verified[VERIFIED_APPROVER] == "rita"  # from the grant, not the span's claim
    assert A.APPROVAL_GRANT not in span.attributes
    assert REFUSED_ATTRIBUTE not in span.attributes


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({A.GEN_AI_TOOL_NAME: "export_customers"}, "another tool"),
        ({A.ARGUMENTS_HASH: "sha256:" + "cd" * 32}, "other arguments"),
        ({A.RESOURCE_IDS: ["crm:customers"]}, "other resources"),
        ({A.RESOURCE_IDS: ["mailbox:bob", "crm:customers"]}, "other resources"),
        ({A.GEN_AI_AGENT_ID: "billing-agent"}, "another agent"),
    ],
)
def test_a_grant_replayed_against_another_action_is_refused(
    signer: ApprovalSigner, verifier: ApprovalVerifier, change: dict[str, Any], reason: str
) -> None:
    token, _ = signer.grant(ACTION, approver="rita", lifetime=300)
    span = _span(token, **change)
    verifier.stamp([span])
    assert VERIFIED_APPROVAL_GRANT not in span.verified
    assert reason in span.attributes[REFUSED_ATTRIBUTE]
    assert A.APPROVAL_GRANT not in span.attributes


RECORDED = '{"body":"quarterly numbers","to":"bob@example.com"}'
"""Arguments as the agent records them (canonical JSON); their hash is what it claims."""


@pytest.mark.parametrize(
    ("recorded", "verified"),
    [
        (RECORDED, True),
        (None, True),  # capture_arguments = false: bound by the claimed hash alone
        ('{"body":"all of it","to":"mallory@evil.example"}', False),
        (RECORDED[:20] + "…[truncated, 52 bytes in total]", False),
        (RECORDED + " ", False),
        (["bob@example.com"], False),
    ],
    ids=["the-approved-arguments", "not-recorded", "other", "truncated", "one-more-byte", "a-list"],
)
def test_the_recorded_arguments_must_be_the_ones_the_claimed_hash_names(
    signer: ApprovalSigner, verifier: ApprovalVerifier, recorded: Any, verified: bool
) -> None:
    """A grant for one call's arguments does not verify a call that records other
    arguments while claiming the approved hash."""
    claimed = "sha256:" + hashlib.sha256(RECORDED.encode()).hexdigest()
    action = ApprovedAction(**{**ACTION.__dict__, "arguments_hash": claimed})
    token, grant = signer.grant(action, approver="rita", lifetime=300)
    extra = {} if recorded is None else {A.GEN_AI_TOOL_CALL_ARGUMENTS: recorded}
    span = _span(token, **{A.ARGUMENTS_HASH: claimed, **extra})
    verifier.stamp([span])
    if verified:
        assert span.verified[VERIFIED_APPROVAL_GRANT] == grant.id
    else:
        assert VERIFIED_APPROVAL_GRANT not in span.verified
        assert "not the ones its arguments hash names" in span.attributes[REFUSED_ATTRIBUTE]


def test_user_and_session_are_bound_when_the_grant_names_them(
    signer: ApprovalSigner, verifier: ApprovalVerifier
) -> None:
    action = ApprovedAction(**{**ACTION.__dict__, "user": "bob", "session": "s-1"})
    token, _ = signer.grant(action, approver="rita", lifetime=300)
    with pytest.raises(GrantError, match="another user"):
        verifier.verify(token, _span(**{A.ENDUSER_ID: "mallory", A.SESSION_ID: "s-1"}))
    with pytest.raises(GrantError, match="another session"):
        verifier.verify(token, _span(**{A.ENDUSER_ID: "bob", A.SESSION_ID: "s-2"}))
    assert verifier.verify(token, _span(**{A.ENDUSER_ID: "bob", A.SESSION_ID: "s-1"}))


def test_an_expired_or_premature_grant_is_refused(
    signer: ApprovalSigner, verifier: ApprovalVerifier
) -> None:
    token, grant = signer.grant(ACTION, approver="rita", lifetime=60)
    with pytest.raises(GrantError, match="expired"):
        verifier.verify(token, _span(at=grant.expires_at + CLOCK_SKEW + 1))
    with pytest.raises(GrantError, match="before the approval"):
        verifier.verify(token, _span(at=grant.issued_at - CLOCK_SKEW - 1))
    assert verifier.verify(token, _span(at=grant.expires_at - 1))


def test_an_expired_grant_is_refused_whatever_start_the_span_claims(
    key: SigningKey, signer: ApprovalSigner
) -> None:
    # The span's start is the agent's claim; the collector's clock is not. An agent
    # backdating its span into the grant's lifetime must not use it after expiry.
    token, grant = signer.grant(ACTION, approver="rita", lifetime=60)
    inside = _span(at=grant.expires_at - 1)  # claims to have started in time

    def received_at(seconds: float) -> ApprovalVerifier:
        return ApprovalVerifier(key.jwks(), issuer="agentaudit", clock=lambda: seconds)

    deadline = grant.expires_at + CLOCK_SKEW + RECEIPT_GRACE
    assert received_at(deadline).verify(token, inside).id == grant.id  # a slow call's span
    with pytest.raises(GrantError, match="expired when the collector received the call"):
        received_at(deadline + 1).verify(token, inside)
    # A grant used once, presented again after the ledger forgot it (a day later).
    with pytest.raises(GrantError, match="expired when the collector received the call"):
        received_at(grant.issued_at + LEDGER_SECONDS + 1).verify(token, inside)


def test_forged_grants_are_refused(signer: ApprovalSigner, verifier: ApprovalVerifier) -> None:
    other = ApprovalSigner(SigningKey.generate(), issuer="agentaudit")
    forged, _ = other.grant(ACTION, approver="ceo", lifetime=300)
    with pytest.raises(GrantError, match="unknown key"):
        verifier.verify(forged, _span())
    token, _ = signer.grant(ACTION, approver="rita", lifetime=300)
    header, payload, signature = token.split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["authorization_details"][0]["tool"] = "export_customers"
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(GrantError, match="signature"):
        verifier.verify(
            f"{header}.{tampered}.{signature}", _span(**{A.GEN_AI_TOOL_NAME: "export_customers"})
        )
    for junk in ("", "not.a.jwt", "x" * 10_000, 42):
        span = _span(junk)  # type: ignore[arg-type]
        verifier.stamp([span])
        assert VERIFIED_APPROVAL_GRANT not in span.verified


def test_a_span_cannot_stamp_itself(verifier: ApprovalVerifier) -> None:
    span = _span(**{REFUSED_ATTRIBUTE: "nothing to see"})
    span.verified[VERIFIED_APPROVAL_GRANT] = "made-up"
    verifier.stamp([span])
    assert VERIFIED_APPROVAL_GRANT not in span.verified
    assert REFUSED_ATTRIBUTE not in span.attributes


def test_a_grant_verifies_one_call() -> None:
    ledger = GrantLedger(["used-before-restart"])
    assert ledger.first_use("g1") is True
    assert ledger.first_use("g1") is False
    assert ledger.first_use("used-before-restart") is False


def test_the_granted_action_is_validated() -> None:
    for bad in (
        {**ACTION.detail(), "agent": "vіctim"},  # a Cyrillic look-alike
        {**ACTION.detail(), "arguments_hash": "md5:abc"},
        {**ACTION.detail(), "tool": ""},
        {**ACTION.detail(), "resources": "mailbox:bob"},
    ):
        with pytest.raises(GrantError):
            ApprovedAction.from_json(bad)


# --- end to end -------------------------------------------------------------------------


@pytest.fixture
def collector(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A running collector; ``workers`` from an indirect parameter (default 1)."""
    from agentaudit.collector.app import Collector
    from agentaudit.config import load_config

    config = load_config(
        {
            "store": str(tmp_path / "store"),
            "grpc_port": 0,
            "http_port": 0,
            "api_port": 0,
            "batch_seconds": 0.05,
            "workers": getattr(request, "param", 1),
        },
        environ={},
    )
    running = Collector(config)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _rows(collector: Any) -> list[dict[str, Any]]:
    return collector.store.query(
        "SELECT tool_call_id, approval_status, approver, approval_verified, approval_grant_id, "
        "attributes[{refused:String}] AS refused FROM agentaudit.tool_calls ORDER BY ts",
        {"refused": REFUSED_ATTRIBUTE},
    ).as_dicts()


# With workers, a receive-only worker process verifies the grant (its spec carries the
# signer's public keys) and the store-owning process enforces single use.
@pytest.mark.parametrize("collector", [1, 2], indirect=True, ids=["in-process", "workers"])
def test_end_to_end_verified_claimed_and_replayed(collector: Any) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    import agentaudit
    from agentaudit.instrumentation import configure, instrument, uninstrument

    api = f"http://127.0.0.1:{collector.admin.port}"
    responder = {"authorization": f"Bearer {collector.config.admin_token}"}
    arguments = {"to": "bob@example.com", "body": "quarterly numbers"}

    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(
                endpoint=f"127.0.0.1:{collector.grpc_port}",
                insecure=True,
                headers={"authorization": f"Bearer {collector.config.token}"},
            )
        )
    )
    configure(reset=True)
    instrument(tracer_provider=provider, integrations=())

    @agentaudit.audited_tool(name="send_email", resource=lambda arguments: "mailbox:bob")
    def send_email(to: str, body: str) -> str:
        return "sent"

    # The runtime computes the hash the call will carry; a human approves exactly that.
    reply = httpx.post(
        f"{api}/v1/approvals",
        json={
            "agent": "mail-assistant",
            "tool": "send_email",
            "arguments_hash": agentaudit.arguments_hash("send_email", arguments),
            "resources": ["mailbox:bob"],
            "approver": "rita",
            "expires_in": 120,
        },
        headers=responder,
    )
    assert reply.status_code == 201, reply.text
    grant = reply.json()["grant"]
    agent_token = {"authorization": f"Bearer {collector.config.token}"}
    assert httpx.post(f"{api}/v1/approvals", json={}, headers=agent_token).status_code == 403

    with agentaudit.context(agent="mail-assistant", user="bob", session="s-1"):
        with agentaudit.approval(grant=grant):
            send_email(**arguments)  # verified
            send_email(**arguments)  # the same grant again: claimed only
            send_email(to="mallory@evil.example", body="all of it")  # other arguments
        with agentaudit.approval("oncall-alice"):  # a bare claim
            send_email(**arguments)
    provider.force_flush()
    uninstrument()
    provider.shutdown()
    deadline = time.monotonic() + 30
    while len(_rows(collector)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = _rows(collector)
    assert [(r["approval_verified"], r["approver"]) for r in rows] == [
        (1, "rita"),
        (0, ""),
        (0, ""),
        (0, "oncall-alice"),
    ]
    assert rows[0]["approval_grant_id"] == reply.json()["id"]
    assert "other arguments" in rows[2]["refused"]
    stored = collector.store.query("SELECT approver, tool_name FROM agentaudit.approvals").rows
    assert stored == [("rita", "send_email")]
    assert grant not in json.dumps(
        collector.store.query("SELECT attributes FROM agentaudit.tool_calls").rows
    )
