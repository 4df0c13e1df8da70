"""Per-agent tokens: the registry, its admin routes, and what an agent's own token may do.

A real Starlette admin app on a real port over chdb: the registry's routes and the
revocation routes share one gate, like the collector mounts them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from agentaudit.collector.admin.agents_api import agent_routes
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.identity.principals import (
    AGENT,
    TOOL_SERVER,
    Authenticator,
    Principal,
    Registration,
    token_digest,
)
from agentaudit.collector.identity.registry import (
    AgentExists,
    AgentRegistry,
    ClickHouseAgentStore,
    RegistryError,
    TokenSnapshot,
)
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations

ADMIN = "responder-token-for-tests-0123456789"
SHARED = "shared-agent-token-for-tests-0123456"
AS_ADMIN = {"authorization": f"Bearer {ADMIN}"}
AS_SHARED = {"authorization": f"Bearer {SHARED}"}
TOOL = "mail.send"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("agents") / "store"
    with Store.open(embedded_dsn(directory)) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def registry(store: Store, state: Path) -> AgentRegistry:
    return AgentRegistry(
        ClickHouseAgentStore(store), snapshot=TokenSnapshot(state / "agent-tokens.json")
    )


@pytest.fixture(scope="module")
def path(store: Store, state: Path) -> Iterator[RevocationPath]:
    sections = {"broker": {"tools": {TOOL: {"scopes": ["mail.send"]}}}}
    built = build_revocation_path(store, sections, default_key_file=state / "broker.pem")
    yield built
    built.close()


@pytest.fixture(scope="module")
def api(path: RevocationPath, registry: AgentRegistry) -> Iterator[httpx.Client]:
    gate = path.gate(Authenticator(agent_token=SHARED, admin_token=ADMIN, lookup=registry.lookup))
    app = Starlette(routes=[*path.routes(gate), *agent_routes(registry, gate)])
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            yield client
    finally:
        server.stop()


def _name(prefix: str = "agent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _register(api: httpx.Client, name: str, **more: object) -> str:
    body = {"name": name, "owner": "secops", **more}
    reply = api.post("/v1/agents", json=body, headers=AS_ADMIN)
    assert reply.status_code == 201, reply.text
    token = reply.json()["token"]
    assert isinstance(token, str)
    return token


def _as(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# --- the registry ---------------------------------------------------------------------


def test_the_token_is_shown_once_and_stored_only_as_a_digest(
    api: httpx.Client, store: Store, state: Path
) -> None:
    name = _name()
    token = _register(api, name)
    assert token.startswith("aa_agent_")
    assert len(token) >= 40
    stored = store.query(
        "SELECT token_digest, token_hint FROM agentaudit.agents WHERE name = {n:String}",
        {"n": name},
    ).rows
    assert stored == [(token_digest(token), token[:13])]
    for row in api.get("/v1/agents", headers=AS_ADMIN).json()["agents"]:
        assert "token" not in row
        assert "token_digest" not in row
    snapshot = json.loads((state / "agent-tokens.json").read_text())
    assert snapshot[token_digest(token)] == [name, "agent"]
    assert token not in (state / "agent-tokens.json").read_text()
    assert (state / "agent-tokens.json").stat().st_mode & 0o077 == 0


def test_registering_twice_needs_rotate_and_rotation_replaces_the_token(
    api: httpx.Client, registry: AgentRegistry
) -> None:
    name = _name()
    old = _register(api, name)
    again = api.post("/v1/agents", json={"name": name, "owner": "x"}, headers=AS_ADMIN)
    assert again.status_code == 409
    rotated = api.post(
        "/v1/agents", json={"name": name, "owner": "secops", "rotate": True}, headers=AS_ADMIN
    )
    assert rotated.status_code == 201
    new = rotated.json()["token"]
    assert registry.lookup(token_digest(new)) == Registration(name, AGENT)
    assert registry.lookup(token_digest(old)) is None


def test_names_are_canonical_and_look_alikes_are_refused(registry: AgentRegistry) -> None:
    record, _ = registry.add("Mail-Bot-" + uuid.uuid4().hex[:6], owner="o", actor="t")
    assert record.name == record.name.lower()
    with pytest.raises(AgentExists):
        registry.add(record.name.upper(), owner="o", actor="t")
    for bad in ("vіctim", "a\u200bb", "", "x" * 300, "two words\n"):
        with pytest.raises(RegistryError):
            registry.add(bad, owner="o", actor="t")


def test_a_revoked_token_is_refused_and_the_registry_survives_a_restart(
    api: httpx.Client, store: Store, state: Path
) -> None:
    name = _name()
    token = _register(api, name)
    assert api.get("/v1/quarantine", params={"agent": name}, headers=_as(token)).status_code == 200
    revoked = api.request(
        "DELETE", f"/v1/agents/{name}", json={"reason": "laptop stolen"}, headers=AS_ADMIN
    )
    assert revoked.status_code == 200
    assert revoked.json()["agent"]["state"] == "revoked"
    assert api.get("/v1/quarantine", params={"agent": name}, headers=_as(token)).status_code == 401
    restarted = AgentRegistry(ClickHouseAgentStore(store))
    assert restarted.lookup(token_digest(token)) is None
    assert restarted.get(name) is not None


def test_workers_see_registrations_through_the_snapshot(
    registry: AgentRegistry, state: Path
) -> None:
    reader = TokenSnapshot(state / "agent-tokens.json", interval=0.0)
    record, token = registry.add(_name("worker"), owner="o", actor="t")
    assert reader.lookup(token_digest(token)) == Registration(record.name, AGENT)
    registry.revoke(record.name, actor="t", reason="r")
    assert reader.lookup(token_digest(token)) is None


def test_a_tool_server_is_registered_with_its_kind_everywhere_it_is_read(
    api: httpx.Client, store: Store, state: Path
) -> None:
    name = _name("mcp")
    token = _register(api, name, kind=TOOL_SERVER)
    listed = {
        a["name"]: a["kind"] for a in api.get("/v1/agents", headers=AS_ADMIN).json()["agents"]
    }
    assert listed[name] == TOOL_SERVER
    stored = store.query(
        "SELECT kind FROM agentaudit.agents WHERE name = {n:String}", {"n": name}
    ).rows
    assert stored == [(TOOL_SERVER,)]
    assert json.loads((state / "agent-tokens.json").read_text())[token_digest(token)] == [
        name,
        TOOL_SERVER,
    ]
    restarted = AgentRegistry(ClickHouseAgentStore(store))
    assert restarted.lookup(token_digest(token)) == Registration(name, TOOL_SERVER)
    worker = TokenSnapshot(state / "agent-tokens.json", interval=0.0)
    assert worker.lookup(token_digest(token)) == Registration(name, TOOL_SERVER)


def test_an_unknown_kind_is_refused(api: httpx.Client, registry: AgentRegistry) -> None:
    for kind in ("responder", "open", "", 7, ["tool_server"]):
        reply = api.post(
            "/v1/agents", json={"name": _name(), "owner": "o", "kind": kind}, headers=AS_ADMIN
        )
        assert reply.status_code == 400, kind
        assert reply.json()["error"] == '"kind" must be one of agent, tool_server'
    with pytest.raises(RegistryError, match="kind"):
        registry.add(_name(), owner="o", actor="t", kind="responder")


def test_a_rotation_keeps_the_kind_unless_it_is_given(registry: AgentRegistry) -> None:
    name = _name("server")
    registry.add(name, owner="o", actor="t")
    moved, token = registry.add(name, owner="o", actor="t", rotate=True, kind=TOOL_SERVER)
    assert (moved.kind, moved.reason) == (TOOL_SERVER, "token rotated; kind agent -> tool_server")
    kept, newer = registry.add(name, owner="o", actor="t", rotate=True)
    assert kept.kind == TOOL_SERVER
    assert registry.lookup(token_digest(newer)) == Registration(name, TOOL_SERVER)
    assert registry.lookup(token_digest(token)) is None


def test_a_snapshot_of_an_earlier_version_reads_as_agents(tmp_path: Path) -> None:
    path = tmp_path / "agent-tokens.json"
    path.write_text(
        json.dumps({"d1": "mail-assistant", "d2": ["mcp", TOOL_SERVER], "d3": 7, "d4": ["a"]})
    )
    reader = TokenSnapshot(path, interval=0.0)
    assert reader.lookup("d1") == Registration("mail-assistant", AGENT)
    assert reader.lookup("d2") == Registration("mcp", TOOL_SERVER)
    assert reader.lookup("d3") is None  # not an entry: no principal
    assert reader.lookup("d4") is None


def test_a_registration_of_no_known_kind_proves_an_agent_at_most() -> None:
    # A snapshot file is outside the process; whatever kind it names, a token proves an
    # agent or a tool server, never a responder.
    by_digest = {
        token_digest("d1"): Registration("x", "responder"),
        token_digest("d2"): Registration("y", TOOL_SERVER),
    }
    auth = Authenticator(agent_token=SHARED, admin_token=ADMIN, lookup=by_digest.get)
    assert auth.agent("Bearer d1") == Principal(AGENT, "x")
    assert auth.agent("Bearer d2") == Principal(TOOL_SERVER, "y")
    assert auth.responder("Bearer d1") is None


# --- who may do what ------------------------------------------------------------------


def test_agents_cannot_register_list_or_revoke_agents(api: httpx.Client, store: Store) -> None:
    token = _register(api, _name())
    for headers in (AS_SHARED, _as(token)):
        add = api.post("/v1/agents", json={"name": _name(), "owner": "me"}, headers=headers)
        assert add.status_code == 403
        assert api.get("/v1/agents", headers=headers).status_code == 403
    assert api.post("/v1/agents", json={"name": "x", "owner": "y"}).status_code == 401
    refused = store.query(
        "SELECT requested_by, results['actions'] FROM agentaudit.revocations FINAL "
        "WHERE status = 'refused' AND requested_by = 'agent:(shared token)'"
    ).rows
    assert refused
    assert {"register", "list"} <= set().union(*(json.loads(r[1]) for r in refused))


def test_an_agent_reads_only_its_own_quarantine_state(api: httpx.Client) -> None:
    name = _name()
    token = _register(api, name)
    own = api.get("/v1/quarantine", params={"agent": name.upper()}, headers=_as(token))
    assert own.status_code == 200
    other = api.get("/v1/quarantine", params={"agent": "someone-else"}, headers=_as(token))
    assert other.status_code == 403
    assert other.json()["reason"] == "not_your_agent"
    # the shared token keeps reading any agent's state (compatibility)
    assert (
        api.get("/v1/quarantine", params={"agent": "someone-else"}, headers=AS_SHARED).status_code
        == 200
    )


def test_an_agent_gets_credentials_only_for_itself(api: httpx.Client) -> None:
    name = _name()
    token = _register(api, name)
    body = {"user": "u", "tool": TOOL, "resource": "mail:1", "scopes": ["mail.send"]}
    own = api.post("/v1/credentials", json={**body, "agent": name}, headers=_as(token))
    assert own.status_code == 201, own.text
    other = api.post("/v1/credentials", json={**body, "agent": "victim"}, headers=_as(token))
    assert other.status_code == 403
    assert other.json()["reason"] == "not_your_agent"


def test_a_tool_server_reads_any_agents_state_and_gets_no_credentials(
    api: httpx.Client, store: Store
) -> None:
    name = _name("mcp")
    token = _register(api, name, kind=TOOL_SERVER)
    state = api.get("/v1/quarantine", params={"agent": "mail-assistant"}, headers=_as(token))
    assert state.status_code == 200
    assert state.json()["allowed"] is True
    body = {"user": "u", "tool": TOOL, "resource": "mail:1", "agent": "mail-assistant"}
    minted = api.post("/v1/credentials", json=body, headers=_as(token))
    assert minted.status_code == 403
    assert minted.json()["reason"] == "tool_server"
    assert api.get("/v1/agents", headers=_as(token)).status_code == 403
    refused = store.query(
        "SELECT count() FROM agentaudit.revocations FINAL "
        "WHERE status = 'refused' AND requested_by = {who:String}",
        {"who": f"tool_server:{name}"},
    ).rows
    assert refused[0][0] >= 1


def test_a_look_alike_cannot_mint_while_the_agent_is_quarantined(api: httpx.Client) -> None:
    victim = _name("victim")
    revoke = {"target": "agent", "id": victim, "reason": "r", "requested_by": "rita"}
    assert api.post("/v1/revocations", json=revoke, headers=AS_ADMIN).json()["status"] == "done"
    body = {"user": "u", "tool": TOOL, "resource": "mail:1"}
    for lookalike in (victim.upper(), victim.capitalize(), victim.replace("i", "і", 1)):
        reply = api.post("/v1/credentials", json={**body, "agent": lookalike}, headers=AS_SHARED)
        assert reply.status_code == 403, (lookalike, reply.text)
        assert reply.json()["reason"] in ("quarantined", "revoked", "invalid_agent")
    state = api.get("/v1/quarantine", params={"agent": victim.upper()}, headers=AS_SHARED)
    assert state.json()["allowed"] is False


def test_scopes_for_a_tool_the_broker_does_not_know_are_refused(api: httpx.Client) -> None:
    body = {"user": "u", "agent": _name(), "tool": "db.drop_everything", "resource": "db:1"}
    reply = api.post("/v1/credentials", json={**body, "scopes": ["db.admin"]}, headers=AS_SHARED)
    assert reply.status_code == 403
    assert reply.json()["reason"] == "unknown_tool"


def test_refused_attempts_are_aggregated_per_principal_and_minute(
    api: httpx.Client, store: Store, path: RevocationPath
) -> None:
    token = _register(api, _name("loop"))
    label = None
    for _ in range(40):
        reply = api.post("/v1/revocations", json={"target": "agent", "id": "x"}, headers=_as(token))
        assert reply.status_code == 403
    versions_before_flush = store.query(
        "SELECT count() FROM agentaudit.revocations WHERE requested_by LIKE 'agent:loop-%'"
    ).rows[0][0]
    assert versions_before_flush <= 14  # written at 1, 2, 4, ... attempts: not one per attempt
    path.service.flush_refused()  # what close() does: the last counts
    rows = store.query(
        "SELECT id, requested_by, results['attempts'] FROM agentaudit.revocations FINAL "
        "WHERE status = 'refused' AND requested_by LIKE 'agent:loop-%'"
    ).rows
    label = {r[1] for r in rows}
    assert len(label) == 1
    # one logical row per minute (two if the loop straddled a minute boundary)
    assert 1 <= len(rows) <= 2
    assert sum(int(r[2]) for r in rows) == 40  # every attempt counted
