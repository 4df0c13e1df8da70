"""The writer's column-wise Arrow building equals the row-wise reference exactly."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.collector.writer.arrow_tables import rows_table, traces_table
from agentaudit.collector.writer.batch import BatchBuilder
from agentaudit.collector.writer.normalise import (
    is_tool_call,
    stringify,
    tool_call_row,
)
from agentaudit.collector.writer.table_schemas import OTEL_TRACES, TOOL_CALLS
from agentaudit.schema import attributes as A
from tests.collector.writer.reference import to_arrow, trace_row
from tests.conftest import SpanFactory

_scalars = (
    st.text(max_size=8)
    | st.binary(max_size=4)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
_attributes = st.dictionaries(st.text(max_size=6), _values, max_size=5)


@st.composite
def _spans(draw: Any) -> list[SpanRecord]:
    resources = draw(st.lists(_attributes, min_size=1, max_size=3))
    spans = []
    for n in range(draw(st.integers(min_value=1, max_value=6))):
        spans.append(
            SpanRecord(
                f"{n + 1:032x}",
                f"{n + 1:016x}",
                draw(st.text(max_size=6)),
                n,
                n + draw(st.integers(0, 9)),
                attributes=draw(_attributes),
                resource_attributes=resources[n % len(resources)],
                events=[SpanEvent(n, "e", a) for a in draw(st.lists(_attributes, max_size=2))],
                links=[
                    SpanLink("ab" * 16, "cd" * 8, "", a)
                    for a in draw(st.lists(_attributes, max_size=2))
                ],
                redactions=draw(
                    st.dictionaries(st.text(max_size=4), st.integers(0, 9), max_size=2)
                ),
            )
        )
    return spans


@settings(max_examples=150, deadline=None)
@given(_spans())
def test_traces_table_equals_the_row_wise_table(spans: list[SpanRecord]) -> None:
    expected = to_arrow(OTEL_TRACES, [trace_row(s) for s in spans])
    assert traces_table(spans).equals(expected)


@settings(max_examples=150, deadline=None)
@given(_spans())
def test_rows_table_equals_to_arrow(spans: list[SpanRecord]) -> None:
    rows = [tool_call_row(s, received_ns=5) for s in spans]
    assert rows_table(TOOL_CALLS, rows).equals(to_arrow(TOOL_CALLS, rows))


def test_contract_spans(make_span: SpanFactory) -> None:
    spans = [make_span() for _ in range(50)]
    assert traces_table(spans).equals(to_arrow(OTEL_TRACES, [trace_row(s) for s in spans]))
    rows = [tool_call_row(s, received_ns=5) for s in spans]
    assert rows_table(TOOL_CALLS, rows).equals(to_arrow(TOOL_CALLS, rows))


@settings(max_examples=200, deadline=None)
@given(_values)
def test_stringify_of_nested_values_is_compact_json(value: Any) -> None:
    expected = (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_hex)
        if isinstance(value, list | dict)
        else None
    )
    if expected is not None:
        assert stringify(value) == expected


def _hex(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


@settings(max_examples=100, deadline=None)
@given(_spans(), st.lists(st.booleans(), min_size=6, max_size=6))
def test_the_writers_tables_equal_the_row_wise_tables(
    spans: list[SpanRecord], calls: list[bool]
) -> None:
    for span, call in zip(spans, calls, strict=False):  # a mix of tool calls and other spans
        if call:
            span.attributes[A.GEN_AI_OPERATION_NAME] = A.OPERATION_EXECUTE_TOOL
        else:
            span.attributes.pop(A.GEN_AI_OPERATION_NAME, None)
            span.name = "chat"
    received = [(7, span) for span in spans]
    batch = BatchBuilder(dead_letter=_no_dead_letters).build(received)
    assert batch is not None
    assert batch.traces.equals(to_arrow(OTEL_TRACES, [trace_row(s) for s in spans]))
    rows = [tool_call_row(s, received_ns=7) for s in spans if is_tool_call(s)]
    for row in rows:
        row["batch_id"] = batch.batch_id
    assert len(batch.calls_of) == len(rows)
    if rows:
        assert batch.calls is not None
        assert batch.calls.equals(to_arrow(TOOL_CALLS, rows))
    else:
        assert batch.calls is None


def _no_dead_letters(spans: Sequence[SpanRecord], error: str) -> None:
    raise AssertionError(f"a span was dead-lettered: {error}")
