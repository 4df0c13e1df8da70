"""The ``[revocation]`` and ``[broker]`` sections of the config file, typed and checked.

```toml
[revocation]
dashboard_url = "http://127.0.0.1:8501"    # for the Session forensics link in alerts
builtin_broker = true                       # the deny-list backend (default on)
retry = { attempts = 3, base_delay = 0.5, max_delay = 5.0 }

[[revocation.webhook]]
name = "secops-chat"                        # default: webhook-<n>
url = "https://chat.example/hooks/abc"
secret_env = "AGENTAUDIT_WEBHOOK_SECRET"     # or: secret = "..."
timeout = 5.0

[revocation.vault]
url = "https://vault.example:8200"
token_env = "VAULT_TOKEN"
namespace = "agents"                        # optional
lease_prefixes = ["database/creds/{agent}"] # placeholders: {agent} {user} {session} {target_id}
revoke_accessors = true                     # credential target = a token accessor

[broker]
key_file = "/var/lib/agentaudit/broker.pem" # created (0600) when absent
issuer = "agentaudit"
unknown_tools = "refuse"                    # scopes for a tool not listed below: refused
default_ttl = 60
max_ttl = 3600
[broker.tools."calendar.delete_event"]
scopes = ["calendar.events.write"]
vault_policies = ["calendar-write"]          # for the Vault issuer variant
```

Every bad value is a :class:`~agentaudit.errors.ConfigError` naming the key; unknown
keys are errors too (a typo in security configuration must not pass silently).
Secrets come preferably from the environment (``*_env``) and never appear in ``repr``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentaudit.broker import Broker
from agentaudit.collector.admin.revocation.broker_backend import BrokerBackend
from agentaudit.collector.admin.revocation.model import RevocationBackend
from agentaudit.collector.admin.revocation.retry import RetryPolicy
from agentaudit.collector.admin.revocation.vault import VaultBackend, check_prefix_template
from agentaudit.collector.admin.revocation.webhook import WebhookBackend
from agentaudit.config.values import Section
from agentaudit.errors import ConfigError

__all__ = [
    "BrokerSettings",
    "RevocationSettings",
    "VaultSettings",
    "WebhookSettings",
    "build_backends",
    "load_broker_settings",
    "load_revocation_settings",
    "parse_retry_policy",
    "parse_webhooks",
]


@dataclass(frozen=True)
class WebhookSettings:
    name: str
    url: str
    secret: str = field(repr=False)
    timeout: float = 5.0


@dataclass(frozen=True)
class VaultSettings:
    url: str
    token: str = field(repr=False)
    token_env: str = "VAULT_TOKEN"  # noqa: S105 - the name of a variable, not a secret
    namespace: str | None = None
    lease_prefixes: tuple[str, ...] = ()
    revoke_accessors: bool = True
    timeout: float = 5.0


@dataclass(frozen=True)
class RevocationSettings:
    webhooks: tuple[WebhookSettings, ...] = ()
    vault: VaultSettings | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    dashboard_url: str | None = None
    builtin_broker: bool = True


@dataclass(frozen=True)
class BrokerSettings:
    key_file: Path | None = None
    issuer: str = "agentaudit"
    default_ttl: int = 60
    max_ttl: int = 3600
    tool_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    vault_policies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unknown_tools: str = "refuse"


def _secret(section: Section, environ: Mapping[str, str], name: str, env_key: str) -> str:
    env_name = section.text(env_key)
    if env_name is not None:
        value = environ.get(env_name, "")
        if not value:
            raise ConfigError(
                f"config file {section.where}.{env_key} names {env_name}, which is not set"
            )
        return value
    inline = section.text(name)
    if inline is None:
        raise ConfigError(f"config file {section.where} needs {env_key} (or {name})")
    return inline


def parse_retry_policy(data: object, where: str) -> RetryPolicy:
    """A ``retry = {attempts, base_delay, factor, max_delay}`` table (absent keys: defaults)."""
    section = Section(data, where, {"attempts", "base_delay", "factor", "max_delay"})
    try:
        return RetryPolicy(
            attempts=section.number("attempts", 3, integer=True),
            base_delay=float(section.number("base_delay", 0.5)),
            factor=float(section.number("factor", 2.0)),
            max_delay=float(section.number("max_delay", 5.0)),
        )
    except ValueError as exc:
        raise ConfigError(f"config file {where}: {exc}") from None


def parse_webhooks(
    hooks: object,
    table: str,
    environ: Mapping[str, str],
    *,
    default_name: str = "webhook",
    only: Collection[str] | None = None,
) -> tuple[WebhookSettings, ...]:
    """The ``[[<table>]]`` entries (``table`` e.g. ``revocation.webhook``), secrets resolved;
    an entry without ``name`` is called ``<default_name>-<n>``. With ``only``, just the
    entries of those names are checked and returned (the others' secrets are not read)."""
    if not isinstance(hooks, list):
        raise ConfigError(f"config file [{table}] must be an array of tables: [[{table}]]")
    webhooks: list[WebhookSettings] = []
    for index, hook in enumerate(hooks, start=1):
        section = Section(
            hook, f"[[{table}]] #{index}", {"name", "url", "secret", "secret_env", "timeout"}
        )
        name = section.text("name") or f"{default_name}-{index}"
        if only is not None and name not in only:
            continue
        webhooks.append(
            WebhookSettings(
                name=name,
                url=section.url("url", required=True) or "",
                secret=_secret(section, environ, "secret", "secret_env"),
                timeout=float(section.number("timeout", 5.0)),
            )
        )
    return tuple(webhooks)


def load_revocation_settings(
    sections: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> RevocationSettings:
    """Parse ``[revocation]`` (absent: only the built-in deny-list backend)."""
    environ = os.environ if environ is None else environ
    raw = sections.get("revocation", {})
    top = Section(
        raw, "[revocation]", {"dashboard_url", "builtin_broker", "retry", "webhook", "vault"}
    )
    retry = parse_retry_policy(top.data.get("retry", {}), "[revocation.retry]")
    webhooks = parse_webhooks(top.data.get("webhook", []), "revocation.webhook", environ)

    vault = None
    if "vault" in top.data:
        section = Section(
            top.data["vault"],
            "[revocation.vault]",
            {"url", "token_env", "namespace", "lease_prefixes", "revoke_accessors", "timeout"},
        )
        token_env = section.text("token_env", "VAULT_TOKEN") or "VAULT_TOKEN"
        token = environ.get(token_env, "")
        if not token:
            raise ConfigError(
                f"config file [revocation.vault]: the Vault token variable {token_env} is not set"
            )
        prefixes = section.strings("lease_prefixes")
        for template in prefixes:
            try:
                check_prefix_template(template)
            except ValueError as exc:
                raise ConfigError(f"config file [revocation.vault].lease_prefixes: {exc}") from None
        vault = VaultSettings(
            url=section.url("url", required=True) or "",
            token=token,
            token_env=token_env,
            namespace=section.text("namespace"),
            lease_prefixes=prefixes,
            revoke_accessors=section.flag("revoke_accessors", True),
            timeout=float(section.number("timeout", 5.0)),
        )

    names = [w.name for w in webhooks] + (["vault"] if vault else []) + ["broker"]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(
            f"config file [[revocation.webhook]]: backend name {duplicates[0]!r} is used twice"
        )
    return RevocationSettings(
        webhooks=webhooks,
        vault=vault,
        retry=retry,
        dashboard_url=top.url("dashboard_url", required=False),
        builtin_broker=top.flag("builtin_broker", True),
    )


def load_broker_settings(
    sections: Mapping[str, Any], *, default_key_file: Path | None = None
) -> BrokerSettings:
    """Parse ``[broker]``; ``default_key_file`` is used when ``key_file`` is not set."""
    top = Section(
        sections.get("broker", {}),
        "[broker]",
        {"key_file", "issuer", "default_ttl", "max_ttl", "tools", "unknown_tools"},
    )
    tools = Section(top.data.get("tools", {}), "[broker.tools]", set(top.data.get("tools", {})))
    scopes: dict[str, tuple[str, ...]] = {}
    policies: dict[str, tuple[str, ...]] = {}
    for tool, spec in tools.data.items():
        section = Section(spec, f"[broker.tools.{tool!r}]", {"scopes", "vault_policies"})
        scopes[tool] = section.strings("scopes")
        if "vault_policies" in section.data:
            policies[tool] = section.strings("vault_policies")
    key_file = top.text("key_file")
    default_ttl = top.number("default_ttl", 60, integer=True)
    max_ttl = top.number("max_ttl", 3600, integer=True)
    if not 0 < default_ttl <= max_ttl:
        raise ConfigError("config file [broker]: need 0 < default_ttl <= max_ttl")
    unknown_tools = top.text("unknown_tools", "refuse") or "refuse"
    if unknown_tools not in ("refuse", "allow"):
        raise ConfigError('config file [broker].unknown_tools must be "refuse" or "allow"')
    return BrokerSettings(
        key_file=Path(key_file).expanduser().resolve() if key_file else default_key_file,
        issuer=top.text("issuer", "agentaudit") or "agentaudit",
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        tool_scopes=scopes,
        vault_policies=policies,
        unknown_tools=unknown_tools,
    )


def build_backends(
    settings: RevocationSettings,
    *,
    broker: Broker | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> list[RevocationBackend]:
    """The configured backends, built-in deny-list first."""
    backends: list[RevocationBackend] = []
    if settings.builtin_broker and broker is not None:
        backends.append(BrokerBackend(broker))
    for hook in settings.webhooks:
        backends.append(
            WebhookBackend(
                hook.url,
                hook.secret,
                name=hook.name,
                timeout=hook.timeout,
                retry=settings.retry,
                sleep=sleep,
                clock=clock,
            )
        )
    if settings.vault is not None:
        from agentaudit.broker import vault_client

        client = vault_client(
            settings.vault.url,
            settings.vault.token,
            namespace=settings.vault.namespace,
            timeout=settings.vault.timeout,
        )
        backends.append(
            VaultBackend(
                client,
                lease_prefixes=settings.vault.lease_prefixes,
                revoke_accessors=settings.vault.revoke_accessors,
                retry=settings.retry,
                sleep=sleep,
            )
        )
    return backends
