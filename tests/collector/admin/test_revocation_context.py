"""The alert of a revocation points at the call no human asked for, not the last one."""

from __future__ import annotations

from typing import Any

from agentaudit.collector.admin.revocation.context import tool_call_context
from agentaudit.collector.writer.writer import Writer
from agentaudit.schema import attributes as A


def _write(store: Any, *spans: Any) -> None:
    writer = Writer(store)
    writer.enqueue(list(spans))
    writer.flush()


def _attrs(tool: str, *, approval: str, trust: str) -> dict[str, Any]:
    from tests.conftest import _tool_attributes

    attrs = _tool_attributes(tool)
    attrs[A.APPROVAL_STATUS] = approval
    attrs[A.SOURCE_TRUST] = [trust, A.TRUST_USER]
    return attrs


def test_prefers_the_newest_unapproved_call_prompted_by_untrusted_content(
    store: Any, make_span: Any
) -> None:
    suspicious = make_span(
        name="execute_tool send_email",
        attributes=_attrs("send_email", approval=A.APPROVAL_NONE, trust=A.TRUST_UNTRUSTED),
    )
    later_benign = make_span(
        name="execute_tool read_inbox",
        start_ns=suspicious.start_ns + 60_000_000_000,
        end_ns=suspicious.end_ns + 60_000_000_000,
        attributes=_attrs("read_inbox", approval=A.APPROVAL_HUMAN, trust=A.TRUST_TRUSTED),
    )
    _write(store, suspicious, later_benign)
    context = tool_call_context(store)("agent", "agent-1", None)
    assert context is not None
    assert (context.tool, context.span_id) == ("send_email", suspicious.span_id)


def test_falls_back_to_the_newest_call(store: Any, make_span: Any) -> None:
    first = make_span(attributes=_attrs("a", approval=A.APPROVAL_HUMAN, trust=A.TRUST_USER))
    second = make_span(
        start_ns=first.start_ns + 1_000_000_000,
        end_ns=first.end_ns + 1_000_000_000,
        attributes=_attrs("b", approval=A.APPROVAL_HUMAN, trust=A.TRUST_USER),
    )
    _write(store, first, second)
    context = tool_call_context(store)("agent", "agent-1", None)
    assert context is not None
    assert context.tool == "b"
