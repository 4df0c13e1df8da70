"""Just-in-time credentials: minted by a real Broker behind a real HTTP server.

The tool verifies the credential it is handed with the same broker (EdDSA signature,
audience = tool, resource, scopes), so these tests fail if the wrong thing is minted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.broker import Broker, Credential, CredentialClient
from agentaudit.instrumentation import _jit, configure
from agentaudit.instrumentation._jit import (
    CredentialDenied,
    JitCredentials,
    JitTool,
    current_credential,
)
from agentaudit.instrumentation._runtime import add_before_tool_call, before_tool_call_hooks
from agentaudit.instrumentation._settings import ToolSettings
from agentaudit.schema import attributes as A

from .admin_double import AdminDouble
from .conftest import Spans

TOKEN = "agent-token"
SEND = "send_email"
seen: list[Credential | None] = []
broker = Broker(tool_scopes={SEND: ["mail.send", "mail.read"], "calendar.delete": ["cal.write"]})


@agentaudit.audited_tool(name=SEND, resource="mail:{to}")
def send_email(to: str) -> str:
    credential = current_credential()
    seen.append(credential)
    if credential is None:
        raise PermissionError("401: no credential")
    claims = broker.verify(credential.token, tool=SEND, resource=f"mail:{to}")
    return f"sent as {claims.agent} for {claims.user}"


@agentaudit.audited_tool
def read_inbox() -> str:
    seen.append(current_credential())
    return "inbox"


@agentaudit.audited_tool(name="calendar.delete", resource="cal:{event}", scopes=["cal.write"])
async def delete_event(event: str) -> str:
    await asyncio.sleep(0)
    credential = current_credential()
    seen.append(credential)
    assert credential is not None
    broker.verify(credential.token, tool="calendar.delete", resource=f"cal:{event}")
    return "deleted"


@pytest.fixture
def api() -> Iterator[AdminDouble]:
    seen.clear()
    with AdminDouble(token=TOKEN, broker=broker) as double:
        yield double


@contextlib.contextmanager
def _hook(api_url: str, **tools: JitTool) -> Iterator[JitCredentials]:
    hook = JitCredentials(CredentialClient(api_url, token=TOKEN, timeout=5), tools=tools)
    remove = add_before_tool_call(hook)
    try:
        yield hook
    finally:
        remove()


@pytest.fixture
def jit(api: AdminDouble) -> Iterator[JitCredentials]:
    with _hook(api.url, send_email=JitTool(), **{"calendar.delete": JitTool()}) as hook:
        yield hook


def _as_alice() -> agentaudit.context:
    return agentaudit.context(agent="mail-assistant", user="alice", session="s-9")


def test_a_jit_tool_gets_a_scoped_credential_and_the_span_never_the_token(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    with _as_alice():
        assert send_email("bob@example.com") == "sent as mail-assistant for alice"
    credential = seen[0]
    assert credential is not None
    assert credential.claims.tool == SEND
    assert credential.claims.resources == ("mail:bob@example.com",)
    assert credential.claims.scopes == ("mail.send", "mail.read")  # the broker's config
    assert credential.claims.session == "s-9"
    assert 0 < credential.expires_at - credential.claims.issued_at <= 60
    attributes = spans.tool(SEND).attributes or {}
    assert attributes[A.CREDENTIAL_ID] == credential.id
    assert attributes[A.CREDENTIAL_SCOPES] == ("mail.send", "mail.read")
    assert attributes[A.CREDENTIAL_EXPIRES_AT] == credential.expires_at
    exported = json.dumps({k: str(v) for k, v in attributes.items()})
    assert credential.token not in exported
    assert credential.token.split(".")[2] not in exported  # not even the signature
    assert api.minted == [
        {
            "user": "alice",
            "agent": "mail-assistant",
            "tool": SEND,
            "resource": ["mail:bob@example.com"],
            "session": "s-9",
        }
    ]


def test_configured_scopes_narrow_the_request(spans: Spans, api: AdminDouble) -> None:
    with _hook(api.url, send_email=JitTool(scopes=("mail.send",), ttl=30)), _as_alice():
        send_email("c@example.com")
    credential = seen[0]
    assert credential is not None
    assert credential.scopes == ("mail.send",)
    assert credential.expires_at - credential.claims.issued_at == 30


def test_declared_scopes_are_used_for_async_tools(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    async def run() -> str:
        with _as_alice():
            return await delete_event("evt-1")

    assert asyncio.run(run()) == "deleted"
    assert api.minted[0]["scopes"] == ["cal.write"]
    attributes = spans.tool("calendar.delete").attributes or {}
    assert attributes[A.CREDENTIAL_SCOPES] == ("cal.write",)


def test_a_tool_without_jit_never_sees_a_previous_credential(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    with _as_alice():
        send_email("d@example.com")
        assert read_inbox() == "inbox"
    assert seen[0] is not None
    assert seen[1] is None
    assert A.CREDENTIAL_ID not in (spans.tool("read_inbox").attributes or {})
    assert current_credential() is None  # read_inbox cleared it in this context


def test_a_quarantined_agent_gets_no_credential_and_the_call_is_blocked(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    api.quarantine("mail-assistant")
    with _as_alice(), pytest.raises(agentaudit.AgentQuarantined, match="quarantined"):
        send_email("e@example.com")
    assert seen == []  # the tool never ran
    attributes = spans.tool(SEND).attributes or {}
    assert attributes[A.DECISION] == A.DECISION_BLOCKED
    assert A.CREDENTIAL_ID not in attributes


def test_a_scope_the_tool_may_not_have_blocks_the_call(spans: Spans, api: AdminDouble) -> None:
    with (
        _hook(api.url, send_email=JitTool(scopes=("mail.delete_all",))),
        _as_alice(),
        pytest.raises(CredentialDenied, match=r"mail\.delete_all") as info,
    ):
        send_email("f@example.com")
    assert info.value.reason == "scope_not_allowed"
    blocked = spans.tool(SEND)
    assert (blocked.attributes or {})[A.DECISION] == A.DECISION_BLOCKED
    assert blocked.status.status_code is StatusCode.ERROR


def test_unreachable_broker_runs_the_tool_without_a_credential(
    spans: Spans, api: AdminDouble, caplog: pytest.LogCaptureFixture
) -> None:
    api.status = 503
    with (
        caplog.at_level(logging.WARNING, logger="agentaudit.instrumentation"),
        _hook(api.url, send_email=JitTool()),
        _as_alice(),
    ):
        for _ in range(2):
            with pytest.raises(PermissionError, match="401"):
                send_email("g@example.com")  # the tool's own refusal reaches the agent
    assert seen == [None, None]
    assert len([r for r in caplog.records if "credential broker" in r.getMessage()]) == 1
    attributes = spans.tools()[0].attributes or {}
    assert attributes[A.DECISION] == A.DECISION_ALLOWED
    assert attributes[A.ERROR_TYPE] == "PermissionError"


def test_a_call_without_a_user_is_not_minted_for(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    with agentaudit.context(agent="mail-assistant"), pytest.raises(PermissionError):
        send_email("h@example.com")
    assert api.minted == []


def test_an_expired_credential_is_not_handed_out(spans: Spans, api: AdminDouble) -> None:
    minted = broker.mint(user="u", agent="a", tool=SEND, resource="mail:x", ttl=1)
    token = _jit._current.set(_jit._Minted(minted, SEND))
    try:
        assert current_credential() is minted
        object.__setattr__(minted.claims, "expires_at", 0)
        assert current_credential() is None
    finally:
        _jit._current.reset(token)


def test_tools_from_the_settings_are_read_by_name(
    spans: Spans, api: AdminDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Tool:
        jit = True
        scopes = ("mail.send",)

    class Current:
        def tool(self, name: str) -> object:
            return Tool() if name == SEND else object()

    monkeypatch.setattr(_jit, "settings", Current)
    hook = JitCredentials(CredentialClient(api.url, token=TOKEN))
    assert hook.tool(SEND) == JitTool(scopes=("mail.send",))
    assert hook.tool("read_inbox") is None


@pytest.mark.skipif(
    "jit" not in {f.name for f in dataclasses.fields(ToolSettings)},
    reason="[instrumentation.tools.<name>] jit/scopes are not parsed by this _settings.py yet",
)
def test_jit_tools_come_from_the_config_file(
    spans: Spans, api: AdminDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "agentaudit.toml"
    config.write_text(
        '[instrumentation.tools.send_email]\njit = true\nscopes = ["mail.send"]\n'
        '[instrumentation.tools.read_inbox]\ntrust = "trusted"\n'
    )
    monkeypatch.setenv("AGENTAUDIT_CONFIG", str(config))
    configure(reset=True)
    hook = JitCredentials(CredentialClient(api.url, token=TOKEN))
    remove = add_before_tool_call(hook)
    try:
        with _as_alice():
            send_email("i@example.com")
            read_inbox()
    finally:
        remove()
    minted, unminted = seen
    assert minted is not None
    assert minted.scopes == ("mail.send",)
    assert unminted is None
    assert len(api.minted) == 1


def test_install_is_idempotent(api: AdminDouble) -> None:
    environ = {"AGENTAUDIT_API_URL": api.url, "AGENTAUDIT_TOKEN": TOKEN}
    try:
        hook = _jit.install(environ)
        assert hook is not None
        assert _jit.install(environ) is hook
        assert before_tool_call_hooks().count(hook) == 1
    finally:
        _jit.uninstall()
    assert _jit.installed_hook() is None
    assert _jit.install({"AGENTAUDIT_API_URL": "localhost"}) is None
