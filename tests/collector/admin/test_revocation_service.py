"""The fan-out service over a real chdb store, real backends and a loopback receiver."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentaudit.broker import Broker, CredentialRefused, DenyList, MintRefused, SigningKey
from agentaudit.collector.admin.revocation import (
    BackendResult,
    BrokerBackend,
    ClickHouseDenyListStore,
    RevocationBackend,
    RevocationLog,
    RevocationRequest,
    RevocationService,
    WebhookBackend,
    tool_call_context,
)
from agentaudit.collector.admin.revocation.quarantine import (
    ClickHouseQuarantineStore,
    NotQuarantined,
    QuarantineRegistry,
)
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.broker.helpers import FakeClock
from tests.broker.receivers import RunningReceiver

SECRET = "whsec"
DASHBOARD = "http://127.0.0.1:8501"


class DownBackend:
    """A backend whose remote side is down for good (a real Protocol implementation)."""

    name = "down"

    def revoke(self, request: RevocationRequest) -> BackendResult:
        return BackendResult(self.name, False, 3, "connection refused", errors=("a", "b"))


class FlakyBackend:
    """Down until ``up`` is set: a remote side that recovers."""

    name = "flaky"

    def __init__(self) -> None:
        self.up = False
        self.calls = 0

    def revoke(self, request: RevocationRequest) -> BackendResult:
        self.calls += 1
        return BackendResult(self.name, self.up, 1, "ok" if self.up else "down")


class BrokenBackend:
    name = "broken"

    def revoke(self, request: RevocationRequest) -> BackendResult:
        raise RuntimeError("bug in a backend")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("revocation") / "store"
    with Store.open(embedded_dsn(directory)) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture
def receiver() -> Iterator[RunningReceiver]:
    with RunningReceiver(SECRET) as running:
        yield running


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _service(
    store: Store, backends: list[RevocationBackend], clock: FakeClock
) -> RevocationService:
    return RevocationService(
        RevocationLog(store),
        backends,
        quarantine=QuarantineRegistry(ClickHouseQuarantineStore(store), clock=clock),
        context=tool_call_context(store),
        dashboard_url=DASHBOARD,
        clock=clock,
    )


def _broker(store: Store, clock: FakeClock, key: SigningKey | None = None) -> Broker:
    return Broker(
        key=key, clock=clock, denylist=DenyList(ClickHouseDenyListStore(store), clock=clock)
    )


def _seed_tool_call(store: Store, agent: str, session: str) -> None:
    store.command(
        "INSERT INTO agentaudit.tool_calls (ts, trace_id, span_id, agent_id, user_id, "
        "session_id, tool_name, arguments, resource_ids, source_refs, source_kinds, "
        "source_trust, untrusted_source, approval_status) VALUES (now64(9), {trace:String}, "
        "{span:String}, {agent:String}, 'alice', {session:String}, 'calendar.delete_event', "
        "'{\"event_id\": \"evt-12345\"}', ['calendar:evt-12345'], ['email:msg-42'], ['email'], "
        "['untrusted'], 1, 'none')",
        parameters={"trace": "ab" * 16, "span": "cd" * 8, "agent": agent, "session": session},
    )


def test_agent_revocation_fans_out_records_and_quarantines(
    store: Store, receiver: RunningReceiver
) -> None:
    clock = FakeClock()
    agent, session = _unique("mail-assistant"), _unique("sess")
    _seed_tool_call(store, agent, session)
    broker = _broker(store, clock)
    token = broker.mint(user="alice", agent=agent, tool="t", resource="r").token
    webhook = WebhookBackend(receiver.url, SECRET, name="chat", sleep=clock.sleep)
    service = _service(store, [BrokerBackend(broker), webhook, DownBackend()], clock)

    outcome = service.revoke(
        target="agent", target_id=agent, reason="prompt injection", requested_by="oncall"
    )

    assert outcome.status == "partial"
    assert [r.backend for r in outcome.results] == ["broker", "chat", "down"]
    assert [r.ok for r in outcome.results] == [True, True, False]
    assert outcome.quarantine is not None
    assert outcome.quarantine.quarantined
    assert service.quarantine.is_quarantined(agent)
    assert outcome.link == f"{DASHBOARD}/session?session={session}"
    with pytest.raises(CredentialRefused):
        broker.verify(token, tool="t", resource="r")

    payload = receiver.receiver.deliveries[0].payload
    assert payload["agent"] == agent
    assert payload["user"] == "alice"
    assert payload["trigger"]["tool"] == "calendar.delete_event"
    assert payload["trigger"]["source_refs"] == ["email:msg-42"]
    assert "`email:msg-42` (`untrusted`)" in payload["text"]

    # The pending version may already be merged away (ReplacingMergeTree): read the newest.
    versions = store.query(
        "SELECT status, action, target, target_id, requested_by, results FROM "
        "agentaudit.revocations WHERE id = {id:String} ORDER BY updated_at",
        {"id": outcome.id},
    ).rows
    assert versions[-1][0] == "partial"
    assert versions[-1][1:5] == ("revoke", "agent", agent, "oncall")
    results = {name: json.loads(value) for name, value in versions[-1][5].items()}
    assert results["down"]["ok"] is False
    assert results["down"]["errors"] == ["a", "b"]
    assert results["chat"]["response"]["status"] == 200
    record = service.get(outcome.id)
    assert record is not None
    assert record.status == "partial"


def test_release_lifts_the_quarantine_and_the_mint_block(
    store: Store, receiver: RunningReceiver
) -> None:
    clock = FakeClock()
    agent = _unique("agent")
    broker = _broker(store, clock)
    webhook = WebhookBackend(receiver.url, SECRET, name="chat", sleep=clock.sleep)
    service = _service(store, [BrokerBackend(broker), webhook], clock)
    service.revoke(target="agent", target_id=agent, reason="r", requested_by="oncall")
    with pytest.raises(MintRefused):
        broker.mint(user="u", agent=agent, tool="t", resource="r")

    clock.advance(2)
    outcome = service.release(agent=agent, reason="false positive", requested_by="lead")
    assert outcome.status == "done"
    assert outcome.action == "release"
    assert outcome.quarantine is not None
    assert not outcome.quarantine.quarantined
    assert not service.quarantine.is_quarantined(agent)
    broker.mint(user="u", agent=agent, tool="t", resource="r")
    assert receiver.receiver.deliveries[-1].payload["event"] == "agentaudit.release"

    with pytest.raises(NotQuarantined):
        service.release(agent=agent, reason="again", requested_by="lead")


def test_all_failed_and_a_raising_backend_are_recorded(store: Store) -> None:
    clock = FakeClock()
    service = _service(store, [DownBackend(), BrokenBackend()], clock)
    outcome = service.revoke(
        target="credential", target_id=_unique("jti"), reason="leaked", requested_by="oncall"
    )
    assert outcome.status == "failed"
    broken = outcome.results[1]
    assert broken.backend == "broken"
    assert "RuntimeError: bug in a backend" in broken.detail
    assert outcome.quarantine is None  # only agent targets are quarantined
    record = service.get(outcome.id)
    assert record is not None
    assert record.status == "failed"


def test_bad_requests_record_nothing(store: Store) -> None:
    clock = FakeClock()
    service = _service(store, [], clock)
    before = store.query("SELECT count() FROM agentaudit.revocations").rows[0][0]
    for target, target_id, reason, message in (
        ("tenant", "x", "r", "target"),
        ("agent", " ", "r", "id"),
        ("agent", "x", "", "reason"),
        ("agent", "x", "r" * 1001, "longer"),
    ):
        with pytest.raises(ValueError, match=message):
            service.revoke(target=target, target_id=target_id, reason=reason, requested_by="o")
    assert store.query("SELECT count() FROM agentaudit.revocations").rows[0][0] == before
    with pytest.raises(ValueError, match="unique"):
        _service(store, [DownBackend(), DownBackend()], clock)


def test_refused_attempts_are_recorded(store: Store) -> None:
    service = _service(store, [], FakeClock())
    recorded = service.record_refused(
        action="release",
        target="agent",
        target_id="mail-assistant",
        requested_by="agent-token@127.0.0.1",
        detail="agent token presented to DELETE /v1/quarantine/mail-assistant",
    )
    record = service.get(recorded)
    assert record is not None
    assert (record.status, record.action, record.requested_by) == (
        "refused",
        "release",
        "agent-token@127.0.0.1",
    )


def test_denylist_persists_in_clickhouse(store: Store) -> None:
    clock = FakeClock()
    key = SigningKey.generate()
    broker = _broker(store, clock, key)
    credential = broker.mint(user="u", agent=_unique("a"), tool="t", resource="r", session="s1")
    broker.revoke(credential.id, reason="leaked", revocation_id="rev-7")
    broker.revoke_principal("session", "s-" + credential.id)
    broker.release_principal("session", "s-" + credential.id)

    restarted = _broker(store, clock, key)  # a new process over the same tables
    with pytest.raises(CredentialRefused) as refused:
        restarted.verify(credential.token, tool="t", resource="r")
    assert refused.value.reason == "revoked"
    entries = {(e.kind, e.value): e for e in restarted.denylist.entries()}
    assert entries[("credential", credential.id)].revocation_id == "rev-7"
    assert entries[("credential", credential.id)].until == credential.expires_at
    lifted = entries[("session", "s-" + credential.id)]
    assert lifted.lifted_at is not None
    assert not lifted.active


def test_retry_runs_only_the_failed_backends_again(store: Store) -> None:
    clock = FakeClock()
    broker = _broker(store, clock)
    flaky = FlakyBackend()
    service = _service(store, [BrokerBackend(broker), flaky], clock)
    outcome = service.revoke(
        target="credential", target_id=_unique("jti"), reason="leaked", requested_by="oncall"
    )
    assert outcome.status == "partial"

    flaky.up = True  # the clock stands still: the new version must still be the newest
    retried = service.retry(outcome.id)
    assert retried.id == outcome.id
    assert retried.status == "done"
    assert [r.backend for r in retried.results] == ["broker", "flaky"]
    assert retried.results[0].attempts == 1  # kept, not run again
    assert flaky.calls == 2
    record = service.get(outcome.id)
    assert record is not None
    assert record.status == "done"
    with pytest.raises(ValueError, match="nothing to retry"):
        service.retry(outcome.id)
    with pytest.raises(LookupError):
        service.retry("no-such-id")
