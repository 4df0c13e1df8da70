"""SIEM export on a real store: every event validates against the published OCSF schema of
its class (ocsf-json-schema ships the OCSF exports), carries its place in the chain, and
an export interrupted at any unit resumes after a restart without gaps or duplicates."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from agentaudit.detector.alerts import OCSF_VERSION as DETECTOR_OCSF
from agentaudit.errors import ConfigError
from agentaudit.export import OCSF_VERSION, Exporter, FileSink, HecSink, build_exporter
from agentaudit.export.exporter import Checkpoint
from agentaudit.export.sinks import ExportError
from agentaudit.store import Store
from tests.conftest import SpanFactory
from tests.store.evidence._seed import seed, write_spans

CLASSES = {
    6003: ("api_activity", ["ai_operation"]),
    3004: ("entity_management", []),
    2004: ("detection_finding", ["security_control"]),
}


@cache
def _validator(class_uid: int, version: str) -> Any:
    name, profiles = CLASSES[class_uid]
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version)).get_class_schema(
        name, profiles=profiles
    )
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate(event: dict[str, Any]) -> None:
    """Against the schema of the version the event claims, and of the newest (1.8.0)."""
    for version in {event["metadata"]["version"], "1.8.0"}:
        validator = _validator(event["class_uid"], version)
        errors = sorted(validator.iter_errors(event), key=str)
        assert not errors, f"{version} {event['class_name']}: {errors[0].message} at " + str(
            list(errors[0].path)
        )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("ascii").splitlines()]


def _export(store: Store, tmp_path: Path, **kwargs: Any) -> tuple[Exporter, Path]:
    path = tmp_path / "siem" / "ocsf.jsonl"
    exporter = Exporter(store, FileSink(path), tmp_path / "checkpoint.json", **kwargs)
    return exporter, path


def test_events_are_valid_ocsf_and_carry_their_chain_position(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    seed(store, tmp_path, make_span)
    exporter, path = _export(store, tmp_path)
    sent = exporter.run()
    exporter.close()
    events = _lines(path)
    assert sent == len(events)
    by_class: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        _validate(event)
        # Findings keep the detector alerts' own mapping (OCSF 1.5.0, valid in 1.8.0 too).
        claimed = DETECTOR_OCSF if event["class_uid"] == 2004 else OCSF_VERSION
        assert event["metadata"]["version"] == claimed
        assert event["metadata"]["product"]["name"] == "agentaudit"
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
        by_class.setdefault(event["class_uid"], []).append(event)
    calls, revocations, findings = by_class[6003], by_class[3004], by_class[2004]
    assert len(calls) == 6  # the six tool calls (the chat span is no tool call)
    # One of them is a tool server's linked record: sealed, and named as such.
    (server,) = [c for c in calls if c["unmapped"]["agentaudit"]["integrity"]["chain"] == "seal"]
    assert server["metadata"]["log_name"] == "agentaudit.tool_call_server_sides"
    assert server["unmapped"]["agentaudit"]["provenance"]["call_side"] == "server"
    assert len(revocations) == 3  # every version of the revocation rows
    assert len(findings) == 2

    call = calls[0]
    assert call["metadata"]["profiles"] == ["ai_operation"]
    assert call["api"]["operation"] == "send_email"
    assert call["actor"]["app_name"] == "agent-1"
    assert call["actor"]["user"]["uid"] == "user-1"
    assert call["api"]["request"]["data"] == {"to": "a@example.com"}
    assert call["message_context"]["ai_role_id"] == 3
    integrity = call["unmapped"]["agentaudit"]["integrity"]
    chained = {
        (str(b), int(s), str(h))
        for b, s, h in store.query(
            "SELECT batch_id, seq, chain_hash FROM agentaudit.audit_chain"
        ).rows
    }
    assert (integrity["batch_id"], integrity["seq"], integrity["chain_hash"]) in chained
    assert integrity["chain"] == "tool_calls"
    assert len(integrity["row_hash"]) == 64
    assert len({e["metadata"]["uid"] for e in events}) == len(events)  # one uid per row

    revoke = next(e for e in revocations if e["unmapped"]["agentaudit"]["status"] == "done"
                  and e["activity_id"] == 9)  # fmt: skip
    assert revoke["entity"] == {"uid": "agent-1", "name": "agent-1", "type": "agent"}
    assert revoke["unmapped"]["agentaudit"]["integrity"]["chain"] == "seal"
    assert findings[0]["finding_info"]["uid"]


def test_an_interrupted_export_resumes_without_gaps(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    seed(store, tmp_path, make_span)
    whole, whole_path = _export(store, tmp_path / "whole")
    whole.run()
    whole.close()
    expected = [e["metadata"]["uid"] for e in _lines(whole_path)]

    first, path = _export(store, tmp_path)
    first.run(max_units=1)  # a stop after one unit
    first.close()
    with path.open("ab") as handle:  # a crash after a write, before its checkpoint
        handle.write(b'{"half": "written"}\n{"trunc')
    second, _ = _export(store, tmp_path)
    second.run()
    second.close()
    assert [e["metadata"]["uid"] for e in _lines(path)] == expected

    # New rows later: the next run sends only those.
    write_spans(store, tmp_path / "wal3", [make_span() for _ in range(2)])
    third, _ = _export(store, tmp_path)
    assert third.run() == 2
    third.close()
    assert len(_lines(path)) == len(expected) + 2
    assert Checkpoint.load(tmp_path / "checkpoint.json").tool_calls


def test_since_skips_older_rows(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    seed(store, tmp_path, make_span)
    exporter, path = _export(store, tmp_path, sources=["tool_calls"], since_ns=2**62)
    assert exporter.run() == 0
    exporter.close()
    assert path.read_text() == ""


def test_an_unreachable_hec_keeps_the_checkpoint(
    store: Store, tmp_path: Path, make_span: SpanFactory, free_port: Any
) -> None:
    seed(store, tmp_path, make_span)
    sink = HecSink(f"http://127.0.0.1:{free_port()}/services/collector", "t", sleep=lambda _: None)
    exporter = Exporter(store, sink, tmp_path / "cp.json", sources=["tool_calls"])
    with pytest.raises(ExportError, match="did not take"):
        exporter.run()
    assert not (tmp_path / "cp.json").exists()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, "exactly one of"),
        ({"ocsf_file": "events.jsonl", "hec_url": "https://h/e"}, "exactly one of"),
        ({"hec_url": "https://h/e"}, "needs a token"),
        ({"ocsf_file": "events.jsonl", "sources": ["passwords"]}, "unknown source"),
        ({"ocsf_file": "events.jsonl", "colour": "red"}, "colour"),
    ],
)
def test_bad_export_config_is_refused(
    store: Store, tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    target = tmp_path / "events.jsonl"
    if "ocsf_file" in section:
        section = {**section, "ocsf_file": str(target)}
    with pytest.raises(ConfigError, match=message):
        build_exporter(store, {"export": section}, state_dir=tmp_path, environ={})
    assert not target.exists()  # refused before the sink was opened


def test_an_export_file_that_cannot_be_opened_is_a_config_error(
    store: Store, tmp_path: Path
) -> None:
    section = {"ocsf_file": str(tmp_path)}  # a directory
    with pytest.raises(ConfigError, match=r"\[export\] ocsf_file .*: Is a directory"):
        build_exporter(store, {"export": section}, state_dir=tmp_path, environ={})


def test_a_corrupt_checkpoint_is_refused(store: Store, tmp_path: Path) -> None:
    (tmp_path / "cp.json").write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        Exporter(store, FileSink(tmp_path / "o.jsonl"), tmp_path / "cp.json")
