"""The detector following a real store: restarts, grouping, triage, exceptions, actions.

Each test writes calls with the real writer and drives :meth:`DetectorService.run_once`
(the service's thread does the same every 0.5 s).
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

from agentaudit.collector.admin.revocation import build_revocation_path
from agentaudit.detector.actions import ServiceActions
from agentaudit.detector.baseline import Baseline
from agentaudit.detector.engine import Detector
from agentaudit.detector.model import Call, Finding
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.records import FindingLog
from agentaudit.detector.service import DetectorService
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from tests.collector.writer.mcp_spans import server_of, store_batches, tool_span
from tests.detector._data import DAY, NS, History, call, store_calls, untrusted

COMPARED = (
    "calls",
    "first_ts",
    "last_ts",
    "learning",
    "tools",
    "transitions",
    "resources_per_tool",
    "fanout",
    "hours",
    "scopes",
    "provenance",
    "approvals",
    "argument_keys",
    "reference",
)


def recent_history() -> History:
    now = time.time_ns()
    return History(start=now - now % DAY - 11 * DAY)


def attack(at: int, count: int, session: str = "evil", start: int = 0) -> list[Call]:
    return [
        untrusted(
            call(
                ts=at + (start + i) * NS // 10,
                session_id=session,
                resource_ids=(f"mailbox:v{start + i}@company.example",),
            )
        )
        for i in range(count)
    ]


def service(store: Store, **kwargs: Any) -> DetectorService:
    return DetectorService(store, interval=0.05, checkpoint_seconds=3600, **kwargs).open()


def newest(store: Store) -> list[dict[str, Any]]:
    return FindingLog(store).newest()


def test_a_restart_keeps_the_baselines_and_counts_nothing_twice(store: Store) -> None:
    history = History()
    calls = history.calls()
    middle = history.start + 5 * DAY  # no session spans the cut
    before = [c for c in calls if c.ts_ns < middle]
    after_ = [c for c in calls if c.ts_ns >= middle]

    store_calls(store, before, batch=40)
    first = service(store)
    first.run_once()
    assert first.detector is not None
    assert first.detector.calls == len(before)
    first.stop()  # saves the baselines with the follower's position

    second = service(store)
    assert second.detector is not None
    assert second.follower is not None
    loaded = second.detector.baseline("support-bot")
    assert loaded is not None
    assert loaded.calls == len(before)
    assert second.follower.position == first.follower.position  # type: ignore[union-attr]
    second.run_once()
    assert second.detector.calls == 0  # nothing new: nothing read twice

    store_calls(store, after_, batch=40)
    second.run_once()
    assert second.detector.calls == len(after_)
    second.stop()

    third = service(store)
    assert third.detector is not None
    resumed = third.detector.baseline("support-bot")
    assert resumed is not None
    assert resumed.calls == len(calls)
    whole = Detector()
    whole.process_all(calls)
    reference = whole.baseline("support-bot")
    assert reference is not None
    assert {k: resumed.to_json()[k] for k in COMPARED} == {
        k: reference.to_json()[k] for k in COMPARED
    }


def test_a_baseline_of_an_older_format_rebuilds_every_baseline_from_the_history(
    store: Store,
) -> None:
    # After an upgrade that changes the baseline format, the agents must not start
    # learning from scratch from the saved position (alerts only for days): the
    # follower starts over and the baselines are relearned from the stored calls.
    calls = History().calls()
    store_calls(store, calls, batch=50)
    first = service(store)
    first.run_once()
    first.stop()
    saved = store.query(
        "SELECT baseline FROM agentaudit.detector_baselines WHERE agent_id = 'support-bot'"
    ).rows[0][0]
    older = __import__("json").loads(saved)
    older["format"] = 1
    older.pop("approvals")
    store.command(
        "INSERT INTO agentaudit.detector_baselines (agent_id, updated_at, watermark, baseline) "
        "VALUES ('support-bot', now64(3) + 1, 0, {b:String})",
        {"b": __import__("json").dumps(older)},
    )

    second = service(store)
    assert second.follower is not None
    assert second.follower.position == {}  # from the first link of every chain
    second.run_once()
    rebuilt = second.detector.baseline("support-bot")  # type: ignore[union-attr]
    assert rebuilt is not None
    assert rebuilt.calls == len(calls)
    assert not rebuilt.learning
    assert "approvals" in rebuilt.to_json()


def test_the_saved_position_and_baselines_are_one_insert(store: Store) -> None:
    store_calls(store, History(days=2).calls(), batch=50)
    running = service(store)
    running.run_once()
    running.checkpoint()
    rows = store.query(
        "SELECT agent_id, updated_at FROM agentaudit.detector_baselines ORDER BY agent_id"
    ).rows
    assert [r[0] for r in rows] == ["", "support-bot"]  # '' holds the follower's position
    assert rows[0][1] == rows[1][1]
    saved = store.query(
        "SELECT baseline FROM agentaudit.detector_baselines WHERE agent_id = 'support-bot'"
    ).rows
    assert Baseline.from_json(__import__("json").loads(saved[0][0])).calls == running.detector.calls  # type: ignore[union-attr]


def test_one_incident_is_one_finding_that_grows_and_keeps_its_triage(store: Store) -> None:
    history = recent_history()
    store_calls(store, history.calls(), batch=100)
    running = service(store)
    running.run_once()
    at = time.time_ns()
    store_calls(store, attack(at, 30), batch=30)
    running.run_once()
    (fan_out,) = [f for f in newest(store) if f["rule"] == "fan_out"]
    # A responder escalates it (a triage version, as the Findings page writes one, with
    # the id of the revocation the escalation started).
    _triage(store, fan_out["finding_id"], "escalated", "rita", "revoke it", revocation="rev-42")
    store_calls(store, attack(at, 50, start=30), batch=50)
    running.run_once()
    versions = store.query(
        "SELECT count() FROM agentaudit.findings WHERE finding_id = {id:String}",
        {"id": fan_out["finding_id"]},
    ).rows[0][0]
    assert versions >= 3
    (grown,) = [f for f in newest(store) if f["rule"] == "fan_out"]
    assert grown["finding_id"] == fan_out["finding_id"]
    assert grown["state"] == "escalated"  # the detector's update kept the triage...
    assert grown["revocation_id"] == "rev-42"  # ...and the escalation's revocation
    evidence = __import__("json").loads(grown["evidence"])
    assert evidence["calls"] > 60
    assert "80 distinct recipients" in grown["summary"]


def _triage(
    store: Store, finding_id: str, state: str, by: str, reason: str, *, revocation: str = ""
) -> None:
    """A triage version, as the responders' Findings page writes it."""
    current = store.query(
        "SELECT * FROM agentaudit.findings WHERE finding_id = {id:String} "
        "ORDER BY updated_at DESC LIMIT 1",
        {"id": finding_id},
    ).as_dicts()[0]
    current.update(state=state, triaged_by=by, triage_reason=reason)
    if revocation:
        current["revocation_id"] = revocation
    current["updated_at"] = time.time_ns() // 1_000_000 + 1
    current["ts"] = int(current["ts"].timestamp() * 1000)
    described = store.query("DESCRIBE TABLE agentaudit.findings").rows
    columns = [r[0] for r in described if r[2] not in ("MATERIALIZED", "ALIAS")]
    table = pa.Table.from_pylist([{c: current[c] for c in columns}])
    table = table.set_column(0, "ts", pa.array([current["ts"]], pa.timestamp("ms", tz="UTC")))
    index = columns.index("updated_at")
    table = table.set_column(
        index, "updated_at", pa.array([current["updated_at"]], pa.timestamp("ms", tz="UTC"))
    )
    store.insert_arrow("agentaudit.findings", table)


