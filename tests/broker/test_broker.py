"""Mint, verify, revoke, expiry and replay of just-in-time credentials."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from agentaudit.broker import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    CredentialRefused,
    DenyEntry,
    DenyList,
    DenySnapshot,
    MintRefused,
    SigningKey,
    Verifier,
)
from agentaudit.schema.attributes import (
    CREDENTIAL_EXPIRES_AT,
    CREDENTIAL_ID,
    CREDENTIAL_SCOPES,
)
from tests.broker.helpers import FakeClock

TOOL = "calendar.delete_event"
RESOURCE = "calendar:evt-12345"


def _broker(clock: FakeClock, **kwargs: object) -> Broker:
    return Broker(
        clock=clock,
        tool_scopes={TOOL: ["calendar.events.write"], "mail.send": ["mail.send"]},
        **kwargs,  # type: ignore[arg-type]
    )


def _mint(broker: Broker, **overrides: object) -> str:
    args: dict[str, object] = {
        "user": "alice",
        "agent": "mail-assistant",
        "tool": TOOL,
        "resource": RESOURCE,
        "session": "sess-1",
    }
    args.update(overrides)
    return broker.mint(**args).token  # type: ignore[arg-type]


def _payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def test_token_carries_the_claims_of_the_design(clock: FakeClock) -> None:
    broker = _broker(clock)
    credential = broker.mint(
        user="alice", agent="mail-assistant", tool=TOOL, resource=RESOURCE, session="sess-1"
    )
    claims = _payload(credential.token)
    assert claims["sub"] == "alice"
    assert claims["act"] == {"sub": "mail-assistant"}
    assert claims["aud"] == TOOL
    assert claims["resource"] == RESOURCE
    assert claims["scope"] == "calendar.events.write"
    assert claims["jti"] == credential.id
    assert claims["exp"] == int(clock.now) + 60
    assert claims["sid"] == "sess-1"
    header = json.loads(base64.urlsafe_b64decode(credential.token.split(".")[0] + "=="))
    assert header["alg"] == "EdDSA"
    assert header["kid"] == broker.key.kid


def test_mint_verify_revoke_refused_at_once(clock: FakeClock) -> None:
    broker = _broker(clock)
    token = _mint(broker)
    claims = broker.verify(token, tool=TOOL, resource=RESOURCE)
    assert (claims.user, claims.agent) == ("alice", "mail-assistant")

    broker.revoke(claims.id, reason="prompt injection")
    with pytest.raises(CredentialRefused) as refused:
        broker.verify(token, tool=TOOL, resource=RESOURCE)
    assert refused.value.reason == "revoked"


def test_remote_verifier_refuses_within_one_second_of_a_revoke(clock: FakeClock) -> None:
    broker = _broker(clock)
    fetches: list[float] = []

    def source() -> DenySnapshot:
        fetches.append(clock.now)
        # What GET /v1/denylist serves, through its JSON form.
        return DenySnapshot.from_json(json.loads(json.dumps(broker.denylist.snapshot().to_json())))

    verifier = Verifier(broker.jwks(), denylist=source, clock=clock, refresh_interval=0.5)
    token = _mint(broker)
    assert verifier.verify(token, tool=TOOL, resource=RESOURCE).agent == "mail-assistant"

    broker.revoke(_payload(token)["jti"])  # type: ignore[arg-type]
    clock.advance(0.999)
    with pytest.raises(CredentialRefused) as refused:
        verifier.verify(token, tool=TOOL, resource=RESOURCE)
    assert refused.value.reason == "revoked"
    assert len(fetches) == 2


def test_replay_against_another_tool_or_resource_is_refused(clock: FakeClock) -> None:
    broker = _broker(clock)
    token = _mint(broker)
    with pytest.raises(CredentialRefused) as other_resource:
        broker.verify(token, tool=TOOL, resource="calendar:evt-99999")
    assert other_resource.value.reason == "wrong_resource"
    with pytest.raises(CredentialRefused) as other_tool:
        broker.verify(token, tool="mail.send", resource=RESOURCE)
    assert other_tool.value.reason == "wrong_audience"
    with pytest.raises(CredentialRefused) as two_resources:
        broker.verify(token, tool=TOOL, resource=[RESOURCE, "calendar:evt-2"])
    assert two_resources.value.reason == "wrong_resource"


def test_expiry_is_enforced_with_the_injected_clock(clock: FakeClock) -> None:
    broker = _broker(clock)
    token = _mint(broker)
    clock.advance(59.9)
    broker.verify(token, tool=TOOL, resource=RESOURCE)
    clock.advance(0.1)
    with pytest.raises(CredentialRefused) as refused:
        broker.verify(token, tool=TOOL, resource=RESOURCE)
    assert refused.value.reason == "expired"


def test_custom_ttl_and_bounds(clock: FakeClock) -> None:
    broker = _broker(clock)
    assert broker.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE, ttl=5).expires_at == (
        int(clock.now) + 5
    )
    with pytest.raises(BrokerError, match="ttl"):
        broker.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE, ttl=0)
    with pytest.raises(BrokerError, match="user"):
        broker.mint(user=" ", agent="a", tool=TOOL, resource=RESOURCE)
    with pytest.raises(BrokerError, match="resource"):
        broker.mint(user="u", agent="a", tool=TOOL, resource=[])


def test_a_token_from_another_key_or_tampered_is_refused(clock: FakeClock) -> None:
    broker, other = _broker(clock), _broker(clock)
    with pytest.raises(CredentialRefused) as unknown:
        broker.verify(_mint(other), tool=TOOL, resource=RESOURCE)
    assert unknown.value.reason == "unknown_key"

    header, payload, signature = _mint(broker).split(".")
    claims = _payload(f"{header}.{payload}.{signature}")
    claims["resource"] = "calendar:evt-99999"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(CredentialRefused) as tampered:
        broker.verify(f"{header}.{forged}.{signature}", tool=TOOL, resource="calendar:evt-99999")
    assert tampered.value.reason == "bad_signature"
    with pytest.raises(CredentialRefused) as garbage:
        broker.verify("not-a-jwt", tool=TOOL, resource=RESOURCE)
    assert garbage.value.reason == "malformed"


def test_issuer_is_checked(clock: FakeClock) -> None:
    key = SigningKey.generate()
    minting = Broker(key=key, issuer="someone-else", clock=clock)
    verifier = Verifier(key.jwks(), denylist=DenySnapshot.empty, clock=clock)
    token = minting.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE).token
    with pytest.raises(CredentialRefused) as refused:
        verifier.verify(token, tool=TOOL, resource=RESOURCE)
    assert refused.value.reason == "wrong_issuer"


def test_scopes_are_limited_to_the_tools_configuration(clock: FakeClock) -> None:
    broker = _broker(clock)
    with pytest.raises(MintRefused) as refused:
        broker.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE, scopes=["admin"])
    assert refused.value.reason == "scope_not_allowed"
    # A tool the configuration does not list gets no scope (an agent could ask for any):
    with pytest.raises(MintRefused) as unknown:
        broker.mint(user="u", agent="a", tool="free.tool", resource="r", scopes=["read"])
    assert unknown.value.reason == "unknown_tool"
    assert "[broker.tools." in str(unknown.value)
    scopeless = broker.mint(user="u", agent="a", tool="free.tool", resource="r")
    assert scopeless.claims.scopes == ()
    # ... unless unknown tools are explicitly allowed.
    lenient = Broker(key=broker.key, clock=clock, unknown_tools="allow")
    narrow = lenient.mint(user="u", agent="a", tool="free.tool", resource="r", scopes=["read"])
    with pytest.raises(CredentialRefused) as missing:
        lenient.verify(narrow.token, tool="free.tool", resource="r", scopes=["read", "write"])
    assert missing.value.reason == "insufficient_scope"
    assert missing.value.missing_scopes == ("write",)


class _Cards:
    """A per-(agent, tool) scope policy: the shape of the identity-card catalog's."""

    def __init__(self, cards: dict[tuple[str, str], tuple[str, ...]]) -> None:
        self.cards = cards

    def allowed_scopes(self, agent: str, tool: str) -> tuple[str, ...] | None:
        return self.cards.get((agent, tool))

    def describe(self) -> str:
        return "catalog cards.toml"


