"""End to end: an agent leaves its baseline and the detector quarantines it, unassisted.

Real processes: ``agentaudit up --no-dashboard`` (detector on, the default with the
embedded store) with a ``[revocation]`` webhook to the demo's alert receiver, and an
agent process instrumented by ``import agentaudit.auto`` (``_detector_agent.py``), whose
quarantine guard polls the admin API every 2 s.

1. Ten days of the agent's ordinary history are backfilled over OTLP (old ``ts``, stored
   now; the config believes claimed times that far back, ``max_claimed_age_seconds``):
   the detector learns from them and completes learning without acting.
2. The live agent does its ordinary work (no finding acts), then an injected ticket makes
   it mail one new recipient after another.
3. Its next call is refused: the time from the offending call (the one the detector
   acted on) to the first refusal is measured and must be at most 5 s.
4. The alert receiver gets the revocation and the finding's chat text; the agent's token
   can neither release the quarantine nor mark the finding a false positive.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from agentaudit.demo.webhook_receiver import AlertReceiver
from agentaudit.detector.model import Call
from agentaudit.store.sql_guard import quote_string
from tests.detector._data import DAY, History, span_of
from tests.e2e._procs import Running, agentaudit_up, wait_for

pytestmark = pytest.mark.e2e

ADMIN = "e2e-detector-responder"
AGENT_TOKEN = "e2e-detector-agent"
SECRET = "e2e-detector-webhook-secret"
AGENT = "support-bot"
SCRIPT = Path(__file__).with_name("_detector_agent.py")
LIMIT_SECONDS = 5.0


def _request(
    url: str, body: dict[str, Any] | None, token: str, method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status), dict(json.load(answer))
    except urllib.error.HTTPError as exc:
        raw = exc.read() or b"{}"
        try:
            return exc.code, dict(json.loads(raw))
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


def _query(up: Running, sql: str) -> list[dict[str, Any]]:
    status, data = _request(f"{up.api}/v1/query", {"sql": sql}, ADMIN)
    assert status == 200, data
    return [dict(zip(data["columns"], row, strict=True)) for row in data["rows"]]


def _value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, list):
        return common_pb2.AnyValue(
            array_value=common_pb2.ArrayValue(values=[_value(v) for v in value])
        )
    return common_pb2.AnyValue(string_value=str(value))


def _export(up: Running, calls: list[Call]) -> None:
    """Backfill: the calls as OTLP spans (their own, old, timestamps), with the agent token."""
    for start in range(0, len(calls), 200):
        spans = []
        for c in calls[start : start + 200]:
            record = span_of(c)
            spans.append(
                trace_pb2.Span(
                    trace_id=bytes.fromhex(c.trace_id),
                    span_id=bytes.fromhex(c.span_id),
                    name=record.name,
                    kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=c.ts_ns,
                    end_time_unix_nano=c.ts_ns + 1_000_000,
                    attributes=[
                        common_pb2.KeyValue(key=k, value=_value(v))
                        for k, v in record.attributes.items()
                    ],
                )
            )
        request = trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[
                trace_pb2.ResourceSpans(
                    resource=resource_pb2.Resource(
                        attributes=[
                            common_pb2.KeyValue(key="service.name", value=_value("support"))
                        ]
                    ),
                    scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
                )
            ]
        )
        post = urllib.request.Request(
            f"http://127.0.0.1:{up.http_port}/v1/traces",
            data=request.SerializeToString(),
            headers={
                "Content-Type": "application/x-protobuf",
                "Authorization": f"Bearer {AGENT_TOKEN}",
            },
            method="POST",
        )
        with urllib.request.urlopen(post, timeout=60) as answer:
            assert answer.status == 200


class AgentProcess:
    """The agent subprocess; its output lines are read by a thread into a queue."""

    def __init__(self, up: Running, rounds: int) -> None:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{up.grpc_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "support",
            "AGENTAUDIT_API_URL": up.api,
            "AGENTAUDIT_TOKEN": AGENT_TOKEN,
        }
        env.pop("AGENTAUDIT_ADMIN_TOKEN", None)  # never given to an agent
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), AGENT, str(rounds)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.strip())

    def next_line(self, prefix: str, *, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {prefix!r} line in {timeout}s: {self.seen[-8:]}")
            try:
                line = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    stderr = self.process.stderr.read()[-3000:] if self.process.stderr else ""
                    raise AssertionError(f"agent exited: {self.seen[-8:]} {stderr}") from None
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver(SECRET, show=lambda alert: None) as running:
        yield running


@pytest.fixture
def up(
    tmp_path: Path, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Running]:
    monkeypatch.setenv("AGENTAUDIT_TOKEN", AGENT_TOKEN)
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("AGENTAUDIT_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("AGENTAUDIT_CONFIG", raising=False)
    config = tmp_path / "agentaudit.toml"
    config.write_text(
        "[detector]\n"  # the backfilled history's claimed times are believed
        f"max_claimed_age_seconds = {12 * DAY // 1_000_000_000}\n"
        "[revocation]\n"
        'dashboard_url = "http://127.0.0.1:8501"\n'
        "[[revocation.webhook]]\n"
        'name = "secops"\n'
        f'url = "{receiver.url}"\n'
        'secret_env = "AGENTAUDIT_WEBHOOK_SECRET"\n'
    )
    with agentaudit_up(tmp_path, "--config", str(config)) as running:
        yield running


def test_an_agent_off_its_baseline_is_quarantined_within_5_s(
    up: Running, receiver: AlertReceiver
) -> None:
    now = time.time_ns()
    history = History(
        agent=AGENT, start=now - now % DAY - 11 * DAY, sessions_per_day=24, first_hour=0, hours=24
    )
    calls = history.calls()
    _export(up, calls)
    wait_for(
        lambda: up.healthz().get("detector_calls", 0) >= len(calls),
        timeout=120,
        what="the detector to learn the backfilled history",
    )
    assert _query(up, "SELECT count() AS n FROM agentaudit.findings")[0]["n"] == 0

    agent = AgentProcess(up, rounds=5)
    try:
        for _ in range(5):
            agent.next_line("ok send_email", timeout=60)  # ordinary work: nothing acts
        agent.next_line("attack", timeout=30)
        first = agent.next_line("blocked", timeout=60)
        refused_at = float(first.split()[3])
        assert "AgentQuarantined" in first
        assert "detector: support-bot" in first  # the guard shows the detector's reason
    finally:
        agent.stop()

    # The call the detector acted on: the trigger of its revocation.
    revoke = wait_for(
        lambda: [a for a in receiver.alerts if a.payload.get("event") == "agentaudit.revoke"],
        timeout=30,
        what="the revocation alert",
    )[0]
    assert revoke.payload["requested_by"] == "detector"
    assert revoke.payload["target_id"] == AGENT
    span = revoke.payload["trigger"]["span_id"]
    (row,) = _query(
        up,
        "SELECT toUnixTimestamp64Nano(ts) AS ts, tool_name FROM agentaudit.tool_calls "  # noqa: S608 - a quoted literal
        f"WHERE span_id = {quote_string(span)}",
    )
    latency = refused_at - int(row["ts"]) / 1e9
    print(f"offending call -> first refusal of the agent's next call: {latency:.2f} s")
    assert row["tool_name"] == "send_email"
    assert 0 < latency <= LIMIT_SECONDS

    # The finding, its evidence and its alert.
    acted = wait_for(
        lambda: _query(
            up,
            "SELECT finding_id, rule, severity, action, summary, state FROM agentaudit.findings "  # noqa: S608 - a quoted literal
            f"WHERE revocation_id = {quote_string(revoke.payload['id'])} "
            "ORDER BY updated_at DESC LIMIT 1 BY finding_id",
        ),
        timeout=30,
        what="the finding that names the revocation",
    )
    finding = acted[0]
    assert finding["action"] == "quarantine"
    assert finding["severity"] in ("high", "critical")
    assert finding["summary"].startswith("support-bot ")
    print(f"finding: [{finding['severity']}] {finding['rule']}: {finding['summary']}")
    chat = wait_for(
        lambda: [a for a in receiver.alerts if a.payload.get("event") == "agentaudit.finding"],
        timeout=30,
        what="the finding's chat alert",
    )
    assert any("agent quarantined" in a.text for a in chat), [a.text for a in chat]
    assert receiver.rejected == []

    # The agent's token can neither undo nor suppress it.
    status, _ = _request(
        f"{up.api}/v1/quarantine/{AGENT}",
        {"reason": "fine", "requested_by": "agent"},
        AGENT_TOKEN,
        method="DELETE",
    )
    assert status == 403
    status, _ = _request(
        f"{up.api}/v1/findings/{finding['finding_id']}/triage",
        {"state": "false_positive", "reason": "fine", "requested_by": "agent"},
        AGENT_TOKEN,
    )
    assert status in (401, 403, 404)  # 404: this build mounts no triage endpoint
    request = urllib.request.Request(
        f"{up.api}/v1/quarantine?agent={AGENT}", headers={"Authorization": f"Bearer {AGENT_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert json.load(reply)["quarantined"] is True
    states = _query(
        up,
        "SELECT argMax(state, updated_at) AS state FROM agentaudit.findings "  # noqa: S608 - a quoted literal
        f"WHERE finding_id = {quote_string(finding['finding_id'])}",
    )
    assert states[0]["state"] == "open"
