"""Retention with legal holds, on a real store: ClickHouse's TTL removes only the rows past
retention that no hold covers; ``verify`` reports the removal as expiry (not tampering),
checks the held rows against the hold's record, and names a held row deleted by hand."""

# ruff: noqa: S608 - test SQL splices constants and ids the test made itself

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agentaudit.collector.evidence import EvidenceService
from agentaudit.collector.model import VERIFIED_AGENT, VERIFIED_PRINCIPAL
from agentaudit.errors import ConfigError
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.evidence.holds import HoldError
from agentaudit.store.evidence.retention import (
    DAY_SECONDS,
    apply_retention,
    current_policy,
    parse_retention,
)
from agentaudit.store.evidence.verify import verify_store
from tests.conftest import SpanFactory
from tests.store.evidence._seed import mutate, write_spans


def _span(make_span: SpanFactory, session: str) -> Any:
    span = make_span()
    return make_span(attributes={**span.attributes, A.SESSION_ID: session})


def _sessions(store: Store) -> dict[str, int]:
    return {
        str(s): int(n)
        for s, n in store.query(
            "SELECT session_id, count() FROM agentaudit.tool_calls GROUP BY session_id"
        ).rows
    }


def _expire(store: Store, tables: tuple[str, ...] = ("tool_calls", "otel_traces")) -> None:
    """Run the TTL now (ClickHouse would in a background merge)."""
    for table in tables:
        mutate(store, f"ALTER TABLE agentaudit.{table} MATERIALIZE TTL")


@pytest.fixture
def evidence(store: Store, tmp_path: Path) -> EvidenceService:
    return EvidenceService(store, state_dir=tmp_path / "state", offline=True)


def test_retention_spares_held_rows_and_verify_reports_expiry(
    store: Store, tmp_path: Path, make_span: SpanFactory, evidence: EvidenceService
) -> None:
    # Every batch (4 rows) mixes held and unheld sessions: a unit expires partly.
    spans = [_span(make_span, "sess-held" if i % 2 else "sess-free") for i in range(8)]
    write_spans(store, tmp_path / "wal", spans, batch_rows=4)
    evidence.seal()
    hold = evidence.place_hold(kind="session", value="sess-held", actor="legal", reason="m-7")
    changed = apply_retention(store, {"tool_calls": 1, "otel_traces": 1}, actor="test")
    assert sorted(changed) == ["otel_traces", "tool_calls"]
    assert current_policy(store)["tool_calls"] == 1
    time.sleep(2.5)  # past the 1 s retention
    _expire(store)
    assert _sessions(store) == {"sess-held": 4}  # the held rows survived retention
    held_spans = store.query(
        f"SELECT count() FROM agentaudit.otel_traces WHERE SpanAttributes['{A.SESSION_ID}'] "
        "= 'sess-held'"
    ).rows[0][0]
    assert held_spans == 4
    assert store.query("SELECT count() FROM agentaudit.otel_traces").rows[0][0] == 4
    evidence.seal()

    report = verify_store(store)
    assert report.problems == []
    text = "\n".join(report.notes)
    assert "tool_calls: 2 unit(s) expired by retention (4 row(s) removed" in text
    assert "4 row(s) past retention kept by legal holds" in text

    # A held row deleted by hand is not expiry: it is named.
    mutate(
        store,
        "ALTER TABLE agentaudit.tool_calls DELETE WHERE session_id = 'sess-held' "
        f"AND span_id = '{spans[1].span_id}'",
    )
    problems = verify_store(store).problems
    assert [p.kind for p in problems] == ["deleted"]
    assert hold.hold_id in str(problems[0])
    assert "expired by retention" in str(problems[0])


def test_rows_within_retention_are_kept_and_a_deletion_is_tampering(
    store: Store, tmp_path: Path, make_span: SpanFactory, evidence: EvidenceService
) -> None:
    write_spans(store, tmp_path / "wal", [make_span() for _ in range(4)], batch_rows=4)
    apply_retention(store, {"tool_calls": 30 * DAY_SECONDS}, actor="test")
    _expire(store, ("tool_calls",))
    assert _sessions(store) == {"sess-1": 4}
    evidence.seal()
    mutate(store, "ALTER TABLE agentaudit.tool_calls DELETE WHERE 1")
    assert [p.kind for p in verify_store(store).problems] == ["deleted"]


def test_a_released_hold_lets_its_rows_expire(
    store: Store, tmp_path: Path, make_span: SpanFactory, evidence: EvidenceService
) -> None:
    write_spans(store, tmp_path / "wal", [_span(make_span, "sess-held") for _ in range(4)])
    evidence.seal()
    hold = evidence.place_hold(kind="user", value="user-1", actor="legal", reason="m-8")
    apply_retention(store, {"tool_calls": 1}, actor="test")
    time.sleep(2.5)
    _expire(store, ("tool_calls",))
    assert _sessions(store) == {"sess-held": 4}
    released = evidence.release_hold(hold.hold_id, actor="legal", reason="settled")
    assert not released.active
    assert released.released_by == "legal"
    _expire(store, ("tool_calls",))
    assert _sessions(store) == {}
    evidence.seal()
    assert verify_store(store).problems == []
    with pytest.raises(HoldError, match="already released"):
        evidence.release_hold(hold.hold_id, actor="legal", reason="again")


