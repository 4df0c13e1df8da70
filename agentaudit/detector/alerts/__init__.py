"""Detector alerts: each finding with an action, to the on-call channel and the SIEM.

Parts (docs/detector.md, "Alerts"):

* :mod:`.alert` — the :class:`Alert` value (a finding, its forensics deep link, its
  incident's tally) and the :class:`AlertSink` protocol;
* :mod:`.chat` — :class:`ChatWebhookSink`: a signed POST (the revocation webhooks'
  signature, retries and delivery id) whose ``text`` is a Slack/Teams-ready message with
  every span-derived value made inert, plus ``"finding": Finding.to_json()``;
* :mod:`.ocsf` — :class:`OcsfFileSink`: OCSF 1.5.0 Detection Finding (2004) JSON lines,
  fsync'd per line, rotated by size;
* :mod:`.router` — :class:`AlertRouter`: filter, group duplicates of one incident, and
  deliver through one bounded queue and thread per sink;
* :mod:`.config` — ``[detector.alerts]`` and :func:`build_alert_sinks`.

Wiring (for the detector core)::

    build_alert_sinks(
        sections: Mapping[str, Any],        # Config.sections (the parsed TOML file)
        *,
        dashboard_url: str | None,          # [revocation] dashboard_url: the deep links' base
        environ: Mapping[str, str] | None = None,   # for secret_env; default os.environ
        sleep=time.sleep, clock=time.time,  # test seams (retry backoff, signature time)
    ) -> AlertRouter                        # raises ConfigError naming the key

    router = stack.enter_context(build_alert_sinks(config.sections, dashboard_url=url))
    router.submit(finding)   # after the policy acted (so action and revocation_id are set);
                             # never blocks or raises; returns "alerted", "follow_up",
                             # "grouped", "filtered" or "failed"
    router.stats()           # counters, per sink delivered / failed / dropped / abandoned
    # on exit: router.close(timeout=5.0) sends pending follow-ups and drains the queues

``with`` (or ``start()``) starts the threads; ``close`` is idempotent. The ``[detector]``
table must accept the ``alerts`` key (this module checks ``[detector.alerts]`` only).
"""

from __future__ import annotations

from agentaudit.detector.alerts.alert import (
    Alert,
    AlertDeliveryError,
    AlertError,
    AlertSink,
    finding_link,
)
from agentaudit.detector.alerts.chat import (
    ChatWebhookSink,
    chat_payload,
    chat_text,
    displayed_text,
    inert,
)
from agentaudit.detector.alerts.config import (
    AlertSettings,
    build_alert_router,
    build_alert_sinks,
    load_alert_settings,
)
from agentaudit.detector.alerts.ocsf import OCSF_VERSION, OcsfFileSink, detection_finding
from agentaudit.detector.alerts.router import AlertRouter, QueuedSink, SinkStats, Submitted

__all__ = [
    "OCSF_VERSION",
    "Alert",
    "AlertDeliveryError",
    "AlertError",
    "AlertRouter",
    "AlertSettings",
    "AlertSink",
    "ChatWebhookSink",
    "OcsfFileSink",
    "QueuedSink",
    "SinkStats",
    "Submitted",
    "build_alert_router",
    "build_alert_sinks",
    "chat_payload",
    "chat_text",
    "detection_finding",
    "displayed_text",
    "finding_link",
    "inert",
    "load_alert_settings",
]
