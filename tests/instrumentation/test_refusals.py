"""Revoked access: the refusal reaches the agent, is recorded as blocked, and a retry of
the call is refused locally without a new credential.

Credentials are minted by a real :class:`Broker` behind the admin API double (a loopback
HTTP server) and checked the way a tool server checks them: in process with the broker's
live deny-list, or over HTTP behind ``McpBearerMiddleware`` (the 401 challenge).
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import agentaudit
from agentaudit.broker import (
    Broker,
    CredentialClient,
    CredentialRefused,
    McpBearerMiddleware,
    ToolPolicy,
    authorize_bearer,
)
from agentaudit.collector.serving.server import HttpServer
from agentaudit.instrumentation import runtime
from agentaudit.instrumentation._errors import DO_NOT_RETRY
from agentaudit.instrumentation._jit import JitCredentials, JitTool, current_credential
from agentaudit.instrumentation._quarantine import GuardSettings, QuarantineGuard
from agentaudit.instrumentation._refusals import Refusal, RefusalMemory, revocation_in
from agentaudit.schema import attributes as A

from .admin_double import AdminDouble
from .conftest import Spans

TOKEN = "agent-token"
SEND = "send_email"
broker = Broker(tool_scopes={SEND: ["mail.send"], "export": ["crm.read"]})


class Server:
    """What the tool's server does with the call's credential (in process)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.presented: list[str] = []
        self.revoke_next = False
        self.expire_next = False

    def check(self, tool: str, resource: str) -> str:
        credential = current_credential()
        if credential is None:
            raise PermissionError("401: a credential is required")
        self.presented.append(credential.id)
        if self.revoke_next:  # a responder revokes the credential while the call runs
            self.revoke_next = False
            broker.revoke(credential.id, reason="exfiltration suspected")
        if self.expire_next:
            self.expire_next = False
            raise CredentialRefused("expired", f"credential {credential.id} has expired")
        return broker.verify(credential.token, tool=tool, resource=resource).id


server = Server()


@agentaudit.audited_tool(name=SEND, resource="mail:{to}")
def send_email(to: str) -> str:
    return server.check(SEND, f"mail:{to}")


@agentaudit.audited_tool(name="export", resource="crm:{segment}")
def export(segment: str) -> str:
    return server.check("export", f"crm:{segment}")


@pytest.fixture
def api() -> Iterator[AdminDouble]:
    server.reset()
    with AdminDouble(token=TOKEN, broker=broker) as double:
        yield double


@pytest.fixture
def jit(api: AdminDouble) -> Iterator[JitCredentials]:
    hook = JitCredentials(
        CredentialClient(api.url, token=TOKEN, timeout=5),
        tools={SEND: JitTool(), "export": JitTool()},
        use_settings=False,
    )
    remove = runtime.add_before_tool_call(hook)
    yield hook
    remove()


def _mints(api: AdminDouble, tool: str = SEND) -> int:
    return sum(1 for minted in api.minted if minted["tool"] == tool)


def _as(user: str = "alice", session: str = "s-1") -> agentaudit.context:
    return agentaudit.context(agent="mail-assistant", user=user, session=session)


@contextlib.contextmanager
def _user_revoked(user: str) -> Iterator[None]:
    broker.revoke_principal("user", user, reason="account compromised")
    try:
        yield
    finally:
        broker.release_principal("user", user)


def _attributes(spans: Spans) -> list[dict[str, Any]]:
    return [dict(s.attributes or {}) for s in spans.tools()]


# --- (a) the broker refuses at mint time ------------------------------------------


