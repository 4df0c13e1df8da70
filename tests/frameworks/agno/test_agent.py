"""An Agno ``Agent`` with a scripted ``Model``: names, errors, quarantine, async runs,
sessions, uninstrument, version gate."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agno.agent import Agent
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.instrumentation import _version_check
from agentaudit.instrumentation import agno as agno_integration
from agentaudit.schema import attributes as A
from tests.frameworks.agno._scripted import ScriptedModel, call, text
from tests.frameworks.conftest import Spans, instrument_unsupported
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


async def aissue_refund(order_id: str, amount: int) -> str:
    """Refund an order (async)."""
    await asyncio.sleep(0)
    return issue_refund(order_id, amount)


def _model(
    ticket: str = TICKET_ID,
    refund_args: dict[str, Any] | None = None,
    refund_tool: str = "issue_refund",
) -> ScriptedModel:
    return ScriptedModel(
        replies=[
            call("call_t", "read_ticket", {"ticket_id": ticket}),
            call("call_r", refund_tool, refund_args or dict(REFUND)),
            text("Handled."),
        ]
    )


def _agent(model: ScriptedModel, refund_tool: Any = issue_refund, **kwargs: Any) -> Agent:
    return Agent(name="support_agent", model=model, tools=[read_ticket, refund_tool], **kwargs)


def _tool_result(model: ScriptedModel, call_id: str) -> Any:
    (found,) = [m["content"] for m in model.seen[-1] if m.get("tool_call_id") == call_id]
    return found


@pytest.fixture(autouse=True)
def _clear() -> None:
    refunds.clear()


def test_agent_name_and_session_fill_what_the_context_leaves_open(spans: Spans) -> None:
    _agent(_model()).run("Handle ticket T-1001.", session_id="agno-s-9")
    attrs = spans.attributes("issue_refund")
    assert attrs[A.GEN_AI_AGENT_ID] == attrs[A.GEN_AI_AGENT_NAME] == "support_agent"
    assert attrs[A.GEN_AI_CONVERSATION_ID] == "agno-s-9"
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    chat = dict(spans.of(A.OPERATION_CHAT)[0].attributes or {})
    assert chat[A.GEN_AI_REQUEST_MODEL] == "gateway-1"


def test_tool_exception_is_recorded_and_the_model_gets_the_same_error(
    spans: Spans, provider: TracerProvider
) -> None:
    agentaudit.uninstrument()
    plain = _model(refund_args={"order_id": "ORD-0", "amount": 1})
    _agent(plain).run("Refund.")
    agentaudit.instrument(tracer_provider=provider, integrations=["agno"])
    audited = _model(refund_args={"order_id": "ORD-0", "amount": 1})
    _agent(audited).run("Refund.")
    assert _tool_result(audited, "call_r") == _tool_result(plain, "call_r")
    assert "no such order" in str(_tool_result(audited, "call_r"))
    span = spans.tool("issue_refund")
    assert (span.attributes or {})[A.ERROR_TYPE] == "ValueError"
    assert span.status.status_code is StatusCode.ERROR


def test_a_quarantined_agent_s_call_is_refused_by_the_real_guard(
    spans: Spans, admin: Any, guard: Any
) -> None:
    admin.quarantine("support-agent", "refund fraud suspected")
    guard.refresh_all()  # what the poller does every 2 s
    model = _model()
    with agentaudit.context(agent="support-agent", user="carol", session="sess-q"):
        _agent(model).run("Handle ticket T-1001.")
    assert refunds == []
    assert "support-agent is quarantined: refund fraud suspected" in json.dumps(
        _tool_result(model, "call_r")
    )
    attrs = spans.attributes("issue_refund")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert str(attrs[A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert A.RESULT_HASH not in attrs


def test_an_async_run_with_an_async_tool(spans: Spans) -> None:
    model = _model(refund_tool="aissue_refund")
    with agentaudit.context(agent="support-agent", user="carol", session="sess-async"):
        out = asyncio.run(_agent(model, aissue_refund).arun("Handle ticket T-1001."))
    assert out.content == "Handled."
    assert refunds == [REFUND]
    attrs = spans.attributes("aissue_refund")
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert list(attrs[A.SOURCE_REFS]) == ["tool:read_ticket#call_t"]  # type: ignore[call-overload]
    assert attrs[A.PROMPT_HASH] == received_hash(model.seen[1])
    assert A.RESULT_HASH in attrs


def _confirm(confirmed: bool) -> ScriptedModel:
    from agno.tools import tool

    refund_tool = tool(requires_confirmation=True)(issue_refund)
    model = _model()
    agent = _agent(model, refund_tool)
    with agentaudit.context(agent="support-agent", user="carol", session="sess-c"):
        paused = agent.run("Handle ticket T-1001.")
        assert paused.is_paused
        assert refunds == []
        for requirement in paused.active_requirements:
            if requirement.needs_confirmation:
                requirement.confirm() if confirmed else requirement.reject()
        with agentaudit.approval("alice"):
            agent.continue_run(run_response=paused)
    return model


def test_a_confirmed_call_is_recorded_with_the_approver_of_the_context(spans: Spans) -> None:
    model = _confirm(True)
    assert refunds == [REFUND]
    attrs = spans.attributes("issue_refund")  # one span: it ran once, after confirmation
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_APPROVER] == "alice"
    assert attrs[A.DECISION] == A.DECISION_ALLOWED
    assert list(attrs[A.SOURCE_REFS]) == ["tool:read_ticket#call_t"]  # type: ignore[call-overload]
    assert attrs[A.PROMPT_HASH] == received_hash(model.seen[1])


def test_a_rejected_call_does_not_run_and_is_recorded_denied_once(spans: Spans) -> None:
    model = _confirm(False)
    assert refunds == []
    assert len(model.seen) >= 2  # the resumed run asked the model again (and saw the rejection)
    [span] = spans.tools("issue_refund")  # once, though later requests resend the rejection
    attrs = dict(span.attributes or {})
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_DENIED
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_NONE
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == REFUND
    assert A.CREDENTIAL_ID not in attrs  # nothing minted for a call that never ran
    assert attrs[A.GEN_AI_AGENT_ID] == "support-agent"


def test_a_confirmed_async_tool_runs_once_in_an_async_run(spans: Spans) -> None:
    """``acontinue_run`` runs the confirmed async tool through the async hook."""
    from agno.tools import tool

    refund_tool = tool(requires_confirmation=True)(aissue_refund)
    model = _model(refund_tool="aissue_refund")
    agent = _agent(model, refund_tool)

    async def confirm() -> Any:
        paused = await agent.arun("Handle ticket T-1001.")
        assert paused.is_paused
        for requirement in paused.active_requirements:
            if requirement.needs_confirmation:
                requirement.confirm()
        with agentaudit.approval("alice"):
            return await agent.acontinue_run(run_response=paused)

    with agentaudit.context(agent="support-agent", user="carol", session="sess-ac"):
        out = asyncio.run(confirm())
    assert out.content == "Handled."
    assert refunds == [REFUND]
    attrs = spans.attributes("aissue_refund")  # one span: it ran once, after confirmation
    assert attrs[A.APPROVAL_APPROVER] == "alice"
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_r"
    assert A.RESULT_HASH in attrs


def test_two_sessions_interleaved_keep_separate_provenance(spans: Spans) -> None:
    async def session(name: str, ticket: str) -> None:
        with agentaudit.context(agent="support-agent", user=f"user-{name}", session=name):
            await _agent(_model(ticket)).arun("Handle it.")

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


def test_uninstrument_removes_the_hook_and_restores_the_model(spans: Spans) -> None:
    from agno.agent import Agent as AgentClass
    from agno.models.base import Model

    from agentaudit.instrumentation.agno._hooks import audit_tool_hook
    from agentaudit.instrumentation.agno._install import MODEL_METHODS

    kept = _agent(_model())
    assert audit_tool_hook in (kept.tool_hooks or [])
    agentaudit.uninstrument()
    assert audit_tool_hook not in (kept.tool_hooks or [])
    assert not hasattr(AgentClass.__init__, "__wrapped__")
    assert not any(hasattr(getattr(Model, m), "__wrapped__") for m in MODEL_METHODS)
    kept.run("Handle ticket T-1001.")
    _agent(_model()).run("Handle ticket T-1001.")
    assert refunds == [REFUND, REFUND]
    assert spans.all() == []


def test_version_gate_is_a_pure_function_of_the_version() -> None:
    from agentaudit.instrumentation.agno.package import _supported

    assert _version_check.check_supported(_supported, "3.1.10")
    assert _version_check.check_supported(_supported, "3.0.11")
    assert _version_check.check_supported(_supported, "2.6.13")  # the window's first release
    assert not _version_check.check_supported(_supported, "2.6.12")
    assert not _version_check.check_supported(_supported, "4.0.0")


def test_unsupported_installed_version_warns_once_and_patches_nothing(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from agno.agent import Agent as AgentClass

    original = AgentClass.__init__
    instrument_unsupported(
        monkeypatch,
        caplog,
        provider=provider,
        integration="agno",
        distribution="agno",
        version="2.0.0",
    )
    assert AgentClass.__init__ is original
    assert not agno_integration.instrumented()


def test_call_ids_stay_right_across_many_runs_with_the_same_ids(spans: Spans) -> None:
    """Each run's messages are new objects (their ids may reuse freed ones); every run's
    calls still get their model call ids."""
    for _ in range(25):
        _agent(_model()).run("Handle ticket T-1001.")
    for name in ("read_ticket", "issue_refund"):
        ids = [(s.attributes or {}).get(A.GEN_AI_TOOL_CALL_ID) for s in spans.tools(name)]
        assert ids == [{"read_ticket": "call_t", "issue_refund": "call_r"}[name]] * 25
