"""Google ADK ``LlmAgent`` on an ``InMemoryRunner`` with a scripted ``BaseLlm``: names,
errors, tool confirmation (approve / deny), quarantine, sessions, uninstrument."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.runners import InMemoryRunner
from google.adk.tools import FunctionTool
from google.genai import types
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import google_adk as adk_integration
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans, instrument_unsupported
from tests.frameworks.google_adk._scripted import (
    APP,
    ScriptedLlm,
    call,
    function_responses,
    run,
    run_async,
    text,
)
from tests.frameworks.ticket import REFUND, TICKET_ID, received_hash, ticket_text

pytestmark = pytest.mark.timeout(120)

refunds: list[dict[str, Any]] = []


def read_ticket(ticket_id: str) -> str:
    """Read a support ticket."""
    return ticket_text(ticket_id)


def issue_refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    if order_id == "ORD-0":
        raise ValueError("no such order")
    refunds.append({"order_id": order_id, "amount": amount})
    return f"refunded {amount} on {order_id}"


def _ticket_model(refund_args: dict[str, Any] | None = None) -> ScriptedLlm:
    return ScriptedLlm(
        model="gateway-1",
        replies=[
            call("call_t", "read_ticket", {"ticket_id": TICKET_ID}),
            call("call_r", "issue_refund", refund_args or dict(REFUND)),
            text("Handled."),
        ],
    )


def _agent(model: ScriptedLlm, *, confirm: bool = False) -> LlmAgent:
    refund_tool: Any = (
        FunctionTool(issue_refund, require_confirmation=True) if confirm else issue_refund
    )
    return LlmAgent(name="support_agent", model=model, tools=[read_ticket, refund_tool])


@pytest.fixture(autouse=True)
def _clear() -> None:
    refunds.clear()


def test_agent_name_and_adk_session_fill_what_the_context_leaves_open(spans: Spans) -> None:
    run(_agent(_ticket_model()), "Handle ticket T-1001.", user="carol", session="adk-s-9")
    attrs = spans.attributes("issue_refund")
    assert attrs[A.GEN_AI_AGENT_ID] == attrs[A.GEN_AI_AGENT_NAME] == "support_agent"
    assert attrs[A.GEN_AI_CONVERSATION_ID] == "adk-s-9"
    assert A.SESSION_ID not in attrs  # the audit session comes from agentaudit.context only
    chat = dict(spans.of(A.OPERATION_CHAT)[0].attributes or {})
    assert chat[A.GEN_AI_AGENT_NAME] == "support_agent"
    assert chat[A.GEN_AI_REQUEST_MODEL] == "gateway-1"


def test_tool_exception_is_recorded_and_passes_through_unchanged(
    spans: Spans, provider: TracerProvider
) -> None:
    agentaudit.uninstrument()
    with pytest.raises(ValueError, match="no such order") as plain:
        run(_agent(_ticket_model({"order_id": "ORD-0", "amount": 1})), "Refund.")
    agentaudit.instrument(tracer_provider=provider, integrations=["google_adk"])
    with pytest.raises(ValueError, match="no such order") as audited:
        run(_agent(_ticket_model({"order_id": "ORD-0", "amount": 1})), "Refund.")
    assert type(audited.value) is type(plain.value)
    span = spans.tool("issue_refund")
    assert (span.attributes or {})[A.ERROR_TYPE] == "ValueError"
    assert span.status.status_code is StatusCode.ERROR


async def _confirm(confirmed: bool) -> tuple[ScriptedLlm, list[Any]]:
    model = _ticket_model()
    agent = _agent(model, confirm=True)
    runner = InMemoryRunner(agent=agent, app_name=APP)
    with agentaudit.context(agent="support-agent", user="carol", session="sess-c"):
        events = await run_async(agent, "Handle ticket T-1001.", runner=runner)
        (request,) = [
            c
            for e in events
            for c in e.get_function_calls()
            if c.name == "adk_request_confirmation"
        ]
        answer = types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        id=request.id, name=request.name, response={"confirmed": confirmed}
                    )
                )
            ],
        )
        with agentaudit.approval("alice"):
            events = await run_async(agent, "", runner=runner, message=answer)
    return model, events


def test_a_confirmed_call_is_recorded_as_approved_by_the_human(spans: Spans) -> None:
    model, _events = asyncio.run(_confirm(True))
    assert refunds == [REFUND]
    attrs = spans.attributes("issue_refund")  # one span: the paused request did not run
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_APPROVED
    assert attrs[A.APPROVAL_APPROVER] == "alice"
    assert attrs[A.DECISION] == A.DECISION_ALLOWED
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert attrs[A.PROMPT_HASH] == received_hash(model.seen[1])
    assert list(attrs[A.SOURCE_REFS]) == ["tool:read_ticket#call_t"]  # type: ignore[call-overload]


def test_a_rejected_call_is_recorded_as_denied_and_does_not_run(spans: Spans) -> None:
    _model, events = asyncio.run(_confirm(False))
    assert refunds == []
    assert function_responses(events)["call_r"] == {"error": "This tool call is rejected."}
    attrs = spans.attributes("issue_refund")
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_NONE
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_DENIED
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert A.RESULT_HASH not in attrs


def _large(order_id: str, amount: int) -> bool:
    return amount >= 1000


@pytest.mark.parametrize(("amount", "pauses"), [(5000, True), (10, False)])
def test_a_callable_require_confirmation_is_asked_before_the_call_starts(
    spans: Spans, amount: int, pauses: bool
) -> None:
    """Before ADK 2.5 the gate sits inside the tool; the plugin asks the same question
    first, so a call that pauses for a human has no span (and mints nothing)."""
    model = _ticket_model({"order_id": "ORD-9", "amount": amount})
    refund_tool = FunctionTool(issue_refund, require_confirmation=_large)
    agent = LlmAgent(name="support_agent", model=model, tools=[read_ticket, refund_tool])
    events = run(agent, "Handle ticket T-1001.")
    requested = [
        c for e in events for c in e.get_function_calls() if c.name == "adk_request_confirmation"
    ]
    assert bool(requested) is pauses
    assert refunds == ([] if pauses else [{"order_id": "ORD-9", "amount": amount}])
    assert len(spans.tools("issue_refund")) == (0 if pauses else 1)


def test_a_quarantined_agent_s_call_is_refused_by_the_real_guard(
    spans: Spans, admin: Any, guard: Any
) -> None:
    admin.quarantine("support-agent", "refund fraud suspected")
    guard.refresh_all()  # what the poller does every 2 s
    model = _ticket_model()
    with agentaudit.context(agent="support-agent", user="carol", session="sess-q"):
        events = run(_agent(model), "Handle ticket T-1001.")
    assert refunds == []
    refusal = function_responses(events)["call_r"]
    assert "AgentQuarantined" in refusal["error"]
    assert "support-agent is quarantined: refund fraud suspected" in refusal["error"]
    assert "AgentQuarantined" in json.dumps(model.seen[2])  # the model read the refusal
    attrs = spans.attributes("issue_refund")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert str(attrs[A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert A.RESULT_HASH not in attrs


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str, ticket: str) -> None:
        model = ScriptedLlm(
            model="gateway-1",
            replies=[
                call("call_t", "read_ticket", {"ticket_id": ticket}),
                call("call_r", "issue_refund", dict(REFUND)),
                text("Handled."),
            ],
        )
        with agentaudit.context(agent="support-agent", user=f"user-{name}", session=name):
            await run_async(_agent(model), "Handle it.", session=name)

    async def both() -> None:
        await asyncio.gather(session("s-a", "T-1"), session("s-b", "T-2"))

    asyncio.run(both())
    refund_spans = [dict(s.attributes or {}) for s in spans.tools("issue_refund")]
    assert sorted(str(a[A.SESSION_ID]) for a in refund_spans) == ["s-a", "s-b"]
    for attrs in refund_spans:
        assert attrs[A.ENDUSER_ID] == f"user-{attrs[A.SESSION_ID]}"
        assert list(attrs[A.SOURCE_REFS]) == ["tool:read_ticket#call_t"]  # type: ignore[call-overload]
    hashes = {a[A.SESSION_ID]: a[A.SOURCE_HASHES] for a in refund_spans}
    assert hashes["s-a"] != hashes["s-b"]


def test_uninstrument_removes_the_plugin(spans: Spans) -> None:
    from google.adk.runners import Runner

    kept = InMemoryRunner(agent=_agent(_ticket_model()), app_name=APP)
    assert hasattr(Runner.__init__, "__wrapped__")
    assert [p.name for p in kept.plugin_manager.plugins][:1] == ["agentaudit"]
    agentaudit.uninstrument()
    assert not hasattr(Runner.__init__, "__wrapped__")
    assert all(p.name != "agentaudit" for p in kept.plugin_manager.plugins)
    fresh = InMemoryRunner(agent=_agent(_ticket_model()), app_name=APP)
    assert all(p.name != "agentaudit" for p in fresh.plugin_manager.plugins)
    run(_agent(_ticket_model()), "Handle ticket T-1001.")
    assert refunds == [REFUND]
    assert spans.all() == []


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.google_adk.package import _supported

    assert _version_check.check_supported(_supported, "2.13.0")
    assert _version_check.check_supported(_supported, "2.3.0")
    assert _version_check.check_supported(_supported, "1.39.1")
    assert _version_check.check_supported(_supported, "1.35.0")  # the window's first release
    assert not _version_check.check_supported(_supported, "1.34.3")
    assert not _version_check.check_supported(_supported, "3.0.0")


def test_unsupported_installed_version_warns_once_and_adds_nothing(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from google.adk.runners import Runner

    original = Runner.__init__
    instrument_unsupported(
        monkeypatch,
        caplog,
        provider=provider,
        integration="google_adk",
        distribution="google-adk",
        version="1.9.0",
    )
    assert Runner.__init__ is original
    assert not adk_integration.instrumented()
