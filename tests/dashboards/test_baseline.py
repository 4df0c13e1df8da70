"""Reading a detector baseline and a finding's evidence (pure functions)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from agentaudit.dashboards import baseline as B
from agentaudit.dashboards.evidence import CallRef, parse, referenced_calls
from tests.dashboards.seed_store import demo_baseline

NOW_NS = 1_796_000_000 * 1_000_000_000


def test_the_detectors_encoding_reads_as_tables() -> None:
    saved = demo_baseline(NOW_NS)
    assert B.counts(saved["tools"]) == {"read_inbox": 820, "send_email": 400, "search_contacts": 20}
    assert ("read_inbox", "send_email", 390) in B.transitions(saved["transitions"])
    assert B.per_tool(saved["resources_per_tool"], "types") == [
        ("read_inbox", "email", 820),
        ("send_email", "email", 400),
    ]
    assert B.per_tool(saved["resources_per_tool"], "realms") == [
        ("send_email", "@example.com", 400)
    ]
    assert B.hour_counts(saved["hours"])[9] == 60
    assert B.scalars(saved["fanout"]["send_email"]) == {"session_max": 3, "window_max": 9}
    assert B.counts(saved["cadence"]["histogram"]) == {"1": 700, "2": 150, "4": 50}
    assert B.timestamp(saved["first_ts"]) == dt.datetime.fromtimestamp(
        NOW_NS / 1e9 - 31 * 86400, dt.timezone.utc
    )
    done = B.learning(saved)
    assert done.active is False
    assert done.completed is not None
    assert done.details == {"span_days": 29.0}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 2, "b": {"count": 3}}, {"a": 2, "b": 3}),
        ([["a", 2], {"name": "b", "calls": 3}], {"a": 2, "b": 3}),
        ({"a": "many", "b": True}, {}),
        ("not counts", {}),
        (None, {}),
    ],
)
def test_other_count_shapes_are_read_or_skipped(value: object, expected: dict[str, int]) -> None:
    assert B.counts(value) == expected


def test_other_pair_and_hour_shapes() -> None:
    assert B.transitions({"a": {"b": 2}}) == [("a", "b", 2)]
    assert B.transitions({"a → b": 1}) == [("a", "b", 1)]
    assert B.hour_counts(list(range(24)))[23] == 23
    assert B.hour_counts({"7": 1, "24": 5, "x": 2}) == {7: 1}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_796_000_000, 1_796_000_000.0),
        (1_796_000_000_000, 1_796_000_000.0),
        (1_796_000_000_000_000_000, 1_796_000_000.0),
        ("2026-11-28T10:00:00Z", 1_795_860_000.0),
    ],
)
def test_times_in_any_unit(value: object, expected: float) -> None:
    found = B.timestamp(value)
    assert found is not None
    assert found.timestamp() == pytest.approx(expected)
    assert B.timestamp("yesterday") is None
    assert B.timestamp(0) is None


@pytest.mark.parametrize(
    ("value", "active"),
    [
        (True, True),
        ({"active": True, "span_days": 1}, True),
        ({"done": True}, False),
        ("complete", False),
        ("learning", True),
        (None, None),
        (7, None),
    ],
)
def test_learning_states(value: object, active: bool | None) -> None:
    assert B.learning({"learning": value}).active is active


def test_comparisons_flag_what_the_baseline_never_saw() -> None:
    table = B.compare_counts({"read": 10.0}, {"read": 1.0, "delete": 5.0}, "tool_name")
    assert table.to_dict("records") == [
        {"tool_name": "delete", "baseline": 0.0, "window": 5.0, "new": True},
        {"tool_name": "read", "baseline": 10.0, "window": 1.0, "new": False},
    ]
    pairs = B.compare_pairs([("a", "b", 3.0)], [("a", "c", 1.0)], ("from_tool", "to_tool"))
    assert pairs[["from_tool", "to_tool", "new"]].values.tolist() == [
        ["a", "c", True],
        ["a", "b", False],
    ]
    empty = B.compare_pairs([], [], ("x", "y"))
    assert isinstance(empty, pd.DataFrame)
    assert empty.empty


def test_evidence_names_its_calls_wherever_they_sit() -> None:
    evidence = parse(
        '{"calls": [{"trace_id": "t1", "span_id": "s1", "session_id": "sess"}, '
        '{"trace_id": "t1", "span_id": "s1"}], "nested": {"deep": [{"trace_id": "t2"}]}, '
        '"trace_id": 5}'
    )
    found = referenced_calls({"trace_id": "t0", "span_id": "s0"}, evidence)
    assert found == [CallRef("t0", "s0"), CallRef("t1", "s1", "sess"), CallRef("t2")]
    assert referenced_calls({}, parse("not json")) == []
    assert parse("not json") == "not json"
