"""The plain scripted agent: the demo without any agent framework installed.

Instrumented with the public agentaudit API only (``audited_tool``, ``record_prompt``,
``record_source``, ``credential``, ``approval``). The incident session: the mail
assistant acting for ``bob`` reads his inbox; email ``msg-42`` carries an injected
instruction; the (scripted) model obeys, exports the customer list and mails it to an
outside address. No human approved either call, and the resulting ``send_email`` row
names ``email:msg-42`` (untrusted) as its source.
"""

from __future__ import annotations

import json
from typing import Any

import agentaudit
from agentaudit.demo import data
from agentaudit.demo.data import INCIDENT_EMAIL, INCIDENT_SESSION

__all__ = ["INCIDENT_EMAIL", "INCIDENT_SESSION", "run_calendar_session", "run_incident"]


@agentaudit.audited_tool(resource=lambda args: [f"mailbox:bob/{args.get('folder', 'inbox')}"])
def read_inbox(folder: str = "inbox") -> list[dict[str, str]]:
    return [INCIDENT_EMAIL]


@agentaudit.audited_tool(resource=lambda args: ["crm:customers"])
def export_customers(segment: str = "all") -> list[dict[str, str]]:
    return data.CUSTOMERS


@agentaudit.audited_tool(resource="to")
def send_email(to: str, subject: str, body: str) -> dict[str, str]:
    return {"status": "sent", "to": to}


@agentaudit.audited_tool(resource="calendar:{owner}/{day}")
def list_events(owner: str, day: str) -> list[dict[str, str]]:
    return [dict(event, owner=owner) for event in data.EVENTS if event["day"] == day]


@agentaudit.audited_tool(resource="calendar:{owner}/{day}")
def create_event(owner: str, title: str, day: str) -> dict[str, str]:
    return {"status": "created", "owner": owner, "title": title, "day": day}


def _model_turn(messages: list[dict[str, Any]]) -> None:
    """What a real agent does before acting: record the model input it sends."""
    agentaudit.record_prompt(messages, model="scripted-demo-model")


def _credential(spec: dict[str, Any]) -> agentaudit.credential:
    return agentaudit.credential(spec["id"], scopes=spec["scopes"])


def run_incident() -> None:
    with agentaudit.context(
        agent=data.INCIDENT_AGENT, user=data.INCIDENT_USER, session=INCIDENT_SESSION
    ):
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are Bob's mail assistant."},
            {"role": "user", "content": "Summarise my new email."},
        ]
        _model_turn(messages)
        with _credential(data.MAIL_CREDENTIAL):
            inbox = read_inbox(folder="inbox")
        email = inbox[0]
        agentaudit.record_source(email["body"], kind="email", ref=data.INCIDENT_EMAIL_REF)
        messages.append({"role": "tool", "content": email["body"]})
        _model_turn(messages)
        with _credential(data.CRM_CREDENTIAL):
            customers = export_customers(segment="all")
        messages.append({"role": "tool", "content": json.dumps(customers)})
        _model_turn(messages)
        with _credential(data.MAIL_CREDENTIAL):
            send_email(to=data.EXFIL_ADDRESS, subject="Customer list", body=json.dumps(customers))


def run_calendar_session(user: str, session: str) -> None:
    with agentaudit.context(agent=data.CALENDAR_AGENT, user=user, session=session):
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": "What is on my calendar tomorrow? Add a prep slot."}
        ]
        _model_turn(messages)
        with _credential(data.CALENDAR_CREDENTIAL):
            events = list_events(owner=user, day=data.DAY)
            messages.append({"role": "tool", "content": json.dumps(events)})
            _model_turn(messages)
            with agentaudit.approval(user, status="human"):
                create_event(owner=user, title="Prep: Quarterly review", day=data.DAY)