def test_a_false_positive_suppresses_that_agent_and_rule(store: Store) -> None:
    history = recent_history()
    store_calls(store, history.calls(), batch=100)
    running = service(store, exceptions_seconds=0)
    running.run_once()
    at = time.time_ns()
    store_calls(store, attack(at, 30, session="first"), batch=30)
    running.run_once()
    (fan_out,) = [f for f in newest(store) if f["rule"] == "fan_out"]
    _triage(store, fan_out["finding_id"], "false_positive", "rita", "a newsletter, expected")
    store_calls(store, attack(at + 10 * NS, 30, session="second", start=100), batch=30)
    running.run_once()
    rules_second = {f["rule"] for f in newest(store) if f["session_id"] == "second"}
    assert "fan_out" not in rules_second  # the exception for (support-bot, fan_out)
    assert "new_resource" in rules_second  # other rules still speak


def test_the_detector_quarantines_through_the_revocation_service(store: Store) -> None:
    path = build_revocation_path(store, {})
    try:
        history = recent_history()
        store_calls(store, history.calls(), batch=100)
        running = service(store, actions=ServiceActions(path.service))
        running.run_once()
        assert not path.quarantine.is_quarantined("support-bot")
        store_calls(store, attack(time.time_ns(), 30), batch=30)
        running.run_once()
        running.stop()  # finishes the queued action, writes the findings
        state = path.quarantine.state("support-bot")
        assert state is not None
        assert state.quarantined
        assert state.actor == "detector"
        record = path.service.get(state.revocation_id)
        assert record is not None
        assert record.requested_by == "detector"
        assert record.status == "done"
        assert record.reason.startswith("detector: support-bot ")
        acted = [f for f in newest(store) if f["action"] == "quarantine"]
        assert acted
        assert {f["revocation_id"] for f in acted} == {state.revocation_id}
    finally:
        path.close()


def test_an_agent_principal_cannot_suppress_its_findings_with_its_spans(store: Store) -> None:
    # Whatever an agent puts in its spans is input: a call claiming to be a responder's
    # triage, or carrying "false_positive" anywhere, changes no exception.
    history = recent_history()
    store_calls(store, history.calls(), batch=100)
    running = service(store, exceptions_seconds=0)
    running.run_once()
    sneaky = call(
        ts=time.time_ns(),
        tool="triage_finding",
        session_id="evil",
        arguments={"state": "false_positive", "rule": "fan_out", "by": "rita"},
    )
    store_calls(store, [sneaky, *attack(time.time_ns(), 30)], batch=31)
    running.run_once()
    assert FindingLog(store).false_positives() == set()
    assert any(f["rule"] == "fan_out" for f in newest(store))


