"""The webhook backend: a signed, human-readable JSON alert POSTed to a receiver.

Signature (Stripe-style, replay-safe): ``X-Agentaudit-Signature: t=<unix>,v1=<hex>``
where ``<hex>`` is HMAC-SHA256 with the shared secret over ``"<t>.<raw body>"``. A
receiver checks it with :func:`verify_webhook_signature`, which rejects a timestamp
outside ``tolerance`` (default 5 min); within that window the payload's ``id`` plus
``X-Agentaudit-Delivery`` identify a delivery, so a replay can be dropped.

The payload's ``text`` is a readable summary, so Slack/Mattermost/Teams incoming webhooks
can take it as-is, with every value in it inert (no link, mention, markup or forged line:
:mod:`~agentaudit.collector.admin.revocation.chat_text`); structured fields follow, and
``unfurl_links``/``unfurl_media`` are false. Retries on connection errors, 408, 425, 429
and 5xx; the receiver's status and (truncated) answer are recorded.

:class:`SignedWebhook` is that transport alone (sign, POST, retry), shared by every
agentaudit webhook: this backend and the detector's chat alerts
(:mod:`agentaudit.detector.alerts`), so a receiver verifies both the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from agentaudit.collector.admin.revocation.chat_text import NEWLINE, inert, live_link
from agentaudit.collector.admin.revocation.model import BackendResult, RevocationRequest
from agentaudit.collector.admin.revocation.retry import Attempt, RetryPolicy, with_retries
from agentaudit.errors import AgentAuditError

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "SignedWebhook",
    "WebhookBackend",
    "WebhookSignatureError",
    "alert_payload",
    "sign_webhook",
    "verify_webhook_signature",
]

SIGNATURE_HEADER: Final = "X-Agentaudit-Signature"
DELIVERY_HEADER: Final = "X-Agentaudit-Delivery"
RETRY_STATUSES: Final = frozenset({408, 425, 429})
MAX_RECORDED_BODY: Final = 1000
MAX_ARGUMENTS_IN_TEXT: Final = 300


class WebhookSignatureError(AgentAuditError):
    """A webhook's signature header is missing, malformed, stale or wrong."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_webhook_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> int:
    """Check a received signature; return its timestamp or raise WebhookSignatureError.

    Several ``v1=`` entries are accepted (secret rotation): one must match.
    """
    if not header:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is malformed")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError("the webhook timestamp is outside the tolerance (replay?)")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise WebhookSignatureError("the webhook signature does not match")
    return timestamp


def _summary(request: RevocationRequest) -> str:
    """The chat-ready sentence: our wording, every value from a span or a request inert
    (:mod:`~agentaudit.collector.admin.revocation.chat_text`)."""
    verb = "Released" if request.action == "release" else "Revoked"
    lines = [f"agentaudit: {verb} {request.target} {inert(request.target_id)}"]
    who = [
        f"agent {inert(request.agent)}" if request.agent else "",
        f"acting for user {inert(request.user)}" if request.user else "",
        f"in session {inert(request.session)}" if request.session else "",
    ]
    if any(who):
        lines.append(" ".join(w for w in who if w))
    context = request.context
    if context and context.tool:
        did = f"Last call: {inert(context.tool)}"
        if context.arguments:
            did += f" with {inert(context.arguments, MAX_ARGUMENTS_IN_TEXT)}"
        if context.resource_ids:
            did += f" on {', '.join(inert(r) for r in context.resource_ids)}"
        lines.append(f"{did} (approval: {inert(context.approval_status or 'none')})")
        if context.source_refs:
            trust = context.source_trust + ("",) * len(context.source_refs)
            sources = ", ".join(
                f"{inert(ref)} ({inert(level or 'unknown')})"
                for ref, level in zip(context.source_refs, trust, strict=False)
            )
            lines.append(f"Prompted by: {sources}")
    lines.append(f"Reason: {inert(request.reason, 1000)} (by {inert(request.requested_by)})")
    if request.link:
        lines.append(f"Forensics: {live_link(request.link)}")
    return NEWLINE.join(lines)


def alert_payload(request: RevocationRequest) -> dict[str, Any]:
    """The JSON body: ``text`` for chat webhooks, then the structured fields."""
    return {
        "text": _summary(request),
        "unfurl_links": False,
        "unfurl_media": False,
        "id": request.id,
        "event": f"agentaudit.{request.action}",
        "target": request.target,
        "target_id": request.target_id,
        "reason": request.reason,
        "requested_by": request.requested_by,
        "requested_at": request.requested_at,
        "agent": request.agent,
        "user": request.user,
        "session": request.session,
        "trigger": request.context.to_json() if request.context else None,
        "link": request.link,
    }


class SignedWebhook:
    """Signed JSON POSTs to one URL with bounded retries; thread-safe (no shared state).

    Each :meth:`deliver` gets one ``X-Agentaudit-Delivery`` id, kept across its retries
    (a receiver shows it once); every try is signed afresh with the current time.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        name: str = "webhook",
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        headers: Mapping[str, str] | None = None,
        user_agent: str = "agentaudit-revocation/1",
        what: str = "revocation backend",
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url {url!r} is not an http(s) URL")
        if not secret:
            raise ValueError("a webhook needs a signing secret")
        self.name = name
        self.url = url
        self._secret = secret
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._headers = dict(headers or {})
        self._user_agent = user_agent
        self._what = what

    def __repr__(self) -> str:
        return f"SignedWebhook(name={self.name!r}, url={self.url!r})"

    def deliver(self, payload: Mapping[str, Any], delivery: str | None = None) -> BackendResult:
        """POST ``payload`` as JSON until the receiver takes it or the retries run out."""
        body = json.dumps(payload, ensure_ascii=False, default=str).encode()
        delivery = delivery or uuid.uuid4().hex
        return with_retries(
            self.name, lambda: self._post(body, delivery), self._retry, self._sleep, what=self._what
        )

    def _post(self, body: bytes, delivery: str) -> Attempt:
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            SIGNATURE_HEADER: sign_webhook(self._secret, body, int(self._clock())),
            DELIVERY_HEADER: delivery,
        }
        http_request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self._timeout) as answer:  # noqa: S310
                status, text = answer.status, answer.read(MAX_RECORDED_BODY)
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read(MAX_RECORDED_BODY)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return Attempt(False, f"{self.url} unreachable: {reason}", retry=True)
        response = {"status": status, "body": text.decode("utf-8", "replace")}
        if 200 <= status < 300:
            return Attempt(True, f"delivered (HTTP {status})", response=response)
        retry = status >= 500 or status in RETRY_STATUSES
        return Attempt(False, f"receiver answered HTTP {status}", retry=retry, response=response)


class WebhookBackend:
    """POSTs signed revocation alerts to one URL (a :class:`SignedWebhook`); thread-safe."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        name: str = "webhook",
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._hook = SignedWebhook(
            url,
            secret,
            name=name,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            clock=clock,
            headers=headers,
        )
        self.name = name
        self.url = url

    def __repr__(self) -> str:
        return f"WebhookBackend(name={self.name!r}, url={self.url!r})"

    def revoke(self, request: RevocationRequest) -> BackendResult:
        return self._hook.deliver(alert_payload(request))

    def release(self, request: RevocationRequest) -> BackendResult:
        return self._hook.deliver(alert_payload(request))