def test_a_scope_policy_decides_per_agent_and_tool(clock: FakeClock) -> None:
    """With a policy the [broker.tools] table is not used: the same tool has different
    scopes for two agents, and a tool that is not an agent's gets none."""
    cards = _Cards({("mail-assistant", TOOL): ("calendar.events.read",), ("cal", TOOL): ()})
    broker = _broker(clock, scope_policy=cards, unknown_tools="allow")
    least = broker.mint(user="u", agent="mail-assistant", tool=TOOL, resource=RESOURCE)
    assert least.claims.scopes == ("calendar.events.read",)  # asked for none: what it allows
    with pytest.raises(MintRefused) as wider:
        broker.mint(
            user="u", agent="mail-assistant", tool=TOOL, resource=RESOURCE,
            scopes=["calendar.events.write"],
        )  # fmt: skip
    assert wider.value.reason == "scope_not_allowed"
    assert "calendar.events.write" in str(wider.value)
    assert "catalog cards.toml" in str(wider.value)
    with pytest.raises(MintRefused):  # another agent's card allows this tool nothing
        broker.mint(
            user="u", agent="cal", tool=TOOL, resource=RESOURCE, scopes=["calendar.events.read"]
        )
    with pytest.raises(MintRefused) as unlisted:  # unknown_tools = "allow" does not apply
        broker.mint(user="u", agent="mail-assistant", tool="mail.send", resource="r", scopes=["x"])
    assert unlisted.value.reason == "unknown_tool"
    assert "not on agent 'mail-assistant'" in str(unlisted.value)
    bare = broker.mint(user="u", agent="mail-assistant", tool="mail.send", resource="r")
    assert bare.claims.scopes == ()


