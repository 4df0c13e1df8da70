"""The Vault revocation backend through hvac, against the local Vault API double.

No Vault server can be installed in this environment: tests.broker.vault_double is a
real HTTP server implementing revoke-accessor, revoke-prefix and token creation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentaudit.broker import vault_client
from agentaudit.collector.admin.revocation import RetryPolicy, RevocationRequest, VaultBackend
from tests.broker.helpers import FakeClock
from tests.broker.vault_double import ROOT_TOKEN, RunningVault


@pytest.fixture
def vault() -> Iterator[RunningVault]:
    with RunningVault() as running:
        yield running


def _request(target: str, target_id: str) -> RevocationRequest:
    return RevocationRequest(
        id="rev-1",
        action="revoke",
        target=target,
        target_id=target_id,
        reason="test",
        requested_by="oncall",
        requested_at=1_800_000_000.0,
    )


def _create(client: object, **kwargs: object) -> dict[str, str]:
    answer = client.auth.token.create(**kwargs)  # type: ignore[attr-defined]
    return answer["auth"]  # type: ignore[no-any-return]


def test_revoke_accessor_revokes_the_token_and_its_children(vault: RunningVault) -> None:
    root = vault_client(vault.url, ROOT_TOKEN)
    parent = _create(root, policies=["agent"], ttl="60s")
    child = _create(vault_client(vault.url, parent["client_token"]), policies=["agent"])
    unrelated = _create(root, policies=["other"])

    backend = VaultBackend(root, retry=RetryPolicy(attempts=1))
    result = backend.revoke(_request("credential", parent["accessor"]))

    assert result.ok, result.detail
    assert result.detail.startswith(f"revoke-accessor {parent['accessor']}: ok")
    assert vault.double.by_accessor(parent["accessor"]) is None
    assert vault.double.by_accessor(child["accessor"]) is None
    assert vault.double.by_accessor(unrelated["accessor"]) is not None


def test_lease_prefixes_are_filled_from_the_request(vault: RunningVault) -> None:
    vault.double.leases = {
        "database/creds/mail-assistant/l1",
        "database/creds/mail-assistant/l2",
        "database/creds/other-agent/l3",
        "database/creds/mail-assistant-2/l4",
    }
    backend = VaultBackend(
        vault_client(vault.url, ROOT_TOKEN),
        lease_prefixes=["database/creds/{agent}", "aws/creds/{user}"],
    )
    result = backend.revoke(_request("agent", "mail-assistant"))
    assert result.ok, result.detail
    assert vault.double.revoked_prefixes == ["database/creds/mail-assistant/"]
    assert vault.double.leases == {
        "database/creds/other-agent/l3",
        "database/creds/mail-assistant-2/l4",
    }
    assert "skipped aws/creds/{user}: no safe value for {user}" in result.detail


def test_retries_on_500_then_succeeds(vault: RunningVault) -> None:
    clock = FakeClock()
    token = _create(vault_client(vault.url, ROOT_TOKEN), policies=["agent"])
    vault.double.fail_next = 2
    backend = VaultBackend(
        vault_client(vault.url, ROOT_TOKEN),
        retry=RetryPolicy(attempts=3, base_delay=1.0),
        sleep=clock.sleep,
    )
    result = backend.revoke(_request("credential", token["accessor"]))
    assert result.ok, result.detail
    assert result.attempts == 3
    assert len(result.errors) == 2
    assert clock.now == FakeClock().now + 3.0


def test_a_refusal_is_reported_without_retrying(vault: RunningVault) -> None:
    backend = VaultBackend(vault_client(vault.url, "not-a-token"), lease_prefixes=["x/{agent}"])
    result = backend.revoke(_request("agent", "mail-assistant"))
    assert not result.ok
    assert result.attempts == 1
    assert "Forbidden" in result.detail
    assert vault.double.requests == [("PUT", "/v1/sys/leases/revoke-prefix/x/mail-assistant")]


def test_unsafe_ids_never_widen_a_prefix(vault: RunningVault) -> None:
    backend = VaultBackend(vault_client(vault.url, ROOT_TOKEN), lease_prefixes=["db/{agent}"])
    result = backend.revoke(_request("agent", "../sys"))
    assert result.ok
    assert result.skipped
    assert vault.double.requests == []


def test_nothing_to_do_is_a_skip_and_bad_templates_are_refused() -> None:
    backend = VaultBackend(object(), revoke_accessors=False)
    assert backend.revoke(_request("credential", "acc")).skipped
    with pytest.raises(ValueError, match=r"\{tenant\}"):
        VaultBackend(object(), lease_prefixes=["db/{tenant}"])
