"""Baselines: the JSON contract (keys of 0015's comment), exact round trips, bounds."""

from __future__ import annotations

import json

import pytest

from agentaudit.detector.baseline import Baseline, Bounds
from agentaudit.detector.engine import Detector
from agentaudit.detector.policy import DetectorSettings
from tests.detector._data import HOUR, NS, History, after, call

KEYS = {
    "calls",
    "first_ts",
    "last_ts",
    "learning",
    "tools",
    "transitions",
    "resources_per_tool",
    "fanout",
    "cadence",
    "hours",
    "scopes",
    "provenance",
    "argument_keys",
    "reference",
}


def learned(history: History | None = None, **kwargs: object) -> Baseline:
    detector = Detector(**kwargs)  # type: ignore[arg-type]
    detector.process_all((history or History()).calls())
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    return baseline


def test_json_has_the_contract_keys_and_round_trips_exactly() -> None:
    baseline = learned()
    data = baseline.to_json()
    assert set(data) >= KEYS
    text = json.dumps(data)
    again = Baseline.from_json(json.loads(text))
    assert again.to_json() == data
    assert data["tools"]["items"]["send_email"]["n"] == baseline.tools.entries["send_email"][0]
    assert data["fanout"]["send_email"]["session_max"] == 3
    assert set(data["resources_per_tool"]["send_email"]["types"]["items"]) == {"mailbox"}
    assert set(data["resources_per_tool"]["send_email"]["realms"]["items"]) == {"@company.example"}
    assert data["argument_keys"]["send_email"]["items"].keys() == {"body,subject,to"}
    assert set(data["provenance"]["send_email"]["items"]) == {"trusted:none"}
    assert data["learning"]["active"] is False
    assert data["reference"]["kind"] == "frozen"
    assert "read_ticket -> send_email" in data["transitions"]["items"]


def test_a_reloaded_baseline_judges_like_the_original() -> None:
    history = History()
    original = Detector()
    original.process_all(history.calls())
    baseline = original.baseline("support-bot")
    assert baseline is not None
    reloaded = Detector(
        baselines={"support-bot": Baseline.from_json(json.loads(json.dumps(baseline.to_json())))}
    )
    probe = [
        call(
            ts=after(history) + i * NS, session_id="p", resource_ids=(f"mailbox:z{i}@evil.example",)
        )
        for i in range(20)
    ]
    original.process_all(probe)
    reloaded.process_all(probe)
    first = sorted((f.rule, f.severity, f.summary) for f in original.take_findings())
    second = sorted((f.rule, f.severity, f.summary) for f in reloaded.take_findings())
    assert first == second
    assert {"fan_out", "new_recipient_domain"} <= {rule for rule, _, _ in first}


def test_another_format_is_refused() -> None:
    data = learned().to_json()
    data["format"] = 99
    with pytest.raises(ValueError, match="format"):
        Baseline.from_json(data)


def test_families_are_bounded_and_a_full_family_never_calls_anything_new() -> None:
    bounds = Bounds(tools=4, resources=50)
    history = History()
    detector = Detector(DetectorSettings(), bounds=bounds)
    calls = history.calls()
    extra = [
        call(tool=f"tool-{i}", ts=calls[0].ts_ns + i * HOUR, session_id=f"t{i}") for i in range(10)
    ]
    detector.process_all(sorted([*calls, *extra], key=lambda c: c.ts_ns))
    baseline = detector.baseline("support-bot")
    assert baseline is not None
    assert len(baseline.tools) == 4
    assert baseline.tools.dropped > 0
    assert baseline.tools.p_new() == 1.0
    detector.take_findings()
    detector.process(call(tool="never-seen", ts=after(history)))
    assert "new_tool" not in {f.rule for f in detector.take_findings()}
    sizes = sum(len(s.resources) for s in baseline.per_tool.values())
    assert sizes <= 50


def test_live_counters_are_bounded() -> None:
    bounds = Bounds(sessions=4, session_resources=100, live_resources=150, window_resources=100)
    detector = Detector(bounds=bounds)
    for i in range(1000):
        detector.process(
            call(ts=i * NS, session_id=f"s{i % 10}", resource_ids=(f"mailbox:{i}@x.example",))
        )
    agent = detector._agents["support-bot"]
    activity = agent.activity
    assert len(activity._sessions) <= 4
    assert all(s.size <= 100 for s in activity._sessions.values())
    assert sum(s.size for s in activity._sessions.values()) <= 150
    assert activity._live == sum(s.size for s in activity._sessions.values())
    assert activity._windows_size <= 100
