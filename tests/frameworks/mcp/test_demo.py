"""The demo's framework path: LangGraph incident, LangGraph + MCP calendar sessions."""

from __future__ import annotations

from typing import Any

import pytest

from agentaudit.demo import data, runner
from agentaudit.instrumentation import instrument
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def demo_spans(spans: Spans, provider: Any, monkeypatch: pytest.MonkeyPatch) -> Spans:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # the server subprocess exports nowhere
    instrument(tracer_provider=provider, integrations=["mcp", "langchain"])
    return spans


def _attrs(spans: Spans, tool: str, session: str) -> dict[str, Any]:
    (span,) = [
        s
        for s in spans.tools(tool)
        if (s.attributes or {}).get(A.SESSION_ID) == session and s.kind.name == "INTERNAL"
    ]
    return dict(span.attributes or {})


def test_the_demo_runs_on_the_frameworks_and_lands_the_incident(
    demo_spans: Spans, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runner.available() == {"langgraph": True, "mcp": True}
    assert runner.run_all()
    out = capsys.readouterr().out
    assert "incident ran on a LangGraph ReAct agent" in out
    assert "calendar sessions ran on LangGraph with tools on an MCP server over stdio" in out

    send = _attrs(demo_spans, "send_email", data.INCIDENT_SESSION)
    assert send[A.FRAMEWORK] == "langchain"
    assert send[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert send[A.ENDUSER_ID] == "bob"
    assert send[A.APPROVAL_STATUS] == "none"
    assert send[A.CREDENTIAL_ID] == "cred-mail-7f3a"
    assert tuple(send[A.CREDENTIAL_SCOPES]) == data.MAIL_CREDENTIAL["scopes"]
    refs = list(send[A.SOURCE_REFS])
    assert "email:msg-42" in refs
    assert "tool:read_inbox#call_inbox_01" in refs
    assert set(send[A.SOURCE_TRUST]) == {"untrusted"}
    assert tuple(send[A.RESOURCE_IDS]) == (data.EXFIL_ADDRESS,)
    chats = {str((c.attributes or {})[A.PROMPT_HASH]) for c in demo_spans.of(A.OPERATION_CHAT)}
    assert send[A.PROMPT_HASH] in chats
    export = _attrs(demo_spans, "export_customers", data.INCIDENT_SESSION)
    assert export[A.CREDENTIAL_ID] == "cred-crm-91bc"
    assert tuple(export[A.RESOURCE_IDS]) == ("crm:customers",)

    for user, session in data.CALENDAR_SESSIONS:
        create = _attrs(demo_spans, "create_event", session)
        assert create[A.APPROVAL_STATUS] == "human"
        assert create[A.APPROVAL_APPROVER] == user
        assert create[A.GEN_AI_AGENT_ID] == "calendar-assistant"
        assert tuple(create[A.RESOURCE_IDS]) == (f"calendar:{user}/{data.DAY}",)
        # The LangChain span records the call the MCP client forwarded: its client side.
        assert create[A.CALL_SIDE] == A.CALL_SIDE_CLIENT
        assert create[A.GEN_AI_TOOL_CALL_ID] == f"call_create_{user}"
        listed = _attrs(demo_spans, "list_events", session)
        assert listed[A.APPROVAL_STATUS] == "none"
        assert f"tool:list_events#call_list_{user}" in create[A.SOURCE_REFS]
    # No second client span under the LangChain tool span that wraps each MCP call.
    assert {(s.attributes or {})[A.FRAMEWORK] for s in demo_spans.tools("list_events")} == {
        "langchain"
    }