def test_a_revoked_user_gets_no_credential_and_a_retry_sends_no_second_request(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    with _user_revoked("mallory"), _as("mallory"):
        with pytest.raises(agentaudit.CredentialRevoked) as first:
            send_email("x@corp.example")
        with pytest.raises(agentaudit.CredentialRevoked) as retry:
            send_email("x@corp.example")  # what a framework's retry loop does next
    assert server.presented == []  # the tool never ran
    assert _mints(api) == 1  # the retry asked the broker for nothing
    assert str(first.value).startswith(f"{DO_NOT_RETRY}: tool send_email was refused")
    assert "user mallory is revoked or quarantined" in str(first.value)
    assert first.value.reason == "revoked"
    assert DO_NOT_RETRY in str(retry.value)
    assert "refused earlier in this session" in str(retry.value)
    for attributes in _attributes(spans):
        assert attributes[A.DECISION] == A.DECISION_BLOCKED
        assert str(attributes[A.ERROR_TYPE]).endswith(".CredentialRevoked")
        assert attributes[A.ENDUSER_ID] == "mallory"
        assert A.CREDENTIAL_ID not in attributes
    assert [s.status.status_code for s in spans.tools()] == [StatusCode.ERROR] * 2


def test_a_quarantined_agent_is_told_not_to_retry_and_the_retry_is_refused_locally(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    api.quarantine("mail-assistant")
    with _as():
        for _ in range(3):
            with pytest.raises(agentaudit.AgentQuarantined, match="do not retry"):
                send_email("y@corp.example")
    assert _mints(api) == 1
    assert server.presented == []
    types = [str(a[A.ERROR_TYPE]) for a in _attributes(spans)]
    assert len(types) == 3
    assert all(t.endswith(".AgentQuarantined") for t in types)


def test_a_refusal_is_per_tool_and_session(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    server.revoke_next = True
    with _as(session="s-1"):
        with pytest.raises(CredentialRefused):
            send_email("x@corp.example")
        with pytest.raises(agentaudit.CredentialRevoked):
            send_email("x@corp.example")
        assert export("all")  # another tool of the session was never refused
    with _as(session="s-2"):
        assert send_email("x@corp.example")  # another session mints again
    assert _mints(api) == 2
    assert _mints(api, "export") == 1


# --- (b) the tool's server refuses the credential mid-call ---------------------------


def test_a_credential_revoked_mid_call_is_blocked_and_never_replaced(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    server.revoke_next = True
    with _as():
        with pytest.raises(CredentialRefused, match="has been revoked") as first:
            send_email("z@corp.example")
        with pytest.raises(agentaudit.CredentialRevoked, match="do not retry") as retry:
            send_email("z@corp.example")
    assert first.value.reason == "revoked"  # the tool's own exception passes unchanged
    assert len(server.presented) == 1
    assert _mints(api) == 1  # the revoked credential was not replaced by a fresh one
    assert retry.value.tool == SEND
    refused, again = _attributes(spans)
    assert refused[A.DECISION] == A.DECISION_BLOCKED
    assert refused[A.ERROR_TYPE] == "agentaudit.broker._errors.CredentialRefused"
    assert refused[A.CREDENTIAL_ID] == server.presented[0]  # the credential it was refused
    assert again[A.DECISION] == A.DECISION_BLOCKED
    assert str(again[A.ERROR_TYPE]).endswith(".CredentialRevoked")
    assert A.CREDENTIAL_ID not in again


def test_a_wrapped_refusal_is_recognised_through_its_cause(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    @agentaudit.audited_tool(name=SEND, resource="mail:{to}")
    def send_via_sdk(to: str) -> str:
        try:
            return server.check(SEND, f"mail:{to}")
        except CredentialRefused as exc:
            raise RuntimeError("the mail API said 401") from exc

    server.revoke_next = True
    with _as():
        with pytest.raises(RuntimeError):
            send_via_sdk("w@corp.example")
        with pytest.raises(agentaudit.CredentialRevoked):
            send_via_sdk("w@corp.example")
    assert _mints(api) == 1
    assert _attributes(spans)[0][A.DECISION] == A.DECISION_BLOCKED


def test_an_expired_credential_is_an_ordinary_error_and_a_retry_mints_again(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    server.expire_next = True
    with _as():
        with pytest.raises(CredentialRefused, match="expired"):
            send_email("v@corp.example")
        assert send_email("v@corp.example")  # a fresh credential is fine after an expiry
    assert _mints(api) == 2
    failed, ok = _attributes(spans)
    assert failed[A.DECISION] == A.DECISION_ALLOWED
    assert failed[A.ERROR_TYPE] == "agentaudit.broker._errors.CredentialRefused"
    assert ok[A.DECISION] == A.DECISION_ALLOWED


def _mcp_like_server() -> Any:
    async def tool(request: Request) -> Response:
        return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {"ok": True}})

    app = Starlette(routes=[Route("/mcp", tool, methods=["POST"])])
    policies = {SEND: ToolPolicy(scopes=("mail.send",), resources=lambda a: [f"mail:{a['to']}"])}
    return McpBearerMiddleware(app, broker, policies)


def test_the_401_challenge_of_a_guarded_server_is_read_as_a_revocation(
    spans: Spans, api: AdminDouble, jit: JitCredentials
) -> None:
    http_server = HttpServer(_mcp_like_server(), host="127.0.0.1", port=0, what="t", flag="-")
    http_server.start()
    url = f"http://127.0.0.1:{http_server.port}/mcp"

    @agentaudit.audited_tool(name=SEND, resource="mail:{to}")
    def send_over_http(to: str) -> Any:
        credential = current_credential()
        assert credential is not None
        if server.revoke_next:
            server.revoke_next = False
            broker.revoke(credential.id)
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        body["params"] = {"name": SEND, "arguments": {"to": to}}
        answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {credential.token}"})
        refused = agentaudit.CredentialRevoked.from_challenge(
            answer.status_code, answer.headers.get("WWW-Authenticate"), answer.json(), tool=SEND
        )
        if refused is not None:
            raise refused
        answer.raise_for_status()
        return answer.json()["result"]

    try:
        with _as():
            assert send_over_http("u@corp.example") == {"ok": True}
            server.revoke_next = True
            with pytest.raises(agentaudit.CredentialRevoked, match="refused by the tool server"):
                send_over_http("u@corp.example")
            with pytest.raises(agentaudit.CredentialRevoked, match="refused earlier"):
                send_over_http("u@corp.example")
    finally:
        http_server.stop()
    assert _mints(api) == 2  # the first call's, the revoked one's; none for the retry
    ok, refused, again = _attributes(spans)
    assert ok[A.DECISION] == A.DECISION_ALLOWED
    assert refused[A.DECISION] == again[A.DECISION] == A.DECISION_BLOCKED


def test_from_challenge_tells_a_revocation_from_other_refusals() -> None:
    credential = broker.mint(user="u", agent="a", tool=SEND, resource="mail:q")
    ok = authorize_bearer(broker, f"Bearer {credential.token}", tool=SEND, resource="mail:q")
    assert not hasattr(ok, "status")
    missing = authorize_bearer(broker, None, tool=SEND, resource="mail:q")
    wrong = authorize_bearer(broker, f"Bearer {credential.token}", tool="export", resource="x")
    broker.revoke(credential.id)
    revoked = authorize_bearer(broker, f"Bearer {credential.token}", tool=SEND, resource="mail:q")
    read = agentaudit.CredentialRevoked.from_challenge
    for challenge in (missing, wrong):
        header = challenge.headers()["WWW-Authenticate"]  # type: ignore[union-attr]
        assert read(challenge.status, header, challenge.body()) is None  # type: ignore[union-attr]
    header = revoked.headers()["WWW-Authenticate"]  # type: ignore[union-attr]
    assert 'reason="revoked"' in header
    found = read(401, header, None, tool=SEND)
    assert found is not None
    assert f"credential {credential.id} has been revoked" in str(found)
    without_param = header.replace(', reason="revoked"', "")
    assert read(401, without_param, {"reason": "revoked"}) is not None  # from the body
    assert read(401, without_param, {"error": "invalid_token"}) is None
    assert read(403, header, None) is None
    assert read(401, 'Basic realm="x"', {"reason": "revoked"}) is None
    quoted = 'Bearer error="invalid_token", error_description="a \\"quoted\\", b", reason=revoked'
    found = read(401, quoted)
    assert found is not None
    assert 'a "quoted", b' in str(found)


def _raised(hide: bool) -> BaseException:
    """A ValueError raised while handling a revocation refusal (hidden with ``from None``)."""
    try:
        try:
            raise CredentialRefused("revoked", "credential c1 has been revoked")
        except CredentialRefused:
            if hide:
                raise ValueError("wrapped") from None
            raise ValueError("while handling")  # noqa: B904 - the implicit context is the point
    except ValueError as raised:
        return raised


def test_the_refusal_chain_walk_is_bounded_and_follows_causes() -> None:
    assert revocation_in(_raised(hide=True)) is None  # the tool deliberately hid it
    found = revocation_in(_raised(hide=False))  # the implicit context counts
    assert found is not None
    assert found.reason == "revoked"
    loop = ValueError("a")
    loop.__cause__ = ValueError("b")
    loop.__cause__.__cause__ = loop
    assert revocation_in(loop) is None
    assert revocation_in(CredentialRefused("expired", "old")) is None


def test_refusals_in_an_exception_group_are_found() -> None:
    group_type = getattr(builtins, "ExceptionGroup", None)
    if group_type is None:  # Python 3.10: the backport anyio installs
        group_type = pytest.importorskip("exceptiongroup").ExceptionGroup
    group = group_type("tasks", [ValueError("x"), CredentialRefused("revoked", "r")])
    found = revocation_in(group)
    assert found is not None
    assert found.error_type == "agentaudit.broker._errors.CredentialRefused"


# --- (c) the quarantine guard runs before any credential is minted ------------------


def test_the_guard_refuses_before_any_mint_whatever_the_registration_order(
    spans: Spans, api: AdminDouble
) -> None:
    hook = JitCredentials(
        CredentialClient(api.url, token=TOKEN), tools={SEND: JitTool()}, use_settings=False
    )
    remove_jit = runtime.add_before_tool_call(hook)  # registered first ...
    guard = QuarantineGuard(GuardSettings(api_url=api.url, token=TOKEN), poll=False)
    remove_guard = runtime.add_before_tool_call(guard)  # ... still runs second
    try:
        assert runtime.before_tool_call_hooks() == (guard, hook)
        with _as():
            assert send_email("t@corp.example")
            api.quarantine("mail-assistant", "bulk export")
            guard.refresh_all()  # what the poller does every 2 s
            for _ in range(3):
                with pytest.raises(agentaudit.AgentQuarantined, match="bulk export"):
                    send_email("t@corp.example")
    finally:
        remove_guard()
        remove_jit()
        guard.close()
    assert _mints(api) == 1  # only the call before the quarantine
    blocked = _attributes(spans)[1:]
    assert [a[A.DECISION] for a in blocked] == [A.DECISION_BLOCKED] * 3


def test_an_explicit_phase_wins_over_the_hook_s_attribute(spans: Spans) -> None:
    order: list[str] = []

    def late(info: runtime.ToolCallInfo) -> None:
        order.append("credential")

    def early(info: runtime.ToolCallInfo) -> None:
        order.append("check")

    removers = [
        runtime.add_before_tool_call(late, phase=runtime.PHASE_CREDENTIAL),
        runtime.add_before_tool_call(early),
    ]
    try:
        send_tool = agentaudit.audited_tool(name="noop")(lambda: "ok")
        assert send_tool() == "ok"
    finally:
        for remove in removers:
            remove()
    assert order == ["check", "credential"]


# --- the memory itself --------------------------------------------------------------


def test_the_memory_expires_is_bounded_and_uninstrument_clears_it(spans: Spans) -> None:
    now = [0.0]
    memory = RefusalMemory(ttl=60, max_keys=2, clock=lambda: now[0])
    refusal = Refusal("revoked", "credential c1 has been revoked", "x.CredentialRefused")
    keys = [("a", "u", "s", f"tool-{i}") for i in range(3)]
    for key in keys:
        memory.remember(key, refusal)
    assert len(memory) == 2
    assert memory.refusal(keys[0]) is None  # the oldest key made room
    assert memory.refusal(keys[2]) is refusal
    now[0] = 61
    assert memory.refusal(keys[2]) is None
    assert memory.refusal(keys[1]) is None
    assert not memory.active
    with pytest.raises(ValueError, match="positive ttl"):
        RefusalMemory(ttl=0)

    runtime.refusals().remember(("a", "u", "s", SEND), refusal)
    agentaudit.uninstrument()
    assert len(runtime.refusals()) == 0


def test_a_remembered_refusal_names_the_tool_and_agent() -> None:
    refusal = Refusal("revoked", "credential c1 has been revoked", "t")
    error = refusal.again(("mail-assistant", "alice", "s-1", SEND))
    assert isinstance(error, agentaudit.CredentialRevoked)
    assert str(error) == (
        f"{DO_NOT_RETRY}: tool send_email was refused for agent mail-assistant (refused "
        "earlier in this session: credential c1 has been revoked; no new credential requested)"
    )
    quarantined = Refusal("quarantined", "no credential", "t").again(("bot", "", "", SEND))
    assert isinstance(quarantined, agentaudit.AgentQuarantined)
    assert isinstance(quarantined, agentaudit.AccessRevoked)
