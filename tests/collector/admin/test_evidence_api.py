"""Legal holds and erasure through the admin API: the real app on a real port over chdb.

Only the responder token may place, list or release holds or erase a user: no token and a
wrong token are 401, the shared agent token and a per-agent token are 403 and change
nothing. Malformed, oversized and hostile bodies are refused with a precise status; the
typed client drives the happy path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentaudit.client import AdminApiRefused, AdminClient
from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.erasure_api import erasure_routes
from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.admin.holds_api import hold_routes
from agentaudit.collector.evidence import EvidenceService
from agentaudit.collector.identity.principals import Authenticator, Registration, token_digest
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations

ADMIN = "responder-token-for-evidence-0123456789"
AGENT = "shared-agent-token-for-evidence-012345"
PER_AGENT = "per-agent-token-of-mail-agent-0123456"


def _lookup(digest: str) -> Registration | None:
    """The registry's seam (token digest -> registration), knowing one agent."""
    return Registration("mail-agent") if digest == token_digest(PER_AGENT) else None


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("evidence-api") / "store"
    with Store.open(embedded_dsn(directory)) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture(scope="module")
def url(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    evidence = EvidenceService(
        store, state_dir=tmp_path_factory.mktemp("state"), offline=True, erase_wait_seconds=1
    )
    gate = Gate(Authenticator(agent_token=AGENT, admin_token=ADMIN, lookup=_lookup))
    app = build_admin_app(
        store,
        gate=gate,
        extra_routes=[*hold_routes(evidence, gate), *erasure_routes(evidence, gate)],
    )
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def _holds(store: Store) -> int:
    return int(store.query("SELECT count() FROM agentaudit.legal_holds").rows[0][0])


CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/holds", None),
    ("POST", "/v1/holds", {"kind": "agent", "value": "mail-agent", "reason": "m-1"}),
    ("POST", "/v1/holds/abc/release", {"reason": "done"}),
    ("POST", "/v1/erasures", {"subject": "user-1234", "reason": "ticket"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("not-the-token", 401), (AGENT, 403), (PER_AGENT, 403)],
)
def test_only_the_responder_may_call(  # noqa: PLR0917 - pytest passes parameters positionally
    store: Store,
    url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    token: str | None,
    status: int,
) -> None:
    before = _holds(store)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.request(method, url + path, json=body, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert _holds(store) == before
    assert store.query("SELECT count() FROM agentaudit.erasures").rows[0][0] == 0


def test_a_responder_places_lists_and_releases_a_hold(store: Store, url: str) -> None:
    client = AdminClient(url, token=ADMIN)
    placed = client.place_hold(
        {"kind": "time", "from": "2026-11-01T00:00:00Z", "to": "2026-11-02", "reason": "m-2",
         "requested_by": "legal@corp"}
    )["hold"]  # fmt: skip
    assert placed["kind"] == "time"
    assert placed["from"] == "2026-11-01T00:00:00.000000Z"
    assert placed["placed_by"] == "legal@corp"
    assert placed["active"] is True
    listed = {h["hold_id"]: h for h in client.holds()}
    assert listed[placed["hold_id"]]["reason"] == "m-2"
    released = client.release_hold(placed["hold_id"], reason="settled", requested_by="legal")
    assert released["hold"]["active"] is False
    with pytest.raises(AdminApiRefused) as again:
        client.release_hold(placed["hold_id"], reason="twice", requested_by="legal")
    assert again.value.status == 409
    with pytest.raises(AdminApiRefused) as unknown:
        client.release_hold("no-such-hold", reason="x", requested_by="legal")
    assert unknown.value.status == 404


def test_a_responder_erases_a_user_unless_held(store: Store, url: str) -> None:
    store.command(
        "INSERT INTO agentaudit.denylist (kind, value, since, until, lifted_at, reason, "
        "revocation_id, updated_at) VALUES ('user', 'user-erase-me', now64(6), NULL, NULL, "
        "'abuse', 'rev-1', now64(6))"
    )
    client = AdminClient(url, token=ADMIN)
    hold = client.place_hold({"kind": "user", "value": "user-erase-me", "reason": "m-3"})["hold"]
    with pytest.raises(AdminApiRefused) as refused:
        client.erase("user-erase-me", reason="ticket 9", requested_by="dpo")
    assert refused.value.status == 409
    assert "legal hold" in str(refused.value)
    client.release_hold(hold["hold_id"], reason="closed", requested_by="legal")
    report = client.erase("user-erase-me", reason="ticket 9", requested_by="dpo")["erasure"]
    # The deny-list entry, and the (released) hold that named the user.
    assert report["tables"] == {"denylist": 1, "legal_holds": 2}
    assert report["replacement"].startswith("erased:")
    left = store.query(
        "SELECT count() FROM agentaudit.denylist WHERE value = 'user-erase-me'"
    ).rows[0][0]
    assert left == 0
    assert store.query("SELECT actor FROM agentaudit.erasures").rows == [("dpo",)]


BAD: list[tuple[str, Any, int, str]] = [
    ("/v1/holds", b"{not json", 400, "not valid JSON"),
    ("/v1/holds", [1, 2], 400, "JSON object"),
    ("/v1/holds", {"kind": "planet", "value": "x", "reason": "r"}, 400, "one of session"),
    ("/v1/holds", {"kind": "session", "reason": "r"}, 400, "needs the session id"),
    ("/v1/holds", {"kind": "agent", "value": "a"}, 400, "needs a reason"),
    ("/v1/holds", {"kind": "time", "from": "yesterday", "to": "now", "reason": "r"}, 400,
     "not an ISO 8601 time"),
    ("/v1/holds", {"kind": "time", "from": 1e300, "to": 2e300, "reason": "r"}, 400,
     "between 1970 and 9999"),
    ("/v1/holds", {"kind": "time", "from": [1], "to": {}, "reason": "r"}, 400, "not an ISO"),
    ("/v1/holds", {"kind": "agent", "value": "a" * 2000, "reason": "r"}, 400, "at most"),
    ("/v1/holds", {"kind": "agent", "value": "x", "reason": "r" * 20_000}, 413, "larger"),
    ("/v1/erasures", {"subject": 5, "reason": "r"}, 400, "must be strings"),
    ("/v1/erasures", {"subject": "user-1234", "reason": "r", "identifiers": "a@b.c"}, 400,
     "list of strings"),
    ("/v1/erasures", {"subject": "u", "reason": "ticket"}, 409, "shorter than"),
    ("/v1/erasures", {"subject": "user-1234", "reason": "erase user-1234"}, 409,
     "must not name"),
    ("/v1/erasures", {"subject": "user-1234", "reason": "r", "identifiers": ["x" * 9] * 9000},
     413, "larger"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD)
def test_malformed_and_hostile_bodies_are_refused(  # noqa: PLR0917 - pytest passes parameters positionally
    store: Store, url: str, path: str, body: Any, status: int, message: str
) -> None:
    before = _holds(store)
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    content = body if isinstance(body, bytes) else httpx.Request("POST", url, json=body).content
    answer = httpx.post(url + path, content=content, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert _holds(store) == before
