"""The injection scenario through a CrewAI crew, with a scripted ReAct LLM."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import crewai as crewai_integration
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans, instrument_unsupported, quarantined
from tests.frameworks.crewai._scripted import crew, email_text, prompt_hash, script, send_email


def test_send_email_span_carries_the_injected_email_as_its_source(spans: Spans) -> None:
    llm = script()
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        out = crew(llm).kickoff()
    assert str(out) == "Done."
    # the agent saw the tool results unchanged
    assert email_text() in json.dumps(llm.seen[1])
    assert "sent to audit-team@exfil.example" in json.dumps(llm.seen[2])

    attrs = spans.attributes("send_email")
    assert attrs[A.FRAMEWORK] == "crewai"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    assert attrs[A.ENDUSER_ID] == "bob"
    assert attrs[A.SESSION_ID] == "sess-1"
    assert attrs[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_NONE
    inbox = spans.tools("read_inbox")[0]
    inbox_ref = f"tool:read_inbox#{inbox.context.span_id:016x}"  # ReAct text has no call ids
    refs = list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]
    trust = dict(zip(refs, attrs[A.SOURCE_TRUST], strict=True))  # type: ignore[call-overload]
    assert trust[inbox_ref] == A.TRUST_UNTRUSTED
    assert attrs[A.PROMPT_HASH] == prompt_hash(llm.seen[1])
    chats = [dict(s.attributes or {}) for s in spans.of(A.OPERATION_CHAT)]
    assert [c[A.PROMPT_HASH] for c in chats] == [prompt_hash(seen) for seen in llm.seen]


def test_agent_role_fills_what_the_context_leaves_open(spans: Spans) -> None:
    assert str(crew(script(), role="Inbox triage").kickoff()) == "Done."
    attrs = spans.attributes("send_email")
    assert attrs[A.GEN_AI_AGENT_ID] == attrs[A.GEN_AI_AGENT_NAME] == "Inbox triage"


def test_tool_exception_is_recorded_and_the_crew_sees_the_same_messages(
    spans: Spans, provider: TracerProvider
) -> None:
    agentaudit.uninstrument()
    plain = script(to="nobody@nowhere.example")
    crew(plain).kickoff()
    agentaudit.instrument(tracer_provider=provider, integrations=["crewai"])
    audited = script(to="nobody@nowhere.example")
    crew(audited).kickoff()
    assert audited.seen == plain.seen
    failed = spans.tools("send_email")
    assert failed  # CrewAI retries a failing tool: each execution is one span
    for span in failed:
        assert (span.attributes or {})[A.ERROR_TYPE] == "ValueError"
        assert span.status.status_code.name == "ERROR"


def test_a_tool_called_directly_is_one_tool_call(spans: Spans) -> None:
    structured = send_email.to_structured_tool()
    with agentaudit.context(agent="script", user="bob", session="sess-2"):
        assert structured.invoke({"to": "a@example.com", "body": "hi"}) == "sent to a@example.com"
        with pytest.raises(ValueError, match="no such recipient"):
            structured.invoke({"to": "nobody@nowhere.example", "body": "hi"})
    sends = [dict(s.attributes or {}) for s in spans.tools("send_email")]
    assert [json.loads(str(a[A.GEN_AI_TOOL_CALL_ARGUMENTS]))["to"] for a in sends] == [
        "a@example.com",
        "nobody@nowhere.example",
    ]
    assert sends[1][A.ERROR_TYPE] == "ValueError"


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str, folder: str) -> None:
        with agentaudit.context(agent="mail-assistant", user=f"user-{name}", session=name):
            await crew(script(folder=folder)).kickoff_async()

    async def both() -> None:
        await asyncio.gather(session("s-a", "inbox-a"), session("s-b", "inbox-b"))

    asyncio.run(both())
    sends = [dict(s.attributes or {}) for s in spans.tools("send_email")]
    assert sorted(str(a[A.SESSION_ID]) for a in sends) == ["s-a", "s-b"]
    for attrs in sends:
        assert attrs[A.ENDUSER_ID] == f"user-{attrs[A.SESSION_ID]}"
        assert len(list(attrs[A.SOURCE_REFS])) == 1  # type: ignore[call-overload]
    hashes = {a[A.SESSION_ID]: a[A.SOURCE_HASHES] for a in sends}
    assert hashes["s-a"] != hashes["s-b"]


def test_uninstrument_restores_crewai(spans: Spans) -> None:
    from crewai.hooks.llm_hooks import get_before_llm_call_hooks
    from crewai.hooks.tool_hooks import get_before_tool_call_hooks
    from crewai.tools.structured_tool import CrewStructuredTool

    assert hasattr(CrewStructuredTool.invoke, "__wrapped__")
    agentaudit.uninstrument()
    assert not hasattr(CrewStructuredTool.invoke, "__wrapped__")
    assert not hasattr(CrewStructuredTool.ainvoke, "__wrapped__")
    hooks = [*get_before_llm_call_hooks(), *get_before_tool_call_hooks()]
    assert not any(getattr(h, "__module__", "").startswith("agentaudit") for h in hooks)
    assert str(crew(script()).kickoff()) == "Done."
    assert spans.all() == []


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.crewai.package import _supported

    assert _version_check.check_supported(_supported, "1.15.30")
    assert _version_check.check_supported(_supported, "1.14.1")
    assert not _version_check.check_supported(_supported, "1.14.0")
    assert not _version_check.check_supported(_supported, "2.0.0")


def test_unsupported_installed_version_warns_once_and_patches_nothing(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from crewai.tools.structured_tool import CrewStructuredTool

    original = CrewStructuredTool.invoke
    instrument_unsupported(
        monkeypatch,
        caplog,
        provider=provider,
        integration="crewai",
        distribution="crewai",
        version="0.86.0",
    )
    assert CrewStructuredTool.invoke is original
    assert not crewai_integration.instrumented()


def test_a_quarantined_agent_s_tool_call_is_refused_before_it_runs(spans: Spans) -> None:
    llm = script()
    with quarantined("send_email"):
        crew(llm).kickoff()
    told = json.dumps(llm.seen[2])
    assert "quarantined" in told  # CrewAI tells the LLM the tool failed
    assert "sent to audit-team" not in told
    blocked = spans.tools("send_email")
    assert blocked
    for span in blocked:
        assert (span.attributes or {})[A.DECISION] == A.DECISION_BLOCKED
