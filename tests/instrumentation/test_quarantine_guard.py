"""The quarantine guard against a real HTTP server serving the admin API's JSON shape.

Deterministic where it matters: the guard's clock is a test clock and ``refresh_all()``
is one poll; the poller thread itself is checked with a generous wait, not a timing
assertion.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from opentelemetry.trace import StatusCode

import agentaudit
from agentaudit.instrumentation import _quarantine
from agentaudit.instrumentation._quarantine import (
    MAX_KEYS,
    GuardSettings,
    QuarantineGuard,
    QuarantineUnavailable,
)
from agentaudit.instrumentation._runtime import add_before_tool_call, before_tool_call_hooks
from agentaudit.schema import attributes as A

from .admin_double import AdminDouble
from .conftest import Spans

TOKEN = "agent-token"
ran: list[str] = []


@agentaudit.audited_tool(resource="mail:{to}")
def send_email(to: str) -> str:
    ran.append(to)
    return "sent"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> Iterator[AdminDouble]:
    ran.clear()
    with AdminDouble(token=TOKEN) as double:
        yield double


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _guard(
    api: AdminDouble, clock: Clock, *, fail_closed: bool = False, token: str = TOKEN
) -> Iterator[QuarantineGuard]:
    settings = GuardSettings(api_url=api.url, token=token, interval=2.0, fail_closed=fail_closed)
    guard = QuarantineGuard(settings, clock=clock, poll=False)  # polled with refresh_all()
    remove = add_before_tool_call(guard)
    try:
        yield guard
    finally:
        remove()
        guard.close()


@pytest.fixture
def guard(api: AdminDouble, clock: Clock) -> Iterator[QuarantineGuard]:
    yield from _guard(api, clock)


def _send(agent: str = "mail-assistant", to: str = "a@example.com") -> str:
    with agentaudit.context(agent=agent, user="alice", session="s-1"):
        return send_email(to)


def test_allowed_agent_runs_and_a_quarantine_blocks_the_next_call(
    spans: Spans, api: AdminDouble, guard: QuarantineGuard
) -> None:
    assert _send(to="first@example.com") == "sent"
    api.quarantine("mail-assistant", "sent the customer list out")
    guard.refresh_all()
    with pytest.raises(agentaudit.AgentQuarantined, match="sent the customer list out") as info:
        _send(to="second@example.com")
    assert info.value.agent_id == "mail-assistant"
    assert ran == ["first@example.com"]
    allowed, blocked = spans.tools()
    assert (allowed.attributes or {})[A.DECISION] == A.DECISION_ALLOWED
    attributes = blocked.attributes or {}
    assert attributes[A.DECISION] == A.DECISION_BLOCKED
    assert str(attributes[A.ERROR_TYPE]).endswith("AgentQuarantined")
    assert attributes[A.GEN_AI_AGENT_ID] == "mail-assistant"
    assert attributes[A.RESOURCE_IDS] == ("mail:second@example.com",)
    assert blocked.status.status_code is StatusCode.ERROR

    api.release("mail-assistant")
    guard.refresh_all()
    assert _send(to="third@example.com") == "sent"


def test_calls_from_the_cache_do_not_touch_the_network(
    spans: Spans, api: AdminDouble, guard: QuarantineGuard
) -> None:
    for _ in range(20):
        _send()
    assert api.count("/v1/quarantine") == 1
    _send(agent="other-agent")
    assert api.count("/v1/quarantine") == 2


def test_the_poller_thread_picks_up_a_quarantine(spans: Spans, api: AdminDouble) -> None:
    settings = GuardSettings(api_url=api.url, token=TOKEN, interval=0.05)
    guard = QuarantineGuard(settings)
    remove = add_before_tool_call(guard)
    try:
        assert _send() == "sent"
        api.quarantine("mail-assistant")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                _send()
            except agentaudit.AgentQuarantined:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the poller never refreshed the quarantine state")
    finally:
        remove()
        guard.close()


def test_a_user_on_the_deny_list_is_refused(
    spans: Spans, api: AdminDouble, guard: QuarantineGuard
) -> None:
    api.denied_users.add("alice")
    with pytest.raises(agentaudit.AgentQuarantined, match="user alice revoked"):
        _send()


def test_a_call_without_identity_is_not_checked(
    spans: Spans, api: AdminDouble, guard: QuarantineGuard
) -> None:
    assert send_email("anon@example.com") == "sent"
    assert api.count("/v1/quarantine") == 0


def test_unreachable_api_fails_open_by_default_and_says_so_once(
    spans: Spans, api: AdminDouble, guard: QuarantineGuard, caplog: pytest.LogCaptureFixture
) -> None:
    api.status = 503
    with caplog.at_level(logging.WARNING, logger="agentaudit.instrumentation"):
        assert _send(agent="a1") == "sent"
        assert _send(agent="a2") == "sent"  # within the interval: no second attempt
    assert api.count("/v1/quarantine") == 1
    warnings = [r for r in caplog.records if "quarantine state unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert "HTTP 503" in warnings[0].getMessage()
    assert all((s.attributes or {})[A.DECISION] == "allowed" for s in spans.tools())


def test_fail_closed_refuses_when_the_state_is_unknown(
    spans: Spans, api: AdminDouble, clock: Clock
) -> None:
    api.status = 503
    for guard in _guard(api, clock, fail_closed=True):
        with pytest.raises(agentaudit.AgentQuarantined, match="FAIL_CLOSED"):
            _send()
        api.status = 200
        guard.refresh_all()
        assert _send() == "sent"
    assert [(s.attributes or {})[A.DECISION] for s in spans.tools()] == ["blocked", "allowed"]


def test_a_stale_state_follows_the_policy_but_a_quarantine_never_expires(
    spans: Spans, api: AdminDouble, clock: Clock
) -> None:
    for guard in _guard(api, clock, fail_closed=True):
        assert _send(agent="fine") == "sent"
        api.quarantine("rogue")
        with pytest.raises(agentaudit.AgentQuarantined):
            _send(agent="rogue")
        api.status = 503  # the admin API goes away and stays away
        clock.now += guard.settings.stale_after + 1
        guard.refresh_all()
        with pytest.raises(agentaudit.AgentQuarantined, match="unavailable"):
            _send(agent="fine")  # fail-closed: "allowed" is too old to trust
        with pytest.raises(agentaudit.AgentQuarantined, match="prompt injection"):
            _send(agent="rogue")  # the last known quarantine still holds
    for guard in _guard(api, clock, fail_closed=False):
        api.status = 200
        _send(agent="fine")
        api.status = 503
        clock.now += guard.settings.stale_after + 1
        guard.refresh_all()
        assert _send(agent="fine") == "sent"  # fail-open


def test_a_wrong_token_is_an_unavailable_state(
    spans: Spans, api: AdminDouble, clock: Clock
) -> None:
    for guard in _guard(api, clock, token="not-the-token"):
        assert _send() == "sent"
        assert guard._outage is not None
        assert "check AGENTAUDIT_TOKEN" in guard._outage


def test_http_source_refuses_an_answer_without_allowed(api: AdminDouble) -> None:
    source = _quarantine.HttpQuarantineSource(api.url + "/nowhere", token=TOKEN, timeout=5)
    with pytest.raises(QuarantineUnavailable, match="HTTP 404"):
        source(("a", "", ""))
    state = _quarantine.HttpQuarantineSource(api.url, token=TOKEN, timeout=5)(("a", "u", ""))
    assert state["allowed"] is True
    assert set(state) >= {"agent", "quarantined", "state", "blocked", "allowed"}


def test_the_cache_is_bounded(api: AdminDouble, clock: Clock) -> None:
    states = {"allowed": True}
    guard = QuarantineGuard(GuardSettings(), source=lambda key: states, clock=clock, poll=False)
    for index in range(MAX_KEYS + 10):
        guard.check((f"agent-{index}", "", ""))
    assert len(guard._entries) == MAX_KEYS
    clock.now += _quarantine.IDLE_AFTER + 1
    guard.refresh_all()
    assert len(guard._entries) == 0


def test_a_poll_stops_at_the_first_failure(clock: Clock) -> None:
    asked: list[str] = []
    down = False

    def source(key: tuple[str, str, str]) -> dict[str, bool]:
        asked.append(key[0])
        if down:
            raise QuarantineUnavailable("connection timed out")
        return {"allowed": True}

    guard = QuarantineGuard(GuardSettings(), source=source, clock=clock, poll=False)
    for agent in ("a", "b", "c"):
        guard.check((agent, "", ""))
    asked.clear()
    down = True
    guard.refresh_all()
    assert asked == ["a"]  # one timeout per poll, not one per key
    down = False
    guard.refresh_all()
    assert asked == ["a", "a", "b", "c"]


def test_settings_from_the_environment_fall_back_on_bad_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = GuardSettings.from_environ(
        {
            "AGENTAUDIT_API_URL": "http://127.0.0.1:9/",
            "AGENTAUDIT_TOKEN": "t",
            "AGENTAUDIT_QUARANTINE_INTERVAL": "0.5",
            "AGENTAUDIT_QUARANTINE_FAIL_CLOSED": "1",
        }
    )
    assert settings == GuardSettings("http://127.0.0.1:9", "t", 0.5, 1.0, True)
    with caplog.at_level(logging.ERROR, logger="agentaudit.instrumentation"):
        fallback = GuardSettings.from_environ(
            {
                "AGENTAUDIT_API_URL": "ftp://x",
                "AGENTAUDIT_QUARANTINE_INTERVAL": "soon",
                "AGENTAUDIT_QUARANTINE_TIMEOUT": "-1",
            }
        )
    assert fallback == GuardSettings()
    assert len(caplog.records) == 3
    with pytest.raises(ValueError, match="not an http"):
        GuardSettings(api_url="localhost:4320")


def test_install_is_idempotent_and_can_be_disabled(api: AdminDouble) -> None:
    assert _quarantine.install({"AGENTAUDIT_QUARANTINE_CHECK": "0"}) is None
    environ = {"AGENTAUDIT_API_URL": api.url, "AGENTAUDIT_TOKEN": TOKEN}
    try:
        guard = _quarantine.install(environ)
        assert guard is not None
        assert _quarantine.install(environ) is guard
        assert _quarantine.installed_guard() is guard
        assert before_tool_call_hooks().count(guard) == 1
    finally:
        _quarantine.uninstall()
    assert guard not in before_tool_call_hooks()
    assert _quarantine.installed_guard() is None
