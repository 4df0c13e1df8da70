"""The Vault issuer variant, against the local Vault API double.

No Vault server can be installed here: :mod:`tests.broker.vault_double` is a real HTTP
server implementing the token endpoints the issuer uses.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from agentaudit.broker import BrokerError, VaultIssuer, vault_client
from tests.broker.helpers import FakeClock
from tests.broker.vault_double import ROOT_TOKEN, RunningVault

hvac: Any = importlib.import_module("hvac")  # untyped library


def test_mints_a_single_use_short_lived_token_per_call(
    vault: RunningVault, clock: FakeClock
) -> None:
    issuer = VaultIssuer(
        vault_client(vault.url, ROOT_TOKEN),
        policies={"db.query": ["orders-read"]},
        ttl=60,
        clock=clock,
    )
    credential = issuer.mint(
        user="alice", agent="sql-agent", tool="db.query", resource="db:orders", session="s1"
    )
    stored = vault.double.by_accessor(credential.id)
    assert stored is not None
    assert stored.secret == credential.token
    assert (stored.ttl, stored.num_uses, stored.renewable) == (60, 1, False)
    assert stored.policies == ["orders-read"]
    assert stored.meta == {
        "user": "alice",
        "agent": "sql-agent",
        "tool": "db.query",
        "resource": "db:orders",
        "session": "s1",
    }
    assert credential.scopes == ("orders-read",)
    assert credential.expires_at == int(clock.now) + 60
    assert credential.token not in repr(credential)

    as_agent = hvac.Client(url=vault.url, token=credential.token)
    as_agent.auth.token.lookup_self()  # the one permitted use
    with pytest.raises(hvac.exceptions.Forbidden):
        as_agent.auth.token.lookup_self()


def test_unconfigured_tool_and_refused_creation(vault: RunningVault) -> None:
    issuer = VaultIssuer(vault_client(vault.url, ROOT_TOKEN), policies={"db.query": ["r"]})
    with pytest.raises(BrokerError, match="no Vault policies"):
        issuer.mint(user="u", agent="a", tool="other", resource="x")
    denied = VaultIssuer(vault_client(vault.url, "wrong-token"), policies={"db.query": ["r"]})
    with pytest.raises(BrokerError, match="Vault refused"):
        denied.mint(user="u", agent="a", tool="db.query", resource="x")


def test_client_needs_an_http_url_and_a_token() -> None:
    with pytest.raises(BrokerError, match="http"):
        vault_client("vault.local:8200", "t")
    with pytest.raises(BrokerError, match="token_env"):
        vault_client("http://127.0.0.1:8200", "")
