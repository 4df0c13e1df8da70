"""Quarantine state: in memory for reads, persisted in agentaudit.quarantine (chdb)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentaudit.collector.admin.revocation.quarantine import (
    ClickHouseQuarantineStore,
    NotQuarantined,
    QuarantineRegistry,
)
from agentaudit.config import embedded_dsn
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.broker.helpers import FakeClock


def _open(directory: Path) -> Store:
    store = Store.open(embedded_dsn(directory))
    apply_migrations(store)
    return store


def test_quarantine_release_and_survive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    with _open(tmp_path / "store") as store:
        registry = QuarantineRegistry(ClickHouseQuarantineStore(store), clock=clock)
        first = registry.quarantine("mail-assistant", reason="anomaly", actor="detector")
        clock.advance(10)
        again = registry.quarantine("mail-assistant", reason="confirmed", actor="oncall")
        assert again.since == first.since  # a second quarantine keeps when it began
        registry.quarantine("sql-agent", reason="exfiltration", actor="oncall", revocation_id="r9")
        clock.advance(5)
        released = registry.release("sql-agent", reason="false positive", actor="oncall")
        assert not released.quarantined
        with pytest.raises(NotQuarantined):
            registry.release("sql-agent", reason="twice", actor="oncall")
        with pytest.raises(NotQuarantined):
            registry.release("never-seen", reason="x", actor="oncall")

    with _open(tmp_path / "store") as store:
        reloaded = QuarantineRegistry(ClickHouseQuarantineStore(store), clock=clock)
        assert reloaded.is_quarantined("mail-assistant")
        assert not reloaded.is_quarantined("sql-agent")
        state = reloaded.state("mail-assistant")
        assert state is not None
        assert (state.reason, state.actor, state.since) == ("confirmed", "oncall", first.since)
        assert [s.agent for s in reloaded.active()] == ["mail-assistant"]
        sql_agent = reloaded.state("sql-agent")
        assert sql_agent is not None
        assert (sql_agent.state, sql_agent.reason) == ("released", "false positive")
        assert reloaded.state("never-seen") is None


def test_versions_never_tie_even_when_the_clock_stands_still(tmp_path: Path) -> None:
    clock = FakeClock()
    with _open(tmp_path / "store") as store:
        registry = QuarantineRegistry(ClickHouseQuarantineStore(store), clock=clock)
        registry.quarantine("a", reason="1", actor="x")
        registry.release("a", reason="2", actor="x")
        registry.quarantine("a", reason="3", actor="x")
        reloaded = QuarantineRegistry(ClickHouseQuarantineStore(store), clock=clock)
        state = reloaded.state("a")
        assert state is not None
        assert (state.quarantined, state.reason) == (True, "3")


def test_state_json_is_what_the_runtime_reads() -> None:
    clock = FakeClock()
    registry = QuarantineRegistry(clock=clock)
    state = registry.quarantine("a", reason="r", actor="oncall", revocation_id="rev")
    assert state.to_json() == {
        "agent": "a",
        "quarantined": True,
        "state": "quarantined",
        "since": clock.now,
        "updated_at": clock.now,
        "reason": "r",
        "actor": "oncall",
        "revocation_id": "rev",
    }
    with pytest.raises(ValueError, match="agent"):
        registry.quarantine("", reason="r", actor="x")
