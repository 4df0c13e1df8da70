"""The OCSF sink: real files, every line an OCSF Detection Finding that validates against
the OCSF JSON schema (ocsf-json-schema ships the OCSF exports) and carries the class's
required attributes, fsync'd, rotated by size."""

from __future__ import annotations

import json
import stat
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from agentaudit import __version__
from agentaudit.detector.alerts import OCSF_VERSION, Alert, OcsfFileSink, finding_link
from agentaudit.detector.alerts.ocsf import detection_finding
from tests.broker.helpers import FakeClock
from tests.detector.alerts.helpers import DASHBOARD, SENTENCE, finding

# The required attributes of Detection Finding (class_uid 2004, category 2 Findings) in
# OCSF 1.1-1.8, and of the objects it requires, written down from the OCSF docs.
REQUIRED: dict[str, type] = {
    "activity_id": int,
    "category_uid": int,
    "class_uid": int,
    "type_uid": int,
    "severity_id": int,
    "time": int,
    "finding_info": dict,
    "metadata": dict,
}
REQUIRED_FINDING_INFO: dict[str, type] = {"uid": str}
REQUIRED_METADATA: dict[str, type] = {"version": str, "product": dict}


@cache
def _validator(version: str) -> jsonschema.protocols.Validator:
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version)).get_class_schema(
        "detection_finding", profiles=["security_control"]
    )
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def _check(event: dict[str, Any]) -> None:
    for key, kind in REQUIRED.items():
        assert isinstance(event[key], kind), key
        assert not isinstance(event[key], bool), key
    for key, kind in REQUIRED_FINDING_INFO.items():
        assert isinstance(event["finding_info"][key], kind), key
    for key, kind in REQUIRED_METADATA.items():
        assert isinstance(event["metadata"][key], kind), key
    assert event["metadata"]["product"]["name"] == "agentaudit"
    assert event["class_uid"] == 2004
    assert event["category_uid"] == 2
    assert event["type_uid"] == 2004 * 100 + event["activity_id"]
    for version in (OCSF_VERSION, "1.8.0"):  # the version we claim, and the newest
        errors = sorted(_validator(version).iter_errors(event), key=str)
        assert not errors, f"OCSF {version}: {errors[0].message} at {list(errors[0].path)}"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("ascii").splitlines()]


def test_lines_are_valid_detection_findings(tmp_path: Path) -> None:
    path = tmp_path / "siem" / "findings.ocsf.jsonl"
    first = finding()
    worse = finding(severity="critical", action="revoke_credential", ts_ns=first.ts_ns + 5 * 10**9)
    sink = OcsfFileSink(path, clock=FakeClock())
    sink.send(Alert.single(first, finding_link(DASHBOARD, first)))
    sink.send(
        Alert(
            worse,
            finding_link(DASHBOARD, worse),
            incident=first.finding_id,
            sequence=1,
            count=50,
            new=49,
            first_ts_ns=first.ts_ns,
            last_ts_ns=worse.ts_ns,
        )
    )
    sink.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    created, updated = _lines(path)
    for event in (created, updated):
        _check(event)

    assert created["activity_id"] == 1
    assert created["type_uid"] == 200401
    assert created["time"] == first.ts_ns // 10**6
    assert created["severity_id"] == 4
    assert created["status_id"] == 1
    assert (created["action_id"], created["disposition_id"]) == (2, 3)  # Denied, Quarantined
    info = created["finding_info"]
    assert info["uid"] == first.finding_id
    assert info["desc"] == SENTENCE
    assert info["types"] == ["fan_out"]
    assert info["analytic"] == {
        "name": "fan_out",
        "uid": "fan_out",
        "type_id": 2,
        "type": "Behavioral",
    }
    assert info["src_url"] == "http://127.0.0.1:8501/session?session=sess-42"
    meta = created["metadata"]
    assert meta["version"] == OCSF_VERSION
    assert meta["product"]["version"] == __version__
    assert meta["logged_time"] == int(FakeClock().now * 1000)
    (evidence,) = created["evidences"]
    assert evidence["actor"] == {
        "app_name": "support-bot",
        "user": {"uid": "alice", "name": "alice"},
        "session": {"uid": "sess-42"},
    }
    assert evidence["api"] == {"operation": "send_email", "request": {"uid": "cd" * 8}}
    assert evidence["data"] == dict(first.evidence)
    assert created["resources"] == [
        {"uid": "support-bot", "name": "support-bot", "type": "ai_agent"},
        {"name": "send_email", "type": "tool"},
    ]
    assert created["unmapped"]["agentaudit"]["revocation_id"] == "5f0c2a9e"

    assert updated["activity_id"] == 2
    assert updated["finding_info"]["uid"] == first.finding_id  # the same finding, updated
    assert updated["metadata"]["correlation_uid"] == first.finding_id
    assert updated["count"] == 50
    assert updated["finding_info"]["related_events_count"] == 50
    assert (updated["start_time"], updated["end_time"]) == (
        first.ts_ns // 10**6,
        worse.ts_ns // 10**6,
    )
    assert (updated["severity_id"], updated["disposition_id"]) == (5, 24)  # Access Revoked


