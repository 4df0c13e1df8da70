"""The admin app with the revocation path mounted, as the admin process serves it.

A real chdb store, the real path from ``build_revocation_path`` (broker, quarantine,
a signed webhook to the demo's loopback receiver), ``build_admin_app(extra_routes=...)``
served by uvicorn. Checks the issue's part 1: responder-only writes, agents refused and
recorded, every revocation and release audited and queryable through ``/v1/query``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.revocation import (
    RevocationPath,
    build_revocation_path,
    sign_webhook,
)
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.demo.webhook_receiver import AlertReceiver
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from agentaudit.store.sql_guard import quote_string
from tests.collector.admin.gates import gate

ADMIN = "responder-token"
AGENT = "agent-token"
AS_ADMIN = {"authorization": f"Bearer {ADMIN}"}
AS_AGENT = {"authorization": f"Bearer {AGENT}"}
SECRET = "whsec-wiring"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("admin-wiring") / "store"
    with Store.open(embedded_dsn(directory)) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture(scope="module")
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver(SECRET, show=lambda alert: None) as running:
        yield running


@pytest.fixture(scope="module")
def path(
    store: Store, receiver: AlertReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RevocationPath]:
    sections = {
        "revocation": {
            "dashboard_url": "http://127.0.0.1:8501",
            "webhook": [{"name": "secops", "url": receiver.url, "secret": SECRET}],
        }
    }
    built = build_revocation_path(
        store, sections, default_key_file=tmp_path_factory.mktemp("state") / "broker.pem"
    )
    yield built
    built.close()


def _serve(app: Any) -> Iterator[httpx.Client]:
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(store: Store, path: RevocationPath) -> Iterator[httpx.Client]:
    shared = path.gate(Authenticator(agent_token=AGENT, admin_token=ADMIN))
    app = build_admin_app(
        store,
        gate=shared,
        health=lambda: {"spans_written": 0},
        extra_routes=path.routes(shared),
    )
    yield from _serve(app)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _query(api: httpx.Client, sql: str, **parameters: str) -> list[dict[str, Any]]:
    # Investigator SQL takes literals, not {name:Type} parameters (docs/sql.md).
    for name, value in parameters.items():
        sql = sql.replace(f"{{{name}:String}}", quote_string(value))
    reply = api.post("/v1/query", json={"sql": sql}, headers=AS_ADMIN)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    return [dict(zip(data["columns"], row, strict=True)) for row in data["rows"]]


def _revocation_rows(api: httpx.Client, target_id: str) -> list[dict[str, Any]]:
    return _query(
        api,
        "SELECT id, action, target, target_id, status, requested_by, reason "
        "FROM agentaudit.revocations WHERE target_id = {t:String} "
        "ORDER BY updated_at DESC LIMIT 1 BY id",
        t=target_id,
    )


def test_health_and_query_stay_next_to_the_revocation_routes(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok", "spans_written": 0}
    assert _query(api, "SELECT 1 AS one") == [{"one": 1}]
    assert api.get("/v1/jwks").json()["keys"][0]["kty"] == "OKP"


def test_responder_revokes_and_the_revocation_is_audited(
    api: httpx.Client, receiver: AlertReceiver
) -> None:
    agent = _unique("mail-assistant")
    before = len(receiver.alerts)
    reply = api.post(
        "/v1/revocations",
        json={
            "target": "agent",
            "id": agent,
            "reason": "sent the customer list",
            "requested_by": "oncall",
        },
        headers=AS_ADMIN,
    )
    assert reply.status_code == 200, reply.text
    outcome = reply.json()
    assert outcome["status"] == "done"
    assert outcome["action"] == "revoke"
    assert set(outcome["results"]) == {"broker", "secops"}
    assert all(result["ok"] for result in outcome["results"].values())
    assert outcome["quarantine"]["quarantined"] is True

    state = api.get("/v1/quarantine", params={"agent": agent}, headers=AS_AGENT).json()
    assert state["allowed"] is False
    assert state["revocation_id"] == outcome["id"]

    rows = _revocation_rows(api, agent)
    assert [(r["id"], r["action"], r["status"], r["requested_by"]) for r in rows] == [
        (outcome["id"], "revoke", "done", "oncall")
    ]
    alerts = receiver.wait_for(before + 1, timeout=30)
    alert = next(a for a in alerts if a.payload.get("target_id") == agent)
    assert alert.payload["event"] == "agentaudit.revoke"
    assert agent in alert.text
    assert "sent the customer list" in alert.text


def test_release_is_responder_only_and_audited(api: httpx.Client) -> None:
    agent = _unique("released")
    body = {"target": "agent", "id": agent, "reason": "test", "requested_by": "oncall"}
    assert api.post("/v1/revocations", json=body, headers=AS_ADMIN).status_code == 200
    refused = api.request(
        "DELETE", f"/v1/quarantine/{agent}", params={"reason": "mine", "requested_by": "me"},
        headers=AS_AGENT,
    )  # fmt: skip
    assert refused.status_code == 403
    released = api.request(
        "DELETE", f"/v1/quarantine/{agent}",
        params={"reason": "false positive", "requested_by": "oncall"}, headers=AS_ADMIN,
    )  # fmt: skip
    assert released.status_code == 200, released.text
    assert released.json()["action"] == "release"
    state = api.get("/v1/quarantine", params={"agent": agent}, headers=AS_AGENT).json()
    assert state["allowed"] is True
    assert state["state"] == "released"
    actions = sorted((r["action"], r["status"]) for r in _revocation_rows(api, agent))
    assert actions == [("release", "done"), ("release", "refused"), ("revoke", "done")]


def test_agent_token_cannot_revoke_and_the_attempt_is_recorded(api: httpx.Client) -> None:
    victim = _unique("other-agent")
    reply = api.post(
        "/v1/revocations",
        json={"target": "agent", "id": victim, "reason": "x", "requested_by": "rogue"},
        headers=AS_AGENT,
    )
    assert reply.status_code == 403
    recorded = reply.json()["recorded"]
    # Refused attempts are one row per principal and minute (counting every attempt),
    # so the row is found by the id the answer names, not by this attempt's target.
    sql = "SELECT status, requested_by, results['actions'] AS actions FROM agentaudit.revocations"
    (row,) = _query(api, f"{sql} FINAL WHERE id = '{recorded}'")
    assert row["status"] == "refused"
    assert row["requested_by"] == "agent:(shared token)"
    assert "revoke" in json.loads(row["actions"])
    state = api.get("/v1/quarantine", params={"agent": victim}, headers=AS_AGENT).json()
    assert state["allowed"] is True  # the refused attempt changed nothing


def test_agent_token_cannot_query_is_403_and_no_token_is_401(api: httpx.Client) -> None:
    assert api.post("/v1/query", json={"sql": "SELECT 1"}, headers=AS_AGENT).status_code == 403
    body = {"target": "agent", "id": "a", "reason": "x", "requested_by": "y"}
    assert api.post("/v1/revocations", json=body).status_code == 401


def test_without_the_path_there_is_no_revocation_endpoint(store: Store) -> None:
    app = build_admin_app(store, gate=gate(ADMIN, AGENT))
    for client in _serve(app):
        body = {"target": "agent", "id": "a", "reason": "x", "requested_by": "y"}
        assert client.post("/v1/revocations", json=body, headers=AS_ADMIN).status_code == 404


def test_extra_routes_cannot_replace_health_or_query(store: Store) -> None:
    async def endpoint(request: Any) -> Any:
        raise AssertionError("never served")

    with pytest.raises(ValueError, match="/healthz"):
        build_admin_app(store, gate=gate(ADMIN), extra_routes=[Route("/healthz", endpoint)])


# --- the demo's webhook receiver ---------------------------------------------------------


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_receiver_refuses_unsigned_and_forged_alerts_and_dedupes_retries() -> None:
    with AlertReceiver(SECRET, show=lambda alert: None) as receiver:
        body = json.dumps({"text": "agentaudit: Revoked agent `x`", "event": "agentaudit.revoke"})
        raw = body.encode()
        now = int(time.time())
        assert _post(receiver.url, raw, {"Content-Type": "application/json"}) == 401
        forged = {"X-Agentaudit-Signature": sign_webhook("wrong", raw, now)}
        assert _post(receiver.url, raw, forged) == 401
        good = {
            "X-Agentaudit-Signature": sign_webhook(SECRET, raw, now),
            "X-Agentaudit-Delivery": "d1",
        }
        assert _post(receiver.url, raw, good) == 200
        assert _post(receiver.url, raw, good) == 200  # a retry of the same delivery
        assert [a.text for a in receiver.alerts] == ["agentaudit: Revoked agent `x`"]
        assert len(receiver.rejected) == 2
