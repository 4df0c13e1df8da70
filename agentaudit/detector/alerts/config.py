"""The ``[detector.alerts]`` section of the config file, and the router built from it.

```toml
[detector.alerts]
min_severity = "medium"          # low | medium | high | critical (default low)
webhooks = ["secops-chat"]       # names of [[revocation.webhook]] / [[detector.alerts.webhook]]
                                 # entries; absent: all of them; [] : no chat alerts
ocsf_file = "/var/log/agentaudit/findings.ocsf.jsonl"   # absent: no OCSF sink
ocsf_max_bytes = 67108864        # rotate past 64 MiB ...
ocsf_backups = 5                 # ... keeping findings.ocsf.jsonl.1 .. .5
group_window = 900               # s: an incident ends this long after its last finding
follow_up_interval = 60          # s: at most one follow-up per incident this often
queue_size = 1000                # alerts waiting per sink before new ones are dropped
retry = { attempts = 3, base_delay = 0.5, max_delay = 5.0 }   # default: [revocation] retry

[[detector.alerts.webhook]]      # a channel for findings only (same keys as
name = "soc-findings"            # [[revocation.webhook]]; secrets from the environment)
url = "https://chat.example/hooks/def"
secret_env = "AGENTAUDIT_FINDINGS_WEBHOOK_SECRET"
timeout = 5.0
```

Webhooks are defined where they belong — the on-call channel that receives revocations
is a ``[[revocation.webhook]]`` and is reused by name (same URL, secret and signature
scheme, so its receiver verifies both kinds of alert alike); a channel that should get
findings but not revocations is a ``[[detector.alerts.webhook]]``. ``webhooks`` selects
among both; only the selected entries' secrets are read. Every bad value is a
:class:`~agentaudit.errors.ConfigError` naming the key; unknown keys are errors.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from agentaudit.collector.admin.revocation.config import (
    WebhookSettings,
    parse_retry_policy,
    parse_webhooks,
)
from agentaudit.collector.admin.revocation.retry import RetryPolicy
from agentaudit.collector.admin.revocation.webhook import SignedWebhook
from agentaudit.config.values import Section
from agentaudit.detector.alerts.alert import AlertSink
from agentaudit.detector.alerts.chat import ChatWebhookSink
from agentaudit.detector.alerts.ocsf import OcsfFileSink
from agentaudit.detector.alerts.router import AlertRouter
from agentaudit.detector.model import SEVERITIES
from agentaudit.errors import ConfigError

__all__ = ["AlertSettings", "build_alert_router", "build_alert_sinks", "load_alert_settings"]

WHERE: Final = "[detector.alerts]"
KEYS: Final = frozenset(
    {
        "min_severity",
        "webhooks",
        "webhook",
        "ocsf_file",
        "ocsf_max_bytes",
        "ocsf_backups",
        "group_window",
        "follow_up_interval",
        "queue_size",
        "retry",
    }
)
MIN_OCSF_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class AlertSettings:
    webhooks: tuple[WebhookSettings, ...] = ()
    ocsf_file: Path | None = None
    ocsf_max_bytes: int = 64 * 1024 * 1024
    ocsf_backups: int = 5
    min_severity: str = "low"
    group_window: float = 900.0
    follow_up_interval: float = 60.0
    queue_size: int = 1000
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def _table(data: object, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {where} must be a table")
    return data


def _positive(section: Section, key: str, default: float, *, integer: bool = False) -> Any:
    value = section.number(key, default, integer=integer)
    if value <= 0:
        raise ConfigError(f"config file {section.where}.{key} must be greater than zero")
    return value


def load_alert_settings(
    sections: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> AlertSettings:
    """Parse ``[detector.alerts]`` (absent: every ``[[revocation.webhook]]``, no OCSF file)."""
    environ = os.environ if environ is None else environ
    detector = _table(sections.get("detector", {}), "[detector]")
    revocation = _table(sections.get("revocation", {}), "[revocation]")
    top = Section(detector.get("alerts", {}), WHERE, set(KEYS))

    min_severity = top.text("min_severity", "low") or "low"
    if min_severity not in SEVERITIES:
        raise ConfigError(
            f"config file {WHERE}.min_severity: {min_severity!r} is not one of "
            f"{', '.join(SEVERITIES)}"
        )

    selected: tuple[str, ...] | None = None
    if "webhooks" in top.data:
        raw = top.data["webhooks"]
        if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
            raise ConfigError(f"config file {WHERE}.webhooks must be a list of webhook names")
        selected = tuple(raw)
    reused = parse_webhooks(
        revocation.get("webhook", []), "revocation.webhook", environ, only=selected
    )
    own = parse_webhooks(
        top.data.get("webhook", []),
        "detector.alerts.webhook",
        environ,
        default_name="alerts-webhook",
        only=selected,
    )
    names = [hook.name for hook in reused + own]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(
                f"config file [[detector.alerts.webhook]]: webhook name {name!r} is used "
                "twice (also in [[revocation.webhook]])"
            )
    for name in selected or ():
        if name not in names:
            raise ConfigError(
                f"config file {WHERE}.webhooks names {name!r}, which is neither a "
                "[[revocation.webhook]] nor a [[detector.alerts.webhook]] name"
            )

    if "retry" in top.data:
        retry = parse_retry_policy(top.data["retry"], f"{WHERE}.retry")
    else:
        retry = parse_retry_policy(revocation.get("retry", {}), "[revocation.retry]")

    ocsf_file = top.text("ocsf_file")
    max_bytes = _positive(top, "ocsf_max_bytes", 64 * 1024 * 1024, integer=True)
    if max_bytes < MIN_OCSF_BYTES:
        raise ConfigError(f"config file {WHERE}.ocsf_max_bytes must be at least {MIN_OCSF_BYTES}")
    return AlertSettings(
        webhooks=reused + own,
        ocsf_file=Path(ocsf_file).expanduser().resolve() if ocsf_file else None,
        ocsf_max_bytes=max_bytes,
        ocsf_backups=top.number("ocsf_backups", 5, integer=True),
        min_severity=min_severity,
        group_window=float(_positive(top, "group_window", 900.0)),
        follow_up_interval=float(_positive(top, "follow_up_interval", 60.0)),
        queue_size=_positive(top, "queue_size", 1000, integer=True),
        retry=retry,
    )


def build_alert_router(
    settings: AlertSettings,
    *,
    dashboard_url: str | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> AlertRouter:
    """The router over the sinks ``settings`` configure (not started)."""
    sinks: list[AlertSink] = [
        ChatWebhookSink(
            SignedWebhook(
                hook.url,
                hook.secret,
                name=hook.name,
                timeout=hook.timeout,
                retry=settings.retry,
                sleep=sleep,
                clock=clock,
                user_agent="agentaudit-detector/1",
                what="detector alert webhook",
            )
        )
        for hook in settings.webhooks
    ]
    if settings.ocsf_file is not None:
        try:
            sinks.append(
                OcsfFileSink(
                    settings.ocsf_file,
                    max_bytes=settings.ocsf_max_bytes,
                    backups=settings.ocsf_backups,
                    clock=clock,
                )
            )
        except OSError as exc:
            for sink in sinks:
                sink.close()
            raise ConfigError(
                f"config file {WHERE}.ocsf_file: cannot open {settings.ocsf_file}: "
                f"{exc.strerror or exc}"
            ) from None
    return AlertRouter(
        sinks,
        dashboard_url=dashboard_url,
        min_severity=settings.min_severity,
        group_window=settings.group_window,
        follow_up_interval=settings.follow_up_interval,
        queue_size=settings.queue_size,
    )


def build_alert_sinks(
    sections: Mapping[str, Any],
    *,
    dashboard_url: str | None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> AlertRouter:
    """Parse ``[detector.alerts]`` and build its (not yet started) router; ConfigError
    naming the key on a bad value."""
    return build_alert_router(
        load_alert_settings(sections, environ),
        dashboard_url=dashboard_url,
        sleep=sleep,
        clock=clock,
    )