def test_credential_attributes_never_hold_the_secret(clock: FakeClock) -> None:
    credential = _broker(clock).mint(user="u", agent="a", tool=TOOL, resource=RESOURCE)
    attributes = credential.span_attributes()
    assert attributes == {
        CREDENTIAL_ID: credential.id,
        CREDENTIAL_SCOPES: ["calendar.events.write"],
        CREDENTIAL_EXPIRES_AT: credential.expires_at,
    }
    assert credential.token not in repr(credential)
    assert credential.token not in json.dumps(attributes)


def test_agent_revocation_refuses_old_tokens_and_new_mints_until_release(
    clock: FakeClock,
) -> None:
    broker = _broker(clock)
    old = _mint(broker)
    clock.advance(1)
    broker.revoke_principal("agent", "mail-assistant", reason="anomaly")
    with pytest.raises(CredentialRefused) as refused:
        broker.verify(old, tool=TOOL, resource=RESOURCE)
    assert refused.value.reason == "revoked"
    with pytest.raises(MintRefused):
        _mint(broker)
    _mint(broker, agent="another-agent")  # other agents are unaffected

    clock.advance(5)
    broker.release_principal("agent", "mail-assistant", reason="false positive")
    clock.advance(1)
    fresh = _mint(broker)
    broker.verify(fresh, tool=TOOL, resource=RESOURCE)
    with pytest.raises(CredentialRefused):
        broker.verify(old, tool=TOOL, resource=RESOURCE)  # a release revives nothing


def test_user_and_session_revocations(clock: FakeClock) -> None:
    broker = _broker(clock)
    by_user, by_session = _mint(broker, user="bob"), _mint(broker, session="sess-9")
    clock.advance(1)
    broker.revoke_principal("user", "bob")
    broker.revoke_principal("session", "sess-9")
    for token in (by_user, by_session):
        with pytest.raises(CredentialRefused):
            broker.verify(token, tool=TOOL, resource=RESOURCE)
    broker.verify(_mint(broker, user="carol", session="sess-2"), tool=TOOL, resource=RESOURCE)


