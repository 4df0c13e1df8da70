"""Card sign-offs through the admin API: the real app on a real port over chdb.

``card_routes`` mounted the way the collector mounts extra routes, behind the gate:
a responder signs (the row names the responder principal), the typed client reads the
history, a forged card is 400, an agent token is 403 and recorded, no token is 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentaudit.catalog import StoreSource, canonical_card, card_hash, newest_signoff, parse_catalog
from agentaudit.client import AdminApiRefused, AdminClient
from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.cards_api import card_routes
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.catalog._seed import DEMO_CATALOG

ADMIN = "responder-token-for-cards-0123456789ab"
AGENT = "agent-token-for-cards-0123456789abcdef"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("cards") / "store"
    with Store.open(embedded_dsn(directory)) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture(scope="module")
def path(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RevocationPath]:
    built = build_revocation_path(
        store, {}, default_key_file=tmp_path_factory.mktemp("cards-state") / "broker.pem"
    )
    yield built
    built.close()


@pytest.fixture(scope="module")
def url(store: Store, path: RevocationPath) -> Iterator[str]:
    gate = path.gate(Authenticator(agent_token=AGENT, admin_token=ADMIN))
    app = build_admin_app(
        store, gate=gate, extra_routes=[*path.routes(gate), *card_routes(store, gate)]
    )
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def card() -> tuple[str, str]:
    entry = parse_catalog(DEMO_CATALOG).agent("mail-assistant")
    assert entry is not None
    return card_hash(entry), canonical_card(entry)


def test_a_responder_signs_and_reads_the_history(store: Store, url: str) -> None:
    digest, content = card()
    client = AdminClient(url, token=ADMIN)
    answer = client.sign_card(
        "Mail-Assistant", signed_by="Dana Reyes", card_hash=digest, card=content
    )
    signoff = answer["signoff"]
    assert (signoff["agent"], signoff["signed_by"], signoff["card_hash"]) == (
        "mail-assistant",
        "Dana Reyes",
        digest,
    )
    assert signoff["recorded_by"]
    assert signoff["recorded_by"] != "cli"
    assert client.card_signoffs("mail-assistant")[0]["entry_hash"] == signoff["entry_hash"]
    stored = newest_signoff(StoreSource(store), "mail-assistant")
    assert stored is not None
    assert stored.card == content


def test_a_card_that_does_not_verify_is_refused(url: str) -> None:
    digest, content = card()
    client = AdminClient(url, token=ADMIN)
    with pytest.raises(AdminApiRefused) as caught:
        client.sign_card("mail-assistant", signed_by="x", card_hash=digest, card=content + " ")
    assert caught.value.status == 400
    with pytest.raises(AdminApiRefused) as caught:
        client.sign_card("calendar-assistant", signed_by="x", card_hash=digest, card=content)
    assert caught.value.status == 400
    with pytest.raises(AdminApiRefused) as caught:
        client.sign_card("mail-assistant", signed_by="", card_hash=digest, card=content)
    assert caught.value.status == 400


def test_an_agent_cannot_sign_its_own_card(store: Store, url: str) -> None:
    digest, content = card()
    before = len(store.query("SELECT * FROM agentaudit.card_signoffs").rows)
    body = {"signed_by": "me", "card_hash": digest, "card": content}
    refused = httpx.post(f"{url}/v1/cards/mail-assistant/signoffs", json=body,
                         headers={"authorization": f"Bearer {AGENT}"})  # fmt: skip
    assert refused.status_code == 403
    assert httpx.post(f"{url}/v1/cards/mail-assistant/signoffs", json=body).status_code == 401
    assert httpx.get(f"{url}/v1/cards/mail-assistant/signoffs").status_code == 401
    assert len(store.query("SELECT * FROM agentaudit.card_signoffs").rows) == before
    recorded = store.query(
        "SELECT count() FROM agentaudit.revocations WHERE status = 'refused'"
    ).rows[0][0]
    assert recorded >= 1