@pytest.mark.parametrize(
    ("severity", "action", "state", "expected"),
    [
        ("low", "alert", "open", (2, 19, 1)),
        ("medium", "alert", "acknowledged", (3, 19, 2)),
        ("high", "quarantine", "escalated", (4, 3, 2)),
        ("critical", "revoke_credential", "false_positive", (5, 24, 3)),
        ("low", "none", "open", (2, 16, 1)),
    ],
)
def test_every_severity_action_and_state_maps_to_a_valid_event(
    severity: str, action: str, state: str, expected: tuple[int, int, int]
) -> None:
    """``expected``: (severity_id, disposition_id, status_id)."""
    alert = Alert.single(finding(severity=severity, action=action, state=state))
    event = detection_finding(alert, logged_ms=0)
    _check(event)
    assert (event["severity_id"], event["disposition_id"], event["status_id"]) == expected
    assert "src_url" not in event["finding_info"]  # no dashboard URL, no link


def test_sparse_and_hostile_findings_stay_one_valid_ascii_line(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    sink = OcsfFileSink(path)
    hostile = 'x\n{"class_uid": 1}\u2028\u2029\r"<script>'
    sink.send(Alert.single(finding(agent_id=hostile, summary=hostile, rule=hostile)))
    sink.send(
        Alert.single(
            finding(user_id="", session_id="", tool_name="", span_id="", trace_id="", agent_id="")
        )
    )
    sink.close()
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2
    assert raw.isascii()
    events = _lines(path)
    for event in events:
        _check(event)
    assert events[0]["message"] == hostile
    assert events[1]["evidences"][0]["actor"] == {"app_name": "unknown"}
    assert "api" not in events[1]["evidences"][0]


def test_a_huge_evidence_is_replaced_by_a_marker() -> None:
    event = detection_finding(
        Alert.single(finding(evidence={"calls": ["y" * 1024] * 300})), logged_ms=0
    )
    assert event["evidences"][0]["data"]["truncated"] is True
    _check(event)


def test_the_file_is_rotated_by_size_and_keeps_a_bounded_number_of_backups(
    tmp_path: Path,
) -> None:
    path = tmp_path / "findings.ocsf.jsonl"
    line_bytes = len(
        json.dumps(detection_finding(Alert.single(finding()), logged_ms=0), separators=(",", ":"))
    )
    sink = OcsfFileSink(path, max_bytes=3 * line_bytes + 100, backups=2)
    for _ in range(20):
        sink.send(Alert.single(finding()))
    sink.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["findings.ocsf.jsonl", "findings.ocsf.jsonl.1", "findings.ocsf.jsonl.2"]
    counts = [len(_lines(tmp_path / name)) for name in names]
    assert all(count <= 3 for count in counts)
    assert counts[1] == counts[2] == 3
    for name in names:
        assert (tmp_path / name).stat().st_size <= 3 * line_bytes + 100
        for event in _lines(tmp_path / name):
            _check(event)


def test_without_backups_the_file_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    sink = OcsfFileSink(path, max_bytes=100, backups=0)  # each line is over the cap
    for _ in range(3):
        sink.send(Alert.single(finding()))
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["f.jsonl"]
    assert len(_lines(path)) == 1


def test_a_closed_sink_refuses_and_a_bad_path_fails_at_construction(tmp_path: Path) -> None:
    from agentaudit.detector.alerts import AlertDeliveryError

    sink = OcsfFileSink(tmp_path / "f.jsonl")
    sink.close()
    with pytest.raises(AlertDeliveryError, match="closed"):
        sink.send(Alert.single(finding()))
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match=r"Not a directory|File exists"):
        OcsfFileSink(tmp_path / "file" / "f.jsonl")


def test_the_schema_check_is_not_vacuous() -> None:
    event = detection_finding(Alert.single(finding()), logged_ms=0)
    broken = {k: v for k, v in event.items() if k != "time"}
    assert any(
        "'time' is a required property" in e.message
        for e in _validator("1.5.0").iter_errors(broken)
    )
    assert list(_validator("1.5.0").iter_errors({**event, "agent": "x"}))  # no unknown keys
    assert list(_validator("1.5.0").iter_errors({**event, "severity_id": 7}))
