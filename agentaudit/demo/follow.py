"""After the scripted sessions, the mail assistant keeps checking Bob's inbox.

``agentaudit up --demo`` runs the demo with ``--follow`` so there is a live agent to
stop: once a responder revokes ``mail-assistant`` (dashboard Revoke page or
``POST /v1/revocations``), the quarantine guard refuses its next call within its poll
interval, the call is recorded as a ``blocked`` row, and this loop prints the refusal.
"""

from __future__ import annotations

import threading
import time

import agentaudit
from agentaudit.demo import data, scenario

__all__ = ["FOLLOW_SESSION", "follow"]

FOLLOW_SESSION = "sess-bob-inbox-watch"


def follow(stop: threading.Event, *, interval: float = 3.0) -> int:
    """Check the inbox every ``interval`` seconds until ``stop``; return refusals seen."""
    refused = 0
    with agentaudit.context(
        agent=data.INCIDENT_AGENT, user=data.INCIDENT_USER, session=FOLLOW_SESSION
    ):
        while not stop.wait(interval):
            started = time.monotonic()
            try:
                scenario.read_inbox(folder="inbox")
            except agentaudit.AgentQuarantined as exc:
                refused += 1
                print(f"agentaudit demo: {data.INCIDENT_AGENT} was refused: {exc}", flush=True)
            else:
                took = (time.monotonic() - started) * 1000
                print(
                    f"agentaudit demo: {data.INCIDENT_AGENT} checked the inbox ({took:.0f} ms)",
                    flush=True,
                )
    return refused