class ListStore:
    """A DenyListStore kept in a list (the ClickHouse one is tested with the collector)."""

    def __init__(self) -> None:
        self.saved: list[DenyEntry] = []

    def load(self) -> list[DenyEntry]:
        return list(self.saved)

    def save(self, entry: DenyEntry) -> None:
        self.saved.append(entry)


def test_denylist_survives_a_restart_through_its_store(clock: FakeClock) -> None:
    store, key = ListStore(), SigningKey.generate()
    first = Broker(key=key, clock=clock, denylist=DenyList(store, clock=clock))
    token = first.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE).token
    first.revoke(_payload(token)["jti"])  # type: ignore[arg-type]
    restarted = Broker(key=key, clock=clock, denylist=DenyList(store, clock=clock))
    with pytest.raises(CredentialRefused):
        restarted.verify(token, tool=TOOL, resource=RESOURCE)


def test_revoked_credential_entries_are_pruned_after_expiry(clock: FakeClock) -> None:
    broker = _broker(clock)
    credential = broker.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE)
    broker.revoke(credential.id)
    assert credential.id in broker.denylist.snapshot().credentials
    clock.advance(61)
    assert credential.id not in broker.denylist.snapshot().credentials


def test_verifier_fails_closed_when_the_denylist_is_stale(clock: FakeClock) -> None:
    broker = _broker(clock)
    healthy = [True]

    def source() -> DenySnapshot:
        if not healthy[0]:
            raise OSError("connection refused")
        return broker.denylist.snapshot()

    verifier = Verifier(broker.jwks(), denylist=source, clock=clock, max_staleness=10)
    token = _mint(broker)
    verifier.verify(token, tool=TOOL, resource=RESOURCE)
    healthy[0] = False
    clock.advance(5)
    verifier.verify(token, tool=TOOL, resource=RESOURCE)  # last good list is recent enough
    clock.advance(6)
    with pytest.raises(CredentialRefused) as refused:
        verifier.verify(token, tool=TOOL, resource=RESOURCE)
    assert refused.value.reason == "denylist_unavailable"


def test_snapshot_json_round_trip_and_bad_input(clock: FakeClock) -> None:
    broker = _broker(clock)
    broker.revoke("jti-1")
    broker.revoke_principal("agent", "a1")
    snapshot = broker.denylist.snapshot()
    assert DenySnapshot.from_json(json.loads(json.dumps(snapshot.to_json()))) == snapshot
    with pytest.raises(ValueError, match="malformed"):
        DenySnapshot.from_json({"credentials": 3})


def test_key_file_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "broker.pem"
    key = SigningKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert SigningKey.load_or_create(path).kid == key.kid
    assert "d" not in key.jwks()["keys"][0]
    assert "PRIVATE" not in repr(key)
    path.write_bytes(b"not a key")
    with pytest.raises(BrokerError, match="PEM"):
        SigningKey.load_or_create(path)


def test_verifier_refuses_a_private_jwks() -> None:
    with pytest.raises(BrokerError, match="private"):
        Verifier(
            {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA", "d": "AA"}]},
            denylist=DenySnapshot.empty,
        )


def test_missing_jose_library_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(BrokerUnavailable, match=r"agentaudit\[broker\]"):
        Broker()


@pytest.mark.parametrize(
    "lookalike",
    ["Victim", "VICTIM", " victim ", "\uff56ictim", "vіctim", "victim\u200b", "vic\u0000tim"],
)
def test_a_look_alike_id_does_not_mint_past_a_revoked_agent(
    clock: FakeClock, lookalike: str
) -> None:
    """Case and compatibility forms name the same (revoked) agent; ids that still hold
    other characters (a Cyrillic i, a zero-width space, a NUL) are refused outright."""
    broker = _broker(clock)
    broker.revoke_principal("agent", "victim", reason="compromised")
    with pytest.raises(MintRefused) as refused:
        broker.mint(user="u", agent=lookalike, tool=TOOL, resource=RESOURCE)
    assert refused.value.reason in ("revoked", "invalid_agent")