def test_a_time_hold_keeps_what_the_store_received_in_its_range_whatever_time_spans_claim(
    store: Store, tmp_path: Path, make_span: SpanFactory, evidence: EvidenceService
) -> None:
    # The spans claim to have started in 2023 (a span's start is its sender's word); the
    # store received them now, inside the hold's range.
    placed_from = int(time.time() * 1e6) - 60_000_000
    write_spans(store, tmp_path / "wal", [_span(make_span, "sess-now") for _ in range(4)])
    evidence.seal()
    evidence.place_hold(
        kind="time",
        from_us=placed_from,
        to_us=int(time.time() * 1e6) + 60_000_000,
        actor="legal",
        reason="m-9",
    )
    apply_retention(store, {"tool_calls": 1, "otel_traces": 1}, actor="test")
    time.sleep(2.5)
    _expire(store)
    assert _sessions(store) == {"sess-now": 4}
    assert store.query("SELECT count() FROM agentaudit.otel_traces").rows[0][0] == 4
    evidence.seal()
    assert verify_store(store).problems == []


def test_an_agent_hold_keeps_the_calls_its_token_sent_under_another_id(
    store: Store, tmp_path: Path, make_span: SpanFactory, evidence: EvidenceService
) -> None:
    # Sent with mail-assistant's token, each claiming to be agent-1.
    disguised = [_span(make_span, "sess-disguised") for _ in range(2)]
    for span in disguised:
        span.verified.update({VERIFIED_PRINCIPAL: "agent", VERIFIED_AGENT: "mail-assistant"})
    others = [_span(make_span, "sess-other") for _ in range(2)]
    write_spans(store, tmp_path / "wal", [*disguised, *others], batch_rows=4)
    evidence.seal()
    evidence.place_hold(kind="agent", value="mail-assistant", actor="legal", reason="m-10")
    apply_retention(store, {"tool_calls": 1}, actor="test")
    time.sleep(2.5)
    _expire(store, ("tool_calls",))
    assert _sessions(store) == {"sess-disguised": 2}
    evidence.seal()
    assert verify_store(store).problems == []


def test_the_servers_records_of_calls_expire_with_them_unless_held(
    store: Store, tmp_path: Path, make_span: SpanFactory, evidence: EvidenceService
) -> None:
    calls = [_span(make_span, "sess-held" if i % 2 else "sess-free") for i in range(4)]
    servers = [
        make_span(
            trace_id=call.trace_id,
            parent_span_id=call.span_id,
            kind="Server",
            attributes={**call.attributes, A.CALL_SIDE: A.CALL_SIDE_SERVER},
        )
        for call in calls
    ]
    write_spans(store, tmp_path / "wal", [*calls, *servers], batch_rows=8)
    evidence.seal()
    evidence.place_hold(kind="session", value="sess-held", actor="legal", reason="m-8")
    policy = parse_retention({"tool_calls": 1})
    assert policy["tool_call_server_sides"] == policy["tool_calls"]  # they go together
    changed = apply_retention(store, {"tool_calls": 1, "tool_call_server_sides": 1}, actor="t")
    assert sorted(changed) == ["tool_call_server_sides", "tool_calls"]
    time.sleep(2.5)
    _expire(store, ("tool_calls", "tool_call_server_sides"))
    assert _sessions(store) == {"sess-held": 2}
    kept = store.query(
        "SELECT session_id, count() FROM agentaudit.tool_call_server_sides GROUP BY session_id"
    ).rows
    assert kept == [("sess-held", 2)]
    evidence.seal()
    report = verify_store(store)
    assert report.problems == []
    assert "tool_call_server_sides: " in "\n".join(report.notes)


def test_the_servers_records_can_be_kept_apart_from_the_calls() -> None:
    policy = parse_retention({"tool_calls": 30, "tool_call_server_sides": 0})
    assert policy == {"tool_calls": 30 * DAY_SECONDS, "tool_call_server_sides": 0}
    assert parse_retention({"otel_traces": 7}) == {"otel_traces": 7 * DAY_SECONDS}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"revocations": 30}, "only tool_calls"),
        ({"tool_calls": -1}, "not a whole number"),
        ({"tool_calls": "30d"}, "not a whole number"),
        ({"tool_calls": True}, "not a whole number"),
    ],
)
def test_bad_retention_config_is_refused(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_retention(section)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"kind": "planet", "value": "x"}, "one of session"),
        ({"kind": "session", "value": "  "}, "needs the session id"),
        ({"kind": "time", "from_us": 5, "to_us": 1}, "start before its end"),
        ({"kind": "agent", "value": "a", "reason": " "}, "needs a reason"),
    ],
)
def test_bad_holds_are_refused(
    store: Store, evidence: EvidenceService, request_: dict[str, Any], message: str
) -> None:
    fields = {"reason": "r", **request_}
    with pytest.raises(HoldError, match=message):
        evidence.place_hold(actor="legal", **fields)
    assert evidence.holds() == []
