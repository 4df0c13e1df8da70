"""End to end: a responder revokes a running agent; its next tool calls are refused.

Real processes: ``agentaudit up --no-dashboard`` with both tokens and a ``[revocation]``
webhook to a real loopback receiver (the demo's), and an agent process instrumented by
``import agentaudit.auto`` calling tools every 0.2 s (``_revocation_agent.py``). Checks the
issue's "done when": the agent is refused with ``AgentQuarantined``, the refusals land as
``blocked`` rows, the receiver gets a readable, correctly signed alert, the revocation is
in the audit log, and an agent token on the admin API is refused and recorded.
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

from agentaudit.demo.webhook_receiver import AlertReceiver
from agentaudit.store.sql_guard import quote_string
from tests.e2e._procs import Running, agentaudit_up, wait_for

pytestmark = pytest.mark.e2e

ADMIN = "e2e-responder-token"
AGENT_TOKEN = "e2e-agent-token"
SECRET = "e2e-webhook-secret"
AGENT = "mail-assistant"
REASON = "sent the customer list to an outside address"
SCRIPT = Path(__file__).with_name("_revocation_agent.py")


def _post(url: str, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status), dict(json.load(answer))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read() or b"{}"))


def _query(up: Running, sql: str, **parameters: str) -> list[dict[str, Any]]:
    # Investigator SQL takes literals, not {name:Type} parameters (docs/sql.md).
    for name, value in parameters.items():
        sql = sql.replace(f"{{{name}:String}}", quote_string(value))
    status, data = _post(f"{up.api}/v1/query", {"sql": sql}, ADMIN)
    assert status == 200, data
    return [dict(zip(data["columns"], row, strict=True)) for row in data["rows"]]


class AgentProcess:
    """The agent subprocess; its output lines are read by a thread into a queue."""

    def __init__(self, up: Running) -> None:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{up.grpc_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "e2e-revocation-agent",
            "AGENTAUDIT_API_URL": up.api,
        }
        env.pop("AGENTAUDIT_ADMIN_TOKEN", None)  # never given to an agent
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), AGENT, "1000"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout
        self._reader = threading.Thread(target=self._read, args=(stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.strip())

    def next_line(self, prefix: str, *, timeout: float) -> str:
        """The next output line starting with ``prefix`` (earlier ones are kept in seen)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                stderr = self._stderr()
                raise AssertionError(f"no {prefix!r} line in {timeout}s: {self.seen[-5:]} {stderr}")
            try:
                line = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    stderr = self._stderr()
                    raise AssertionError(f"agent exited: {self.seen[-5:]} {stderr}") from None
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def rest(self) -> list[str]:
        """Every line, once the process has exited and its output is read."""
        self._reader.join(30)
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return self.seen

    def _stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()[-3000:]

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
        "[revocation]\n"
        'dashboard_url = "http://127.0.0.1:8501"\n'
        "[[revocation.webhook]]\n"
        'name = "secops"\n'
        f'url = "{receiver.url}"\n'
        'secret_env = "AGENTAUDIT_WEBHOOK_SECRET"\n'
        "[broker.tools.send_report]\n"
        'scopes = ["reports.send"]\n'
    )
    with agentaudit_up(tmp_path, "--config", str(config)) as running:
        yield running


