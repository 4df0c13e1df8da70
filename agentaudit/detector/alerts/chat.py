"""The chat alert: a signed webhook whose ``text`` reads as a message in the on-call channel.

The body is a Slack / Mattermost / Teams incoming-webhook message — a top-level ``text``
— followed by the structured finding (``"finding": Finding.to_json()``) and the
incident's tally. It travels as the revocation webhooks do
(:class:`~agentaudit.collector.admin.revocation.webhook.SignedWebhook`: HMAC-signed,
``X-Agentaudit-Delivery`` kept across bounded retries), so one receiver verifies both.

Hostile values. Every string of a finding came from an agent's spans. The message's own
wording is ours; each value in it (agent, user, session, tool, rule, revocation id and
the summary sentence) goes through
:func:`~agentaudit.collector.admin.revocation.chat_text.inert`, which makes it one line
of literal text in Slack and in Teams (no link, mention, markup or forged line).

``unfurl_links`` / ``unfurl_media`` are false, so Slack never fetches a preview. The deep
link is ours (the dashboard URL from the config, ids percent-encoded) and stays live.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Final

from agentaudit.collector.admin.revocation.chat_text import (
    NEWLINE,
    inert,
    live_link,
)
from agentaudit.collector.admin.revocation.webhook import SignedWebhook
from agentaudit.detector.alerts.alert import Alert, AlertDeliveryError

__all__ = [
    "EVENT",
    "EVENT_UPDATE",
    "ChatWebhookSink",
    "chat_payload",
    "chat_text",
    "displayed_text",
    "inert",
]

EVENT: Final = "agentaudit.finding"
EVENT_UPDATE: Final = "agentaudit.finding.update"
MAX_SUMMARY_CHARS: Final = 1000
MAX_FINDING_BYTES: Final = 64 * 1024
"""A finding whose JSON is larger has its ``evidence`` replaced by a marker in the chat
payload (the full evidence is in ``agentaudit.findings`` and the OCSF file)."""

ACTION_WORDS: Final = {
    "none": "none",
    "alert": "alert only (no automatic action)",
    "quarantine": "agent quarantined",
    "revoke_credential": "credential revoked",
}
_SLACK_LINK: Final = re.compile(r"<([^<>|\s]+)\|([^<>]*)>")
_SLACK_URL: Final = re.compile(r"<(https?://[^<>|\s]+)>")


def _utc(ts_ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts_ns / 1e9))


def chat_text(alert: Alert) -> str:
    """The chat-ready message: severity, agent, the finding's sentence, the action taken
    and its revocation id, the forensics deep link."""
    finding = alert.finding
    head = f"agentaudit finding [{finding.severity.upper()}] rule {inert(finding.rule)}"
    if alert.follow_up:
        head += f" — update: {alert.count} findings since {_utc(alert.first_ns)}, {alert.new} new"
    else:
        head += f" at {_utc(finding.ts_ns)}"
    who = [f"Agent {inert(finding.agent_id)}"]
    if finding.user_id:
        who.append(f"acting for user {inert(finding.user_id)}")
    if finding.session_id:
        who.append(f"in session {inert(finding.session_id)}")
    if finding.tool_name:
        who.append(f"tool {inert(finding.tool_name)}")
    action = f"Action: {ACTION_WORDS.get(finding.action, 'unknown')}"
    if finding.revocation_id:
        action += f" (revocation {inert(finding.revocation_id)})"
    lines = [
        head,
        ", ".join(who),
        inert(finding.summary, MAX_SUMMARY_CHARS),
        action,
        f"Forensics: {live_link(alert.link)}"
        if alert.link
        else "Forensics: (no dashboard URL set)",
    ]
    return NEWLINE.join(lines)


def _finding_json(alert: Alert) -> dict[str, Any]:
    data = alert.finding.to_json()
    size = len(json.dumps(data, default=str).encode())
    if size > MAX_FINDING_BYTES:
        data["evidence"] = {"truncated": True, "finding_bytes": size}
    return data


def chat_payload(alert: Alert) -> dict[str, Any]:
    """The JSON body: ``text`` for the chat, then the structured finding and the tally."""
    return {
        "text": chat_text(alert),
        "unfurl_links": False,
        "unfurl_media": False,
        "id": alert.alert_id,
        "event": EVENT_UPDATE if alert.follow_up else EVENT,
        "incident": alert.incident_id,
        "sequence": alert.sequence,
        "count": alert.count,
        "new": alert.new,
        "first_ts_ns": alert.first_ns,
        "last_ts_ns": alert.last_ns,
        "link": alert.link,
        "finding": _finding_json(alert),
    }


def displayed_text(text: str) -> str:
    """``text`` as a person sees it in the channel: Slack links as ``label (url)``, code
    spans without their backticks, Slack's entities decoded (for terminals: the demo's
    receiver prints this)."""
    shown = _SLACK_LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    shown = _SLACK_URL.sub(lambda m: m.group(1), shown)
    shown = shown.replace("`", "")
    shown = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return "\n".join(line.rstrip() for line in shown.split("\n"))


class ChatWebhookSink:
    """Posts each alert to one chat webhook, signed; raises AlertDeliveryError when the
    receiver did not take it within the retry policy."""

    def __init__(self, hook: SignedWebhook) -> None:
        self._hook = hook
        self.name = hook.name

    def __repr__(self) -> str:
        return f"ChatWebhookSink({self._hook!r})"

    def send(self, alert: Alert) -> None:
        result = self._hook.deliver(chat_payload(alert), delivery=alert.alert_id)
        if not result.ok:
            raise AlertDeliveryError(
                f"webhook {self.name}: {result.detail} (after {result.attempts} attempts)"
            )

    def close(self) -> None:
        return None
