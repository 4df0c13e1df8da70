"""The identity-card catalog as the broker's tool table, through ``POST /v1/credentials``.

The revocation path built the way the collector builds it (``build_revocation_path`` with
``catalog=``, the demo's catalog copied to a file this test may edit), mounted in the
real admin app on a real port over chdb. The broker mints a tool's ``min_scopes`` and
no more, nothing for a tool the agent's card does not list, compares agents as
canonical ids, ignores ``[broker.tools]``, and follows an edit of the file.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentaudit.catalog import CatalogError
from agentaudit.catalog.enforcement import CHECK_SECONDS
from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations

DEMO_CATALOG = Path(__file__).resolve().parents[3] / "agentaudit" / "demo" / "catalog.toml"
ADMIN = "responder-token-credentials-catalog"
AGENT = "agent-token-credentials-catalog"
AS_AGENT = {"authorization": f"Bearer {AGENT}"}
# [broker.tools] a catalog replaces: it would allow send_email every mail scope.
SECTIONS = {"broker": {"tools": {"send_email": {"scopes": ["mail.send", "mail.read"]}}}}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "catalog.toml"
    shutil.copyfile(DEMO_CATALOG, path)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store.open(embedded_dsn(tmp_path_factory.mktemp("creds") / "store")) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture(scope="module")
def path(
    store: Store, catalog: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RevocationPath]:
    built = build_revocation_path(
        store,
        SECTIONS,
        default_key_file=tmp_path_factory.mktemp("state") / "broker.pem",
        catalog=catalog,
    )
    yield built
    built.close()


@pytest.fixture(scope="module")
def api(store: Store, path: RevocationPath) -> Iterator[httpx.Client]:
    gate = path.gate(Authenticator(agent_token=AGENT, admin_token=ADMIN))
    app = build_admin_app(store, gate=gate, extra_routes=path.routes(gate))
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            yield client
    finally:
        server.stop()


def mint(api: httpx.Client, agent: str, tool: str, scopes: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"user": "bob", "agent": agent, "tool": tool, "resource": "r:1"}
    if scopes is not None:
        body["scopes"] = scopes
    return api.post("/v1/credentials", json=body, headers=AS_AGENT)


def test_the_broker_mints_the_cards_minimum_not_the_granted_credential(api: httpx.Client) -> None:
    """The card says send_email's credential carries mail.read mail.send crm.read; the
    broker mints what the action needs."""
    reply = mint(api, "mail-assistant", "send_email")
    assert reply.status_code == 201, reply.text
    assert reply.json()["scopes"] == ["mail.send"]
    asked = mint(api, "mail-assistant", "send_email", ["mail.send"])
    assert asked.status_code == 201, asked.text
    assert asked.json()["scopes"] == ["mail.send"]


def test_a_scope_outside_the_card_is_refused(api: httpx.Client, catalog: Path) -> None:
    """mail.read is on the card's granted credential and in [broker.tools]: still refused."""
    for wanted in (["mail.read"], ["mail.send", "mail.read"], ["crm.read"]):
        reply = mint(api, "mail-assistant", "send_email", wanted)
        assert reply.status_code == 403, (wanted, reply.text)
        assert reply.json()["reason"] == "scope_not_allowed"
        assert "min_scopes: mail.send" in reply.json()["error"]
        assert str(catalog) in reply.json()["error"]


def test_a_tool_not_on_the_agents_card_gets_no_scope(api: httpx.Client) -> None:
    refused = mint(api, "mail-assistant", "export_customers", ["crm.export"])
    assert refused.status_code == 403
    assert refused.json()["reason"] == "unknown_tool"
    assert "not on agent 'mail-assistant'" in refused.json()["error"]
    bare = mint(api, "mail-assistant", "export_customers")
    assert bare.status_code == 201
    assert bare.json()["scopes"] == []
    # Another agent's tool is not this agent's.
    other = mint(api, "mail-assistant", "create_event", ["calendar.write"])
    assert other.status_code == 403
    assert mint(api, "calendar-assistant", "create_event", ["calendar.write"]).status_code == 201


def test_an_agent_with_no_card_gets_no_scope(api: httpx.Client) -> None:
    reply = mint(api, "intern-bot", "send_email", ["mail.send"])
    assert reply.status_code == 403
    assert reply.json()["reason"] == "unknown_tool"


def test_agents_are_compared_as_canonical_ids(api: httpx.Client) -> None:
    same = mint(api, "Mail-Assistant", "send_email", ["mail.send"])
    assert same.status_code == 201, same.text
    look_alike = mint(api, "m\u0430il-assistant", "send_email", ["mail.send"])  # Cyrillic a
    assert look_alike.status_code == 403
    assert look_alike.json()["reason"] == "invalid_agent"


def test_an_edit_of_the_catalog_takes_effect_and_a_broken_edit_does_not(
    api: httpx.Client, catalog: Path
) -> None:
    original = catalog.read_text()
    try:
        catalog.write_text(
            original.replace('min_scopes = ["mail.send"]', 'min_scopes = ["mail.send", "x.y"]')
        )
        os.utime(catalog, ns=(time.time_ns(), time.time_ns() + 10**9))
        time.sleep(CHECK_SECONDS + 0.2)
        assert mint(api, "mail-assistant", "send_email").json()["scopes"] == ["mail.send", "x.y"]
        catalog.write_text("[agents.mail-assistant\n")
        os.utime(catalog, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
        time.sleep(CHECK_SECONDS + 0.2)
        kept = mint(api, "mail-assistant", "send_email")  # the last good catalog stays
        assert kept.json()["scopes"] == ["mail.send", "x.y"]
    finally:
        catalog.write_text(original)
        os.utime(catalog, ns=(time.time_ns(), time.time_ns() + 3 * 10**9))
        time.sleep(CHECK_SECONDS + 0.2)
    assert mint(api, "mail-assistant", "send_email").json()["scopes"] == ["mail.send"]


def test_broker_tools_are_named_as_unused(
    store: Store, catalog: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        built = build_revocation_path(
            store, SECTIONS, default_key_file=tmp_path / "broker.pem", catalog=catalog
        )
    built.close()
    assert "[broker.tools] (send_email) is not used" in caplog.text
    assert built.catalog is not None
    assert built.catalog.path == catalog


def test_a_catalog_that_does_not_load_fails_start_up(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "catalog.toml"
    bad.write_text('[agents.mail-assistant]\nowner = "Dana"\nlifetime = 60\n')
    with pytest.raises(CatalogError, match=r"catalog\.toml:3: agents\.mail-assistant\.lifetime"):
        build_revocation_path(store, {}, default_key_file=tmp_path / "broker.pem", catalog=bad)


def test_without_a_catalog_the_broker_tools_table_still_applies(
    store: Store, tmp_path: Path
) -> None:
    built = build_revocation_path(store, SECTIONS, default_key_file=tmp_path / "broker.pem")
    try:
        assert built.catalog is None
        granted = built.broker.mint(
            user="u", agent="anyone", tool="send_email", resource="r", scopes=["mail.read"]
        )
        assert granted.claims.scopes == ("mail.read",)
    finally:
        built.close()
