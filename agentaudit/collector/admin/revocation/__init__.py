"""The revocation path: backends, fan-out service, persistence and HTTP routes.

Each revocation fans out to every configured backend — the built-in credential broker's
deny-list, signed webhooks, HashiCorp Vault — and reports per-backend success or failure
(bounded retries with backoff; results recorded in ``agentaudit.revocations``). An agent
target is also quarantined (:mod:`~agentaudit.collector.admin.revocation.quarantine`).
The admin process hosts all of it; agents can only read their quarantine state and ask
for credentials.
"""

from __future__ import annotations

from agentaudit.collector.admin.revocation.api import revocation_routes
from agentaudit.collector.admin.revocation.broker_backend import BrokerBackend
from agentaudit.collector.admin.revocation.config import (
    BrokerSettings,
    RevocationSettings,
    VaultSettings,
    WebhookSettings,
    build_backends,
    load_broker_settings,
    load_revocation_settings,
)
from agentaudit.collector.admin.revocation.context import forensics_link, tool_call_context
from agentaudit.collector.admin.revocation.model import (
    TARGETS,
    AlertContext,
    BackendResult,
    ReleasingBackend,
    RevocationBackend,
    RevocationRequest,
    overall_status,
)
from agentaudit.collector.admin.revocation.records import (
    ClickHouseDenyListStore,
    RevocationLog,
    RevocationRecord,
)
from agentaudit.collector.admin.revocation.retry import Attempt, RetryPolicy, with_retries
from agentaudit.collector.admin.revocation.service import RevocationOutcome, RevocationService
from agentaudit.collector.admin.revocation.vault import VaultBackend
from agentaudit.collector.admin.revocation.webhook import (
    SIGNATURE_HEADER,
    SignedWebhook,
    WebhookBackend,
    WebhookSignatureError,
    alert_payload,
    sign_webhook,
    verify_webhook_signature,
)
from agentaudit.collector.admin.revocation.wiring import RevocationPath, build_revocation_path

__all__ = [
    "SIGNATURE_HEADER",
    "TARGETS",
    "AlertContext",
    "Attempt",
    "BackendResult",
    "BrokerBackend",
    "BrokerSettings",
    "ClickHouseDenyListStore",
    "ReleasingBackend",
    "RetryPolicy",
    "RevocationBackend",
    "RevocationLog",
    "RevocationOutcome",
    "RevocationPath",
    "RevocationRecord",
    "RevocationRequest",
    "RevocationService",
    "RevocationSettings",
    "SignedWebhook",
    "VaultBackend",
    "VaultSettings",
    "WebhookBackend",
    "WebhookSettings",
    "WebhookSignatureError",
    "alert_payload",
    "build_backends",
    "build_revocation_path",
    "forensics_link",
    "load_broker_settings",
    "load_revocation_settings",
    "overall_status",
    "revocation_routes",
    "sign_webhook",
    "tool_call_context",
    "verify_webhook_signature",
    "with_retries",
]
