"""The pages tell verified approvals from claimed ones, and show who sent each call."""

from __future__ import annotations

from typing import Any

import pytest

from agentaudit.collector.identity.principals import AGENT
from agentaudit.collector.model import (
    VERIFIED_AGENT,
    VERIFIED_APPROVAL_GRANT,
    VERIFIED_APPROVER,
    VERIFIED_PRINCIPAL,
    SpanRecord,
)
from agentaudit.collector.writer.writer import Writer
from agentaudit.config import Config
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from tests.dashboards.markdown_reader import rendered
from tests.dashboards.test_pages import graph_spec, open_page, users_config

SESSION = "sess-approval-states"


def _call(n: int, tool: str, **attributes: Any) -> SpanRecord:
    start = 1_790_000_000_000_000_000 + n * 1_000_000
    return SpanRecord(
        trace_id=f"{n:032x}",
        span_id=f"{n:016x}",
        name=f"execute_tool {tool}",
        start_ns=start,
        end_ns=start + 1000,
        attributes={
            A.GEN_AI_OPERATION_NAME: "execute_tool",
            A.GEN_AI_TOOL_NAME: tool,
            A.SESSION_ID: SESSION,
            A.GEN_AI_AGENT_ID: "mail-assistant",
            **attributes,
        },
    )


@pytest.fixture(scope="module", autouse=True)
def calls(seeded_store: Store) -> None:
    verified = _call(901, "send_email", **{A.APPROVAL_STATUS: "human"})
    verified.verified = {
        VERIFIED_PRINCIPAL: AGENT,
        VERIFIED_AGENT: "mail-assistant",
        VERIFIED_APPROVAL_GRANT: "grant-42",
        VERIFIED_APPROVER: "rita",
    }
    claimed = _call(
        902, "export_customers", **{A.APPROVAL_STATUS: "human", A.APPROVAL_APPROVER: "ceo"}
    )
    claimed.verified = {VERIFIED_PRINCIPAL: AGENT, VERIFIED_AGENT: "mail-assistant"}
    impostor = _call(903, "delete_mail", **{A.GEN_AI_AGENT_ID: "billing-agent"})
    impostor.verified = {VERIFIED_PRINCIPAL: AGENT, VERIFIED_AGENT: "mail-assistant"}
    writer = Writer(seeded_store)
    writer.enqueue([verified, claimed, impostor])
    writer.flush()


@pytest.fixture(autouse=True)
def _logged_in(users_config: Config) -> None:
    """The pages run as the responder of test_pages (login configured)."""


def test_session_forensics_shows_verified_claimed_and_the_sender() -> None:
    at = open_page("session", session=SESSION)
    shown = " ".join(rendered(str(m.value)) for m in at.markdown)
    assert "Approval: verified rita grant-42" in shown
    assert "Approval: claimed ceo" in shown
    assert "Sent by: mail-assistant ⚠ claims another agent id" in shown
    spec = graph_spec(at)
    assert "approved (verified): rita" in spec
    assert "approval claimed, unverified: ceo" in spec
    timeline = at.dataframe[0].value
    assert timeline["approval"].tolist() == ["verified", "claimed", "none"]


def test_investigate_lists_the_approval_state_and_the_sender() -> None:
    at = open_page("investigate", session=SESSION, window="all")
    (table,) = [f.value for f in at.dataframe if "approval" in f.value.columns]
    rows = table.sort_values("ts")
    assert rows["approval"].tolist() == ["verified", "claimed", "none"]
    assert rows["sent_by"].tolist() == ["mail-assistant"] * 3
    assert rows["agent_mismatch"].tolist() == [0, 0, 1]


__all__ = ["users_config"]  # the fixture, shared with test_pages
