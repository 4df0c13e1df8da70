"""End to end: ``agentaudit up`` as a real process, an instrumented agent in another
process exporting over OTLP/gRPC with ``import agentaudit.auto``, and the row read
back through ``agentaudit sql``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentaudit.store.sql_guard import quote_string
from tests.e2e._procs import Running, agentaudit_up, cli, wait_for

pytestmark = pytest.mark.e2e

DEMO_QUARANTINE_SECONDS = 60
"""From `up --demo` starting to the detector's quarantine (about 5 s on a 2-core machine)."""

AGENT = textwrap.dedent(
    """
    import agentaudit.auto
    import agentaudit
    from opentelemetry import trace

    @agentaudit.audited_tool(resource=lambda args: ["mailbox:bob/outbox"])
    def send_email(to, body):
        return "sent"

    with agentaudit.context(agent="mail-assistant", user="bob", session="sess-e2e-1"):
        assert send_email("eve@example.com", body="hello") == "sent"
    assert trace.get_tracer_provider().force_flush(10_000)
    """
)


def _rows(up: Running, sql: str) -> list[dict[str, object]]:
    done = cli("sql", sql, "--api", up.api, "--format", "json", env=up.responder_env)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_tool_call_from_another_process_is_queryable(tmp_path: Path) -> None:
    with agentaudit_up(tmp_path) as up:
        agent = subprocess.run(
            [sys.executable, "-c", AGENT],
            env={
                **os.environ,
                **up.agent_env,
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{up.grpc_port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_SERVICE_NAME": "e2e-agent",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert agent.returncode == 0, agent.stderr
        sql = (
            "SELECT tool_name, agent_id, user_id, session_id, service_name, resource_ids, "
            "status FROM agentaudit.tool_calls"
        )
        rows = wait_for(lambda: _rows(up, sql), timeout=5, what="the tool_calls row")
        assert rows == [
            {
                "tool_name": "send_email",
                "agent_id": "mail-assistant",
                "user_id": "bob",
                "session_id": "sess-e2e-1",
                "service_name": "e2e-agent",
                "resource_ids": ["mailbox:bob/outbox"],
                "status": "ok",
            }
        ]
        up.process.terminate()
        output, _ = up.process.communicate(timeout=60)
        assert up.process.returncode == 0, output
        assert "flushing" in output
    # With the process gone, the same query opens the store itself.
    done = cli(
        "sql",
        "SELECT count() AS n FROM agentaudit.tool_calls",
        "--store",
        str(up.store),
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"n": 1}]


def test_demo_lands_the_injection_incident(tmp_path: Path) -> None:
    with agentaudit_up(tmp_path, "--demo") as up:
        sql = (  # the incident's; the demo's backfilled history has ordinary replies too
            "SELECT tool_name, agent_id, user_id, source_refs, source_trust, untrusted_source, "
            "approval_status, credential_id FROM agentaudit.tool_calls "
            "WHERE tool_name = 'send_email' AND session_id = 'sess-incident-0042'"
        )
        rows = wait_for(lambda: _rows(up, sql), timeout=30, what="the demo incident row")
        (row,) = rows
        assert row["agent_id"] == "mail-assistant"
        assert row["user_id"] == "bob"
        assert "email:msg-42" in row["source_refs"]  # type: ignore[operator]
        assert row["untrusted_source"] == 1
        assert row["approval_status"] == "none"
        assert row["credential_id"] == "cred-mail-7f3a"
        resources = _rows(
            up,
            "SELECT tool_name, resource_ids FROM agentaudit.tool_calls "
            "WHERE session_id = 'sess-incident-0042' ORDER BY ts",
        )
        assert resources == [
            {"tool_name": "read_inbox", "resource_ids": ["mailbox:bob/inbox"]},
            {"tool_name": "export_customers", "resource_ids": ["crm:customers"]},
            # The recipient address is personal data: stored as a keyed pseudonym.
            {"tool_name": "send_email", "resource_ids": resources[2]["resource_ids"]},
        ]
        (recipient,) = resources[2]["resource_ids"]  # type: ignore[misc]
        assert recipient.startswith("hmac:email:")
        assert "exfil.example" not in recipient


def test_demo_the_detector_quarantines_the_injected_agent_unassisted(tmp_path: Path) -> None:
    # `up --demo` backfills twelve days of the demo agents' ordinary work, so the mail
    # assistant's baseline is learned when the injected email makes it export the
    # customer list: a high finding, and the detector quarantines it with no human click.
    with agentaudit_up(tmp_path, "--demo") as up:
        try:
            revocations = wait_for(
                lambda: _rows(
                    up,
                    "SELECT id, target, target_id, requested_by FROM agentaudit.revocations "
                    "WHERE target_id = 'mail-assistant' LIMIT 1 BY id",
                ),
                timeout=DEMO_QUARANTINE_SECONDS,
                what="the detector's quarantine of the mail assistant",
            )
        except AssertionError:
            up.process.terminate()
            raise AssertionError(up.process.communicate(timeout=60)[0][-4000:]) from None
        (revocation,) = revocations
        assert revocation["target"] == "agent"
        assert revocation["requested_by"] == "detector"
        findings = wait_for(
            lambda: _rows(
                up,
                "SELECT finding_id, rule, severity, action, summary, evidence FROM ("  # noqa: S608 - a quoted literal
                "SELECT * FROM agentaudit.findings ORDER BY updated_at DESC LIMIT 1 BY finding_id"
                ") WHERE agent_id = 'mail-assistant' AND revocation_id = "
                f"{quote_string(str(revocation['id']))}",
            ),
            timeout=30,
            what="the finding that names the revocation",
        )
        finding = findings[0]
        assert finding["severity"] in ("high", "critical")
        assert finding["action"] == "quarantine"
        summary = str(finding["summary"])
        assert summary.startswith("mail-assistant ")
        assert "email msg-42" in summary  # the injected email it followed
        evidence = json.loads(str(finding["evidence"]))
        assert evidence["untrusted_sources"]
        assert any(c["tool"] == "export_customers" for c in evidence["triggering_calls"])
        # The backfilled history (calls days old) raised nothing that acts or alerts.
        old = _rows(
            up,
            "SELECT agent_id, rule, severity, action, summary FROM agentaudit.findings "
            "WHERE ts < now64() - INTERVAL 1 HOUR AND action != 'none'",
        )
        assert old == []
        wait_for(
            lambda: _rows(
                up,
                "SELECT count() AS n FROM agentaudit.tool_calls "
                "WHERE agent_id = 'mail-assistant' AND status = 'blocked'",
            )[0]["n"],
            timeout=30,
            what="the mail assistant's next call refused",
        )
        up.process.terminate()
        output, _ = up.process.communicate(timeout=60)
    # The demo's alert receiver printed the finding as the on-call channel shows it.
    assert "(HIGH, new)" in output or "(CRITICAL, new)" in output, output[-3000:]
    assert summary in output, output[-3000:]
    assert "Action: agent quarantined" in output
    assert "mail-assistant was refused" in output


def _call(url: str, method: str, token: str | None = None, body: object = None) -> int:
    import urllib.error
    import urllib.request

    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_first_start_generates_private_tokens_and_enforces_them(tmp_path: Path) -> None:
    """No token configured: `up` generates both, prints their paths (never the values),
    and nothing local gets in without them."""
    env_before = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AGENTAUDIT_")}
    try:
        with agentaudit_up(tmp_path) as up:
            agent, admin = (
                up.agent_env["AGENTAUDIT_TOKEN"],
                up.responder_env["AGENTAUDIT_ADMIN_TOKEN"],
            )
            for name in ("agent.token", "admin.token"):
                assert (up.store.parent / name).stat().st_mode & 0o777 == 0o600
            assert agent != admin
            release = f"{up.api}/v1/quarantine/mail-assistant"
            body = {"reason": "let me out", "requested_by": "me"}
            assert _call(release, "DELETE", None, body) == 401  # nobody without a token
            assert _call(release, "DELETE", agent, body) == 403  # an agent: refused, recorded
            query = f"{up.api}/v1/query"
            assert _call(query, "POST", None, {"sql": "SELECT 1"}) == 401
            assert _call(query, "POST", admin, {"sql": "SELECT 1"}) == 200
            assert _call(f"{up.api}/metrics", "GET") == 401
            assert _call(f"{up.api}/healthz", "GET") == 200
            up.process.terminate()
            output, _ = up.process.communicate(timeout=60)
    finally:
        os.environ.update(env_before)
    assert str(up.store.parent / "admin.token") in output  # the path is printed ...
    assert agent not in output  # ... never a token
    assert admin not in output