def test_a_backlog_is_read_within_the_cpu_bound(store: Store) -> None:
    calls = History(days=3).calls()
    store_calls(store, calls, batch=20)
    bounded = service(store, settings=DetectorSettings(max_cpu=0.05))
    started = time.monotonic()
    bounded.run_once()
    elapsed = time.monotonic() - started
    assert bounded.detector is not None
    assert bounded.detector.calls == len(calls)  # everything read, only slower
    assert bounded.paused > 0
    assert elapsed >= bounded.paused * 0.9


def _collector(store: Store, tmp_path: Any) -> Any:
    from agentaudit.collector.app import Collector
    from agentaudit.config import load_config

    config = load_config(
        {"wal_dir": str(tmp_path / "wal"), "grpc_port": 0, "http_port": 0, "api_port": 0,
         "detector_mode": "off"},
        environ={},
    )  # fmt: skip
    return Collector(config, store=store)


def test_detect_follow_acts_through_a_collectors_admin_api(store: Store, tmp_path: Any) -> None:
    # `agentaudit detect --follow`'s path: the revocation service lives in the collector;
    # the detector asks its admin API, as the responder, requested_by "detector".
    from agentaudit.client import AdminClient
    from agentaudit.detector.actions import ApiActions

    collector = _collector(store, tmp_path)
    collector.start()
    try:
        api = f"http://127.0.0.1:{collector.admin.port}"
        responder = AdminClient(api, token=collector.config.admin_token)
        store_calls(store, recent_history().calls(), batch=100)
        running = service(store, actions=ApiActions(responder))
        running.run_once()
        store_calls(store, attack(time.time_ns(), 30), batch=30)
        running.run_once()
        running.stop()
        state = responder.quarantine_state("support-bot")
        assert state["quarantined"] is True
        assert state["actor"] == "detector"
        record = responder.request("GET", f"/v1/revocations/{state['revocation_id']}", what="read")
        assert record["requested_by"] == "detector"
        acted = [f for f in newest(store) if f["action"] == "quarantine"]
        assert {f["revocation_id"] for f in acted} == {state["revocation_id"]}
    finally:
        collector.stop()


def test_an_agent_token_cannot_make_the_detector_act(store: Store, tmp_path: Any) -> None:
    # A detector given an agent's token (a misconfiguration, or an agent posing as the
    # detector) is refused by the admin API: nothing is quarantined, the finding says why.
    from agentaudit.client import AdminClient
    from agentaudit.detector.actions import ApiActions

    collector = _collector(store, tmp_path)
    collector.start()
    try:
        api = f"http://127.0.0.1:{collector.admin.port}"
        as_agent = AdminClient(api, token=collector.config.token)
        store_calls(store, recent_history().calls(), batch=100)
        running = service(store, actions=ApiActions(as_agent))
        running._runner._retries = ()  # type: ignore[union-attr]  # fail fast
        running.run_once()
        store_calls(store, attack(time.time_ns(), 30), batch=30)
        running.run_once()
        running.stop()
        responder = AdminClient(api, token=collector.config.admin_token)
        assert responder.quarantine_state("support-bot")["quarantined"] is False
        (finding,) = [f for f in newest(store) if f["rule"] == "fan_out"]
        error = __import__("json").loads(finding["evidence"])["action"]["error"]
        assert "HTTP 403" in error
        assert finding["revocation_id"] == ""
        assert finding["action"] == "alert"  # it failed: a human must act
    finally:
        collector.stop()


def test_unrecorded_calls_are_alerted_once_and_the_sweep_survives_a_restart(
    store: Store,
) -> None:
    # A tool server ran a call whose caller claimed to record it and never did: the
    # service's sweep raises one `unrecorded_call` finding, alert only (the agent it
    # names is the caller's claim), and after a restart does not raise it again.
    alerted: list[Finding] = []
    claimed = tool_span(side=A.CALL_SIDE_CLIENT, call_id="call_ghost")
    store_batches(store, [server_of(claimed)])
    first = service(
        store, settings=DetectorSettings(unrecorded_grace_seconds=0.0), on_finding=alerted.append
    )
    first.run_once()
    first.stop()
    rows = store.query(
        "SELECT rule, severity, action, agent_id FROM agentaudit.findings "
        "WHERE rule = 'unrecorded_call'"
    ).rows
    assert rows == [("unrecorded_call", "high", "alert", "calendar-assistant")]
    assert [f.rule for f in alerted] == ["unrecorded_call"]

    second = service(
        store, settings=DetectorSettings(unrecorded_grace_seconds=0.0), on_finding=alerted.append
    )
    second.run_once()
    second.stop()
    versions = store.query(
        "SELECT count() FROM agentaudit.findings WHERE rule = 'unrecorded_call'"
    ).rows
    assert versions == [(1,)]  # the cursor was saved with the position: not re-examined
    assert len(alerted) == 1
    assert store.query("SELECT count() FROM agentaudit.revocations").rows == [(0,)]
