"""The revocation routes in a real Starlette app served by HttpServer, over chdb.

Covers the security invariant: the agent token can read quarantine state and obtain
credentials, but presenting it to a responder endpoint is refused and recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from agentaudit.broker import (
    BrokerError,
    CredentialClient,
    CredentialRefused,
    HttpDenyListSource,
    MintRefused,
    Verifier,
    fetch_jwks,
)
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.broker.helpers import FakeClock
from tests.broker.receivers import RunningReceiver

ADMIN = "responder-token"
AGENT = "agent-token"
AS_ADMIN = {"authorization": f"Bearer {ADMIN}"}
AS_AGENT = {"authorization": f"Bearer {AGENT}"}
SECRET = "whsec-api"
TOOL = "calendar.delete_event"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("revocation-api") / "store"
    with Store.open(embedded_dsn(directory)) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture(scope="module")
def receiver() -> Iterator[RunningReceiver]:
    with RunningReceiver(SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def path(
    store: Store, receiver: RunningReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RevocationPath]:
    sections = {
        "revocation": {
            "dashboard_url": "http://127.0.0.1:8501",
            "webhook": [{"name": "chat", "url": receiver.url, "secret_env": "HOOK_SECRET"}],
        },
        "broker": {"tools": {TOOL: {"scopes": ["calendar.events.write"]}}},
    }
    built = build_revocation_path(
        store,
        sections,
        default_key_file=tmp_path_factory.mktemp("keys") / "broker.pem",
        environ={"HOOK_SECRET": SECRET},
    )
    yield built
    built.close()


def _serve(app: Starlette) -> Iterator[httpx.Client]:
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            yield client
    finally:
        server.stop()


TOKENS = Authenticator(agent_token=AGENT, admin_token=ADMIN)


@pytest.fixture(scope="module")
def api(path: RevocationPath) -> Iterator[httpx.Client]:
    yield from _serve(Starlette(routes=path.routes(path.gate(TOKENS))))


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _revoke(api: httpx.Client, target: str, target_id: str, **extra: object) -> httpx.Response:
    body = {
        "target": target,
        "id": target_id,
        "reason": "prompt injection",
        "requested_by": "oncall",
    }
    return api.post("/v1/revocations", json={**body, **extra}, headers=AS_ADMIN)


def _mint(api: httpx.Client, agent: str, **extra: object) -> httpx.Response:
    body = {"user": "alice", "agent": agent, "tool": TOOL, "resource": "calendar:evt-1"}
    return api.post("/v1/credentials", json={**body, **extra}, headers=AS_AGENT)


def _rows(store: Store, target_id: str) -> list[tuple[object, ...]]:
    return store.query(
        "SELECT action, status, target, requested_by FROM agentaudit.revocations "
        "WHERE target_id = {t:String} ORDER BY updated_at",
        {"t": target_id},
    ).rows


# --- the agent token on responder endpoints ---------------------------------------------


def test_agent_token_cannot_revoke_and_the_attempt_is_recorded(
    api: httpx.Client, store: Store
) -> None:
    victim = _unique("other-agent")
    reply = api.post(
        "/v1/revocations",
        json={"target": "agent", "id": victim, "reason": "x", "requested_by": "me"},
        headers=AS_AGENT,
    )
    assert reply.status_code == 403
    assert "recorded" in reply.json()["error"]
    assert _rows(store, victim) == [("revoke", "refused", "agent", "agent:(shared token)")]


def test_agent_token_cannot_lift_its_quarantine(
    api: httpx.Client, store: Store, path: RevocationPath
) -> None:
    agent = _unique("mail-assistant")
    assert _revoke(api, "agent", agent).status_code == 200
    reply = api.request(
        "DELETE",
        f"/v1/quarantine/{agent}",
        json={"reason": "let me out", "requested_by": agent},
        headers=AS_AGENT,
    )
    assert reply.status_code == 403
    assert path.quarantine.is_quarantined(agent)
    recorded = store.query(
        "SELECT status, results['actions'] FROM agentaudit.revocations FINAL "
        "WHERE id = {id:String}",
        {"id": reply.json()["recorded"]},
    ).rows
    assert recorded[0][0] == "refused"
    assert "release" in recorded[0][1]


def test_missing_or_wrong_tokens_are_401_and_not_recorded(api: httpx.Client, store: Store) -> None:
    target = _unique("agent")
    body = {"target": "agent", "id": target, "reason": "x", "requested_by": "me"}
    assert api.post("/v1/revocations", json=body).status_code == 401
    wrong = {"authorization": "Bearer guess"}
    assert api.post("/v1/revocations", json=body, headers=wrong).status_code == 401
    assert api.get("/v1/quarantine", params={"agent": target}).status_code == 401
    assert api.post("/v1/credentials", json={}).status_code == 401
    assert _rows(store, target) == []


# --- responders ---------------------------------------------------------------------------


def test_revoke_an_agent_fans_out_and_quarantines(
    api: httpx.Client, store: Store, receiver: RunningReceiver
) -> None:
    agent = _unique("mail-assistant")
    minted = _mint(api, agent)
    assert minted.status_code == 201

    reply = _revoke(api, "agent", agent)
    assert reply.status_code == 200
    outcome = reply.json()
    assert outcome["status"] == "done"
    assert set(outcome["results"]) == {"broker", "chat"}
    assert outcome["results"]["chat"]["response"]["status"] == 200
    assert outcome["quarantine"]["quarantined"] is True
    assert receiver.receiver.deliveries[-1].payload["target_id"] == agent
    # Versions of one row may already be merged (ReplacingMergeTree): check the newest.
    assert _rows(store, agent)[-1][:2] == ("revoke", "done")

    state = api.get("/v1/quarantine", params={"agent": agent}, headers=AS_AGENT).json()
    assert state["quarantined"] is True
    assert state["allowed"] is False
    assert state["blocked"]["agent"] is True
    refused = _mint(api, agent)
    assert refused.status_code == 403
    assert refused.json()["reason"] == "quarantined"

    record = api.get(f"/v1/revocations/{outcome['id']}", headers=AS_ADMIN).json()
    assert record["status"] == "done"
    assert set(record["results"]) == {"broker", "chat"}


def test_release_with_a_reason_then_mint_again(api: httpx.Client, store: Store) -> None:
    agent = _unique("agent")
    _revoke(api, "agent", agent)
    no_reason = api.request("DELETE", f"/v1/quarantine/{agent}", headers=AS_ADMIN)
    assert no_reason.status_code == 400
    reply = api.request(
        "DELETE",
        f"/v1/quarantine/{agent}",
        json={"reason": "false positive", "requested_by": "lead"},
        headers=AS_ADMIN,
    )
    assert reply.status_code == 200
    assert reply.json()["action"] == "release"
    assert reply.json()["quarantine"]["state"] == "released"
    state = api.get("/v1/quarantine", params={"agent": agent}, headers=AS_AGENT).json()
    assert (state["quarantined"], state["allowed"]) == (False, True)
    assert _mint(api, agent).status_code == 201
    again = api.request(
        "DELETE",
        f"/v1/quarantine/{agent}",
        params={"reason": "again", "requested_by": "lead"},
        headers=AS_ADMIN,
    )
    assert again.status_code == 404
    assert _rows(store, agent)[-1][:2] == ("release", "done")


def test_credential_flow_with_a_tool_side_verifier(api: httpx.Client) -> None:
    agent = _unique("agent")
    minted = _mint(api, agent, session="sess-1", scopes=["calendar.events.write"])
    assert minted.status_code == 201
    assert minted.headers["cache-control"] == "no-store"
    credential = minted.json()
    assert credential["scopes"] == ["calendar.events.write"]
    assert credential["expires_at"] - credential["issued_at"] == 60

    base = str(api.base_url)
    clock = FakeClock(float(credential["issued_at"]))
    verifier = Verifier(
        fetch_jwks(base),  # public keys need no token
        denylist=HttpDenyListSource(base, token=AGENT),
        clock=clock,
        refresh_interval=0.5,
    )
    claims = verifier.verify(credential["token"], tool=TOOL, resource="calendar:evt-1")
    assert claims.session == "sess-1"

    assert _revoke(api, "credential", credential["credential_id"]).json()["status"] == "done"
    clock.advance(0.5)
    with pytest.raises(CredentialRefused) as refused:
        verifier.verify(credential["token"], tool=TOOL, resource="calendar:evt-1")
    assert refused.value.reason == "revoked"


def test_the_agent_side_client_gets_and_is_refused_credentials(api: httpx.Client) -> None:
    agent = _unique("agent")
    client = CredentialClient(str(api.base_url), environ={"AGENTAUDIT_TOKEN": AGENT})
    credential = client.request(
        user="alice", agent=agent, tool=TOOL, resource="calendar:evt-1", session="s"
    )
    assert credential.scopes == ("calendar.events.write",)
    assert credential.claims.resources == ("calendar:evt-1",)
    assert credential.token not in repr(credential)
    _revoke(api, "agent", agent)
    with pytest.raises(MintRefused) as refused:
        client.request(user="alice", agent=agent, tool=TOOL, resource="calendar:evt-1")
    assert refused.value.reason == "quarantined"
    anonymous = CredentialClient(str(api.base_url), environ={})
    with pytest.raises(BrokerError, match="AGENTAUDIT_TOKEN"):
        anonymous.request(user="alice", agent=agent, tool=TOOL, resource="r")


def test_minting_refuses_scopes_beyond_the_tools_configuration(api: httpx.Client) -> None:
    reply = _mint(api, _unique("agent"), scopes=["admin"])
    assert reply.status_code == 403
    assert reply.json()["reason"] == "scope_not_allowed"
    assert _mint(api, _unique("agent"), resource=5).status_code == 400
    assert _mint(api, _unique("agent"), ttl="60").status_code == 400
    assert _mint(api, "", ttl=60).status_code == 400


def test_retry_endpoint(api: httpx.Client) -> None:
    done = _revoke(api, "credential", _unique("jti")).json()
    conflict = api.post(f"/v1/revocations/{done['id']}/retry", headers=AS_ADMIN)
    assert conflict.status_code == 409
    assert api.post("/v1/revocations/nope/retry", headers=AS_ADMIN).status_code == 404
    assert api.post(f"/v1/revocations/{done['id']}/retry", headers=AS_AGENT).status_code == 403


def test_bad_revocation_requests(api: httpx.Client) -> None:
    assert api.post("/v1/revocations", content=b"x", headers=AS_ADMIN).status_code == 415
    assert _revoke(api, "tenant", "x").status_code == 400
    assert _revoke(api, "agent", " ").status_code == 400
    assert _revoke(api, "agent", "a", trigger="span").status_code == 400
    assert api.get("/v1/revocations/nope", headers=AS_ADMIN).status_code == 404


def test_quarantine_listing_is_for_responders(api: httpx.Client) -> None:
    agent = _unique("agent")
    _revoke(api, "agent", agent)
    assert api.get("/v1/quarantine", headers=AS_AGENT).status_code == 400
    listing = api.get("/v1/quarantine", headers=AS_ADMIN).json()["quarantined"]
    assert agent in {state["agent"] for state in listing}
    never = api.get("/v1/quarantine", params={"agent": _unique("new")}, headers=AS_AGENT).json()
    assert (never["quarantined"], never["allowed"]) == (False, True)


def test_user_revocation_blocks_minting_and_shows_in_state(api: httpx.Client) -> None:
    user = _unique("bob")
    assert _revoke(api, "user", user).json()["quarantine"] is None
    reply = _mint(api, _unique("agent"), user=user)
    assert reply.status_code == 403
    assert reply.json()["reason"] == "revoked"
    state = api.get(
        "/v1/quarantine", params={"agent": _unique("a"), "user": user}, headers=AS_AGENT
    ).json()
    assert state["blocked"]["user"] is True
    assert state["allowed"] is False


# --- other token configurations -------------------------------------------------------------


def test_agent_endpoints_need_a_token(path: RevocationPath) -> None:
    app = Starlette(routes=path.routes(path.gate(TOKENS)))
    for client in _serve(app):
        assert client.post("/v1/credentials", json={"user": "u"}).status_code == 401
        assert client.get("/v1/quarantine", params={"agent": "a"}).status_code == 401
        assert client.get("/v1/denylist").status_code == 401
        assert client.post("/v1/revocations", json={}).status_code == 401
        assert client.get("/v1/jwks").status_code == 200  # public keys are public


def test_open_mode_is_explicit_and_everyone_is_a_responder(path: RevocationPath) -> None:
    open_mode = Authenticator(agent_token=None, admin_token=None, open_mode=True)
    app = Starlette(routes=path.routes(path.gate(open_mode)))
    for client in _serve(app):
        agent = _unique("agent")
        body = {"target": "agent", "id": agent, "reason": "r", "requested_by": "x"}
        assert client.post("/v1/revocations", json=body).json()["status"] == "done"
        assert client.get("/v1/quarantine").status_code == 200
