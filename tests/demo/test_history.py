"""The demo's backfilled history (``agentaudit up --demo`` runs ``--history``).

Its spans go through what the collector does before the detector reads them (OTLP
encoding, decoding, the default redaction, the ``tool_calls`` row) into the real
detector, started before the history arrives (the demo exports it after ``up`` started:
every history call is older than the action window). The history must complete both
agents' learning periods and raise nothing that acts or alerts; the live incident must
then be quarantined and the live calendar sessions left alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentaudit.collector.ingest.otlp_decode import decode_export_request
from agentaudit.collector.ingest.redaction import Redactor
from agentaudit.collector.writer.normalise import is_tool_call, tool_call_row
from agentaudit.demo import data, scenario
from agentaudit.demo.history import CLAIMED_AGE_SECONDS, DAY, DAYS, HOUR, history
from agentaudit.demo.history import export_history as export
from agentaudit.detector.engine import Detector
from agentaudit.detector.model import CALL_COLUMNS, Call, Finding, severity_at_least
from agentaudit.detector.policy import DetectorSettings
from agentaudit.instrumentation import _state, configure, instrument, uninstrument
from agentaudit.schema import attributes as A

NOW = 1_796_601_600 * 1_000_000_000 + 15 * HOUR  # 2026-12-07 15:00 UTC


@dataclass
class Exported:
    provider: TracerProvider
    spans: InMemorySpanExporter


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exported]:
    """A fresh SDK provider, instrumented, exporting into memory."""
    for name in ("AGENTAUDIT_CONFIG", "AGENTAUDIT_API_URL", "AGENTAUDIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    configure(reset=True)
    _state.registry().clear()
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider, integrations=())
    try:
        yield Exported(provider, exporter)
    finally:
        uninstrument()
        provider.shutdown()
        configure(reset=True)
        _state.registry().clear()


def _stored(exporter: InMemorySpanExporter) -> list[Call]:
    """The exported tool spans as the detector reads them from the store, in ts order."""
    spans = list(decode_export_request(encode_spans(exporter.get_finished_spans())))
    exporter.clear()
    Redactor.from_config({}, environ={"AGENTAUDIT_REDACTION_KEY": "k" * 32}).redact(spans)
    rows = [tool_call_row(s, received_ns=time.time_ns()) for s in spans if is_tool_call(s)]
    calls = [Call.from_row([row[c] for c in CALL_COLUMNS]) for row in rows]
    return sorted(calls, key=lambda c: c.ts_ns)


def test_history_is_the_same_for_one_clock_and_lies_in_the_past_days() -> None:
    calls = history(NOW)
    assert calls == history(NOW)
    assert 500 <= len(calls) <= 650
    today = NOW - NOW % DAY
    assert today - DAYS * DAY <= calls[0].ts_ns
    assert calls[-1].ts_ns < today
    assert [c.ts_ns for c in calls] == sorted(c.ts_ns for c in calls)
    tools = {c.tool for c in calls}
    assert tools == {"read_inbox", "send_email", "list_events", "create_event"}
    assert "export_customers" not in tools  # the incident's tool is new to the baseline


def test_history_completes_learning_raises_nothing_live_and_the_incident_is_quarantined(
    exported: Exported,
) -> None:
    settings = DetectorSettings(max_claimed_age_seconds=CLAIMED_AGE_SECONDS)  # as `up --demo`
    now = time.time_ns()  # the live sessions below run on the real clock
    sent = export(provider=exported.provider, now_ns=now)
    past = _stored(exported.spans)
    assert len(past) == sent

    detector = Detector(settings)
    detector.act_after_ns = now - 300 * 1_000_000_000  # the detector started before it
    detector.process_all(past)
    for agent in (data.INCIDENT_AGENT, data.CALENDAR_AGENT):
        baseline = detector.baseline(agent)
        assert baseline is not None
        assert not baseline.learning, agent
    history_findings = detector.take_findings()
    assert all(f.action == "none" for f in history_findings), history_findings
    assert not [f for f in history_findings if severity_at_least(f.severity, "high")]
    assert detector.take_actions() == []

    # The live sessions, by the plain scripted agent (today's clock).
    for user, session in data.CALENDAR_SESSIONS:
        scenario.run_calendar_session(user, session)
    scenario.run_incident()
    live = _stored(exported.spans)
    assert live
    assert all(c.ts_ns > detector.act_after_ns for c in live)
    detector.process_all(live)
    findings: list[Finding] = detector.take_findings()
    calendar = [f for f in findings if f.agent_id == data.CALENDAR_AGENT]
    # Nothing about the live calendar sessions reaches the on-call channel.
    assert [f.summary for f in calendar if f.action != "none"] == []
    incident = [
        f
        for f in findings
        if f.agent_id == data.INCIDENT_AGENT and severity_at_least(f.severity, "high")
    ]
    assert incident, findings
    assert {f.session_id for f in incident} == {scenario.INCIDENT_SESSION}
    assert any(f.tool_name == "export_customers" for f in incident)
    actions = detector.take_actions()  # one per high incident (new tool, new scope)
    assert actions
    assert {(a.agent, a.action) for a in actions} == {(data.INCIDENT_AGENT, "quarantine")}


def test_history_through_an_other_provider_is_not_exported_here(exported: Exported) -> None:
    elsewhere = TracerProvider()
    other = InMemorySpanExporter()
    elsewhere.add_span_processor(SimpleSpanProcessor(other))
    sent = export(provider=elsewhere, now_ns=NOW, days=2)
    assert sent == len(other.get_finished_spans()) > 0
    assert exported.spans.get_finished_spans() == ()
    spans = other.get_finished_spans()
    assert {s.kind.name for s in spans} == {"INTERNAL", "SERVER"}  # both sides of MCP calls
    assert all((s.attributes or {}).get(A.GEN_AI_AGENT_ID) for s in spans)
    elsewhere.shutdown()
