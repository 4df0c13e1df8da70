"""The writer's tuple rows (``tool_call_values`` -> ``tuples_table``) and ``tool_call_row``
equal the reference row written column by column, for spans of every shape the
normaliser reads: ours and peers', values of every OTLP type, events, links, verified
stamps, approval grants (first use and replays) and blocked decisions."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentaudit.collector.identity.principals import AGENT, OPEN, TOOL_SERVER
from agentaudit.collector.model import (
    SPAN_KINDS,
    STATUS_CODES,
    VERIFIED_AGENT,
    VERIFIED_APPROVAL_GRANT,
    VERIFIED_APPROVER,
    VERIFIED_PRINCIPAL,
    SpanEvent,
    SpanLink,
    SpanRecord,
)
from agentaudit.collector.writer.arrow_tables import rows_table
from agentaudit.collector.writer.batch import BatchBuilder
from agentaudit.collector.writer.normalise import (
    duplicates,
    encode_json,
    is_tool_call,
    stringify,
    tool_call_row,
)
from agentaudit.collector.writer.table_schemas import TOOL_CALLS
from agentaudit.schema import attributes as A
from agentaudit.schema import peers as P
from tests.collector.writer.reference import to_arrow, tool_call_reference_row

_KEYS = (
    A.GEN_AI_OPERATION_NAME,
    A.GEN_AI_TOOL_NAME,
    A.GEN_AI_TOOL_CALL_ID,
    A.GEN_AI_TOOL_CALL_ARGUMENTS,
    A.GEN_AI_AGENT_ID,
    A.GEN_AI_AGENT_NAME,
    A.GEN_AI_CONVERSATION_ID,
    A.GEN_AI_TOOL_TYPE,
    A.ENDUSER_ID,
    A.SESSION_ID,
    A.FRAMEWORK,
    A.ARGUMENTS_HASH,
    A.RESULT_HASH,
    A.PROMPT_HASH,
    A.SOURCE_REFS,
    A.SOURCE_KINDS,
    A.SOURCE_TRUST,
    A.SOURCE_HASHES,
    A.RESOURCE_IDS,
    A.APPROVAL_STATUS,
    A.APPROVAL_APPROVER,
    A.CREDENTIAL_ID,
    A.CREDENTIAL_SCOPES,
    A.CREDENTIAL_EXPIRES_AT,
    A.DECISION,
    A.ERROR_TYPE,
    A.CALL_SIDE,
    P.OI_SPAN_KIND,
    P.OI_TOOL_NAME,
    P.OI_TOOL_ID,
    P.OI_TOOL_CALL_ID,
    P.OI_INPUT_VALUE,
    P.OI_INPUT_MIME_TYPE,
    P.OI_USER_ID,
    P.OI_AGENT_NAME,
    P.TL_SPAN_KIND,
    P.TL_ENTITY_NAME,
    P.TL_ENTITY_INPUT,
    P.TL_USER_ID,
    P.TL_SESSION_ID,
    P.TL_THREAD_ID,
    P.TL_CONVERSATION_ID,
    P.TL_CHAT_ID,
    P.PAI_TOOL_ARGUMENTS,
    P.PAI_RUN_ID,
    P.PAI_DEFERRAL,
    P.MCP_SESSION_ID,
)
_MEANINGFUL = (
    "",
    A.OPERATION_EXECUTE_TOOL,
    P.OI_SPAN_KIND_TOOL,
    P.TL_SPAN_KIND_TOOL,
    P.OI_MIME_JSON,
    A.DECISION_BLOCKED,
    A.TRUST_UNTRUSTED,
    A.APPROVAL_POLICY,
    A.CALL_SIDE_CLIENT,
    A.CALL_SIDE_SERVER,
    A.CALL_SIDE_LOCAL,
    "agent-1",
    "user-1",
    "sess-1",
    'ünïcødé \u2028 \x00 "q" \\',
    json.dumps({"inputs": {"a": 1}, "kwargs": {"tool_call_id": "call_1"}}),
    json.dumps({"input_str": "x", "kwargs": {}}),
    json.dumps({"args": [1, "b"], "kwargs": {"k": 2}}),
    json.dumps({"args": [], "kwargs": {"k": 2}}),
    json.dumps({"kwargs": {"to": "eve"}, "sanitize_inputs_outputs": True}),
    json.dumps([1, 2]),
    "{not json",
)
_scalars = (
    st.sampled_from(_MEANINGFUL)
    | st.text(max_size=6)
    | st.binary(max_size=4)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.integers(min_value=0, max_value=2**32)
    | st.floats()
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
_attributes = st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=4), _values, max_size=12)
_names = st.sampled_from(
    (
        "execute_tool send_email",
        A.TOOL_SPAN_PREFIX,
        P.PAI_TOOL_SPAN_NAME,
        P.OI_HANDOFF_PREFIX + "agent",
        "tools/call",
        "chat",
    )
) | st.text(max_size=8)
_verified = st.fixed_dictionaries(
    {},
    optional={
        VERIFIED_PRINCIPAL: st.sampled_from((AGENT, TOOL_SERVER, OPEN, "")),
        VERIFIED_AGENT: st.sampled_from(("", "agent-1", "agent-2")),
        VERIFIED_APPROVAL_GRANT: st.sampled_from(("", "grant-1", "grant-2")),
        VERIFIED_APPROVER: st.sampled_from(("", "alice")),
    },
)
_events = st.lists(
    st.builds(
        SpanEvent,
        st.integers(0, 2**62),
        st.sampled_from((P.EXCEPTION_EVENT, "log")),
        st.dictionaries(st.sampled_from((P.EXCEPTION_TYPE, "message")), _values, max_size=2),
    ),
    max_size=2,
)
_links = st.lists(
    st.builds(SpanLink, st.just("ab" * 16), st.just("cd" * 8), st.text(max_size=3), _attributes),
    max_size=2,
)


@st.composite
def _spans(draw: Any) -> list[SpanRecord]:
    resources = draw(
        st.lists(
            st.dictionaries(st.sampled_from((A.SERVICE_NAME, "host")), _values, max_size=2),
            min_size=1,
            max_size=3,
        )
    )
    spans: list[SpanRecord] = []
    for n in range(draw(st.integers(min_value=1, max_value=8))):
        attributes = draw(_attributes)
        if spans and draw(st.booleans()):  # another span's record of the same call
            attributes[A.AUDITED_BY] = draw(st.sampled_from([s.span_id for s in spans]))
        start = draw(st.integers(0, 2**62))
        spans.append(
            SpanRecord(
                f"{n % 2 + 1:032x}",
                f"{n + 1:016x}",
                draw(_names),
                start,
                start + draw(st.integers(-5, 10**9)),
                parent_span_id=draw(st.sampled_from(("", "ef" * 8))),
                kind=draw(st.sampled_from(SPAN_KINDS)),
                status_code=draw(st.sampled_from(STATUS_CODES)),
                attributes=attributes,
                resource_attributes=resources[n % len(resources)],
                scope_name=draw(st.sampled_from(("", *P.SCOPE_FRAMEWORKS))),
                events=draw(_events),
                links=draw(_links),
                redactions=draw(
                    st.dictionaries(st.text(max_size=4), st.integers(0, 2**32 - 1), max_size=2)
                ),
                verified=draw(_verified),
            )
        )
    return spans


@settings(max_examples=300, deadline=None)
@given(st.text())
@example(' a\t\n\x00\x1f"\\/\u2028\ud800é😀 ')
def test_a_one_string_list_is_its_json(text: str) -> None:
    assert stringify([text]) == encode_json([text])
    assert stringify([text]) == json.dumps([text], ensure_ascii=False, separators=(",", ":"))


def _was_blocked(agent: str, user: str, session: str, ts_ns: int) -> bool:
    return (len(agent) + len(user) + len(session) + ts_ns) % 2 == 0


def _first_use() -> Callable[[str], bool]:
    """A fresh ledger of presented grants: True the first time a grant is seen."""
    seen: set[str] = set()

    def first(grant: str) -> bool:
        new = grant not in seen
        seen.add(grant)
        return new

    return first


def _reference_rows(spans: Sequence[SpanRecord], received: Sequence[int]) -> list[Any]:
    first_use = _first_use()
    return [
        tool_call_reference_row(
            spans[i], received_ns=received[i], was_blocked=_was_blocked, first_use=first_use
        )
        for i in range(len(spans))
    ]


@settings(max_examples=300, deadline=None)
@given(_spans())
def test_tool_call_row_equals_the_reference(spans: list[SpanRecord]) -> None:
    received = [10 * n for n in range(len(spans))]
    first_use = _first_use()
    rows = [
        tool_call_row(span, received_ns=at, was_blocked=_was_blocked, first_use=first_use)
        for span, at in zip(spans, received, strict=True)
    ]
    expected = _reference_rows(spans, received)
    assert rows == expected
    assert rows_table(TOOL_CALLS, rows).equals(to_arrow(TOOL_CALLS, expected))


@settings(max_examples=300, deadline=None)
@given(_spans())
def test_the_batch_tables_equal_the_reference_tables(spans: list[SpanRecord]) -> None:
    received = [1_700_000_000_000_000_000 + n for n in range(len(spans))]
    calls = [i for i, span in enumerate(spans) if is_tool_call(span)]
    skipped = duplicates(spans, calls)
    positions = [i for i in calls if i not in skipped]
    batch = BatchBuilder(
        dead_letter=_no_dead_letters, was_blocked=_was_blocked, first_use=_first_use()
    ).build(list(zip(received, spans, strict=True)))
    assert batch is not None
    assert batch.calls_of == positions
    first_use = _first_use()
    expected = [
        tool_call_reference_row(
            spans[i], received_ns=received[i], was_blocked=_was_blocked, first_use=first_use
        )
        | {"batch_id": batch.batch_id}
        for i in positions
    ]
    if expected:
        assert batch.calls is not None
        assert batch.calls.equals(to_arrow(TOOL_CALLS, expected))
    else:
        assert batch.calls is None


def _no_dead_letters(spans: Sequence[SpanRecord], error: str) -> None:
    raise AssertionError(f"a span was dead-lettered: {error}")