def test_a_revoked_agent_is_refused_alerted_and_audited(
    up: Running, receiver: AlertReceiver
) -> None:
    agent = AgentProcess(up)
    try:
        for _ in range(3):
            agent.next_line("ok send_report", timeout=60)

        # The agent's own token cannot revoke (here: another agent); the attempt is recorded.
        body = {"target": "agent", "id": "billing-bot", "reason": "x", "requested_by": "agent"}
        status, refused = _post(f"{up.api}/v1/revocations", body, AGENT_TOKEN)
        assert status == 403, refused
        agent.next_line("ok send_report", timeout=30)  # and it changed nothing

        # The alert describes the agent's newest recorded call: let one reach the store.
        wait_for(
            lambda: _query(
                up,
                "SELECT count() AS n FROM agentaudit.tool_calls WHERE agent_id = {a:String}",
                a=AGENT,
            )[0]["n"],
            timeout=60,
            what="the agent's first rows",
        )
        body = {"target": "agent", "id": AGENT, "reason": REASON, "requested_by": "oncall"}
        revoked_at = time.time()
        status, outcome = _post(f"{up.api}/v1/revocations", body, ADMIN)
        assert status == 200, outcome
        assert outcome["status"] == "done", outcome
        assert outcome["results"]["broker"]["ok"]
        assert outcome["results"]["secops"]["ok"]

        first = agent.next_line("blocked read_status", timeout=60)
        assert "AgentQuarantined" in first
        assert REASON in first  # refused by the guard, from the quarantine state
        latency = float(first.split()[3]) - revoked_at
        print(f"revoke -> first refusal by the quarantine guard: {latency:.2f} s")
        assert agent.process.wait(60) == 0
        after_block = agent.rest()[agent.seen.index(first) + 1 :]
    finally:
        agent.stop()
    assert after_block
    assert not [line for line in after_block if line.startswith("ok ")]  # all refused now

    def blocked_rows() -> list[dict[str, Any]] | None:
        rows = _query(
            up,
            "SELECT tool_name, status, error_type, agent_id, user_id FROM agentaudit.tool_calls "
            "WHERE agent_id = {a:String} AND status = 'blocked' ORDER BY ts",
            a=AGENT,
        )
        return rows if len([r for r in rows if r["tool_name"] == "read_status"]) >= 3 else None

    blocked = wait_for(blocked_rows, timeout=60, what="three blocked read_status rows")
    assert all(str(r["error_type"]).endswith("AgentQuarantined") for r in blocked)
    assert {r["user_id"] for r in blocked} == {"alice"}
    minted = _query(
        up,
        "SELECT credential_id, credential_scopes FROM agentaudit.tool_calls "
        "WHERE tool_name = 'send_report' AND status = 'ok' LIMIT 1",
    )
    assert minted[0]["credential_id"]
    assert minted[0]["credential_scopes"] == ["reports.send"]

    (alert,) = [a for a in receiver.wait_for(1, timeout=60) if a.payload["target_id"] == AGENT]
    assert receiver.rejected == []  # every delivery carried a valid signature
    assert alert.payload["event"] == "agentaudit.revoke"
    assert f"Revoked agent `{AGENT}`" in alert.text
    assert "acting for user `alice`" in alert.text
    assert REASON in alert.text
    assert alert.payload["trigger"]["tool"] in {"read_status", "send_report"}
    assert "Last call: `" in alert.text

    audit = _query(
        up,
        "SELECT target_id, action, status, requested_by FROM agentaudit.revocations "
        "WHERE target_id IN ('billing-bot', {a:String}) "
        "ORDER BY updated_at DESC LIMIT 1 BY id",
        a=AGENT,
    )
    assert sorted((r["target_id"], r["status"]) for r in audit) == [
        ("billing-bot", "refused"),
        (AGENT, "done"),
    ]
    refused_row = next(r for r in audit if r["status"] == "refused")
    assert refused_row["requested_by"].startswith("agent:")


def test_an_agent_token_cannot_use_the_admin_api(up: Running) -> None:
    body = {"target": "agent", "id": AGENT, "reason": "x", "requested_by": "agent"}
    status, answer = _post(f"{up.api}/v1/revocations", body, AGENT_TOKEN)
    assert status == 403
    assert answer["recorded"]
    status, _ = _post(f"{up.api}/v1/query", {"sql": "SELECT 1"}, AGENT_TOKEN)
    assert status == 403  # an agent's token on a responder endpoint: refused and recorded
    rows = wait_for(
        lambda: _query(
            up,
            "SELECT status, requested_by FROM agentaudit.revocations WHERE id = {i:String}",
            i=answer["recorded"],
        ),
        timeout=30,
        what="the refused row",
    )
    assert rows[0]["status"] == "refused"
    request = urllib.request.Request(
        f"{up.api}/v1/quarantine?agent={AGENT}",
        headers={"Authorization": f"Bearer {AGENT_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert json.load(reply)["allowed"] is True  # the refused attempt changed nothing
