"""The [revocation] and [broker] config sections: typed values, errors naming the key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from agentaudit.broker import Broker
from agentaudit.collector.admin.revocation import (
    BrokerBackend,
    VaultBackend,
    WebhookBackend,
    build_backends,
    load_broker_settings,
    load_revocation_settings,
)
from agentaudit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLE = """
[revocation]
dashboard_url = "http://127.0.0.1:8501"
retry = { attempts = 4, base_delay = 0.25, max_delay = 2.0 }

[[revocation.webhook]]
name = "secops-chat"
url = "https://chat.example/hooks/abc"
secret_env = "HOOK_SECRET"

[[revocation.webhook]]
url = "http://127.0.0.1:9000/hook"
secret = "inline-secret"
timeout = 2.5

[revocation.vault]
url = "http://127.0.0.1:8200"
token_env = "MY_VAULT_TOKEN"
lease_prefixes = ["database/creds/{agent}"]

[broker]
default_ttl = 30
[broker.tools."calendar.delete_event"]
scopes = ["calendar.events.write"]
vault_policies = ["calendar-write"]
"""
ENV = {"HOOK_SECRET": "from-env", "MY_VAULT_TOKEN": "vault-token"}


def _sections(text: str = EXAMPLE) -> dict[str, Any]:
    sections: dict[str, Any] = tomllib.loads(text)
    return sections


def _load_both(sections: dict[str, Any]) -> None:
    load_revocation_settings(sections, ENV)
    load_broker_settings(sections)


def test_the_documented_example_parses() -> None:
    settings = load_revocation_settings(_sections(), ENV)
    assert [w.name for w in settings.webhooks] == ["secops-chat", "webhook-2"]
    assert settings.webhooks[0].secret == "from-env"
    assert settings.webhooks[1].timeout == 2.5
    assert settings.retry.attempts == 4
    assert settings.retry.delay(1) == 0.25
    assert settings.vault is not None
    assert settings.vault.lease_prefixes == ("database/creds/{agent}",)
    assert "from-env" not in repr(settings)
    assert "vault-token" not in repr(settings)

    broker = load_broker_settings(_sections(), default_key_file=Path("/tmp/k.pem"))
    assert broker.default_ttl == 30
    assert broker.tool_scopes == {"calendar.delete_event": ("calendar.events.write",)}
    assert broker.vault_policies == {"calendar.delete_event": ("calendar-write",)}
    assert broker.key_file == Path("/tmp/k.pem")


def test_backends_are_built_in_order_deny_list_first() -> None:
    settings = load_revocation_settings(_sections(), ENV)
    backends = build_backends(settings, broker=Broker())
    assert [type(b) for b in backends] == [
        BrokerBackend,
        WebhookBackend,
        WebhookBackend,
        VaultBackend,
    ]
    assert [b.name for b in backends] == ["broker", "secops-chat", "webhook-2", "vault"]
    assert build_backends(load_revocation_settings({}, {}), broker=None) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[revocation]\nwebhooks = []", "unknown key 'webhooks'"),
        ('[[revocation.webhook]]\nurl = "ftp://x"\nsecret = "s"', "not an http"),
        ('[[revocation.webhook]]\nurl = "http://x"', "needs secret_env"),
        (
            '[[revocation.webhook]]\nurl = "http://x"\nsecret_env = "UNSET"',
            "UNSET, which is not set",
        ),
        ('[revocation.vault]\nurl = "http://v"\ntoken_env = "NOPE"', "NOPE is not set"),
        (
            '[revocation.vault]\nurl = "http://v"\ntoken_env = "HOOK_SECRET"\n'
            'lease_prefixes = ["db/{tenant}"]',
            "tenant",
        ),
        ("[revocation.retry]\nattempts = 0", "at least 1"),
        ("[revocation]\nbuiltin_broker = 1", "true or false"),
        ("[broker]\ndefault_ttl = 7200", "default_ttl <= max_ttl"),
        ('[broker.tools.t]\nscopes = "read"', "list of strings"),
        (
            '[[revocation.webhook]]\nname = "vault"\nurl = "http://x"\nsecret = "s"\n'
            '[revocation.vault]\nurl = "http://v"\ntoken_env = "HOOK_SECRET"',
            "used twice",
        ),
    ],
)
def test_bad_values_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load_both(_sections(text))
