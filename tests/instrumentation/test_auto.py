"""``import agentaudit.auto`` in a real process, exporting OTLP to a real HTTP receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agentaudit.collector.writer.normalise import is_tool_call, tool_call_row

from .otlp_sink import otlp_http_sink

AGENT = Path(__file__).parent / "agents" / "two_step_agent.py"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTAUDIT_"))}
    env.update(extra)
    return env


def test_two_step_agent_lands_a_complete_send_email_row() -> None:
    with otlp_http_sink() as sink:
        done = subprocess.run(
            [sys.executable, str(AGENT)],
            env=_env(
                OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                OTEL_EXPORTER_OTLP_ENDPOINT=sink.url,
                OTEL_SERVICE_NAME="mail-agent-svc",
                AGENTAUDIT_TOKEN="agent-token-1",
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    prompt_hash = done.stdout.strip().splitlines()[-1]
    tool_spans = [s for s in sink.spans if is_tool_call(s)]
    assert len(tool_spans) == 1, done.stderr
    row = tool_call_row(tool_spans[0], received_ns=0)
    assert row["tool_name"] == "send_email"
    assert row["service_name"] == "mail-agent-svc"
    assert row["source_refs"] == ["email:msg-42"]
    assert row["source_kinds"] == ["email"]
    assert row["source_trust"] == ["untrusted"]
    assert row["untrusted_source"] == 1
    assert row["prompt_hash"] == prompt_hash
    assert (row["user_id"], row["session_id"], row["agent_id"]) == ("alice", "sess-1", "mail-agent")
    assert row["credential_id"] == "cred-42"
    assert row["credential_scopes"] == ["mail.send"]
    assert row["credential_expires_at"] == 1_900_000_000
    assert (row["approval_status"], row["approver"]) == ("human", "bob@example.com")
    assert row["resource_ids"] == ["mailbox:attacker@evil.example"]
    assert row["status"] == "ok"
    chat = [s for s in sink.spans if s.name == "chat gpt-test"]
    assert len(chat) == 1
    assert all(h.get("authorization") == "Bearer agent-token-1" for h in sink.headers)


def test_existing_authorization_header_is_kept() -> None:
    with otlp_http_sink() as sink:
        subprocess.run(
            [sys.executable, str(AGENT)],
            env=_env(
                OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                OTEL_EXPORTER_OTLP_ENDPOINT=sink.url,
                OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic%20abc,x-tenant=t1",
                AGENTAUDIT_TOKEN="agent-token-1",
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert sink.headers
    assert all(h.get("authorization") == "Basic abc" for h in sink.headers)
    assert all(h.get("x-tenant") == "t1" for h in sink.headers)


APP_WITH_OWN_PROVIDER = """
import agentaudit.auto
import agentaudit
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
mine = TracerProvider()
mine.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(mine)  # after importing agentaudit.auto

@agentaudit.audited_tool
def ping():
    return "pong"

ping()
import agentaudit.auto  # a second import changes nothing
ping()
assert trace.get_tracer_provider() is mine
assert agentaudit.auto.created_tracer_provider() is None
print(len(exporter.get_finished_spans()))
"""


def test_app_provider_set_after_import_is_kept() -> None:
    done = subprocess.run(
        [sys.executable, "-c", APP_WITH_OWN_PROVIDER],
        env=_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "2", done.stderr


GUARD_CHECK = """
import agentaudit.auto
from agentaudit.instrumentation import _jit, _quarantine, uninstrument
from agentaudit.instrumentation.runtime import before_tool_call_hooks
installed = _quarantine.installed_guard() is not None
jit = _jit.installed_hook() is not None
hooked = len(before_tool_call_hooks())
uninstrument()
gone = _quarantine.installed_guard() is None and _jit.installed_hook() is None
print(installed, jit, hooked, gone, len(before_tool_call_hooks()))
"""


def test_auto_installs_the_revocation_hooks_and_uninstrument_removes_them() -> None:
    done = subprocess.run(
        [sys.executable, "-c", GUARD_CHECK],
        env=_env(AGENTAUDIT_API_URL="http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["True", "True", "2", "True", "0"], done.stderr
    disabled = subprocess.run(
        [sys.executable, "-c", GUARD_CHECK],
        env=_env(AGENTAUDIT_QUARANTINE_CHECK="0"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert disabled.stdout.split() == ["False", "True", "1", "True", "0"], disabled.stderr


def _service_name(**settings: str) -> str:
    with otlp_http_sink() as sink:
        subprocess.run(
            [sys.executable, str(AGENT)],
            env=_env(
                OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                OTEL_EXPORTER_OTLP_ENDPOINT=sink.url,
                **settings,
            ),
            capture_output=True,
            timeout=60,
            check=True,
        )
    (tool_span,) = [s for s in sink.spans if is_tool_call(s)]
    return str(tool_call_row(tool_span, received_ns=0)["service_name"])


def test_service_name_defaults_to_the_script_and_never_overrides_the_users() -> None:
    assert _service_name() == "two_step_agent"  # not "unknown_service:python"
    assert _service_name(OTEL_RESOURCE_ATTRIBUTES="service.name=billing,team=x") == "billing"
    assert _service_name(OTEL_SERVICE_NAME="mail-agent-svc") == "mail-agent-svc"
