"""``detect --replay`` prints what the live detector raised on the same data; ``--explain``
prints the saved baseline; both on a store no process holds and through a running
process's admin API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentaudit.client import AdminClient
from agentaudit.collector.app import Collector
from agentaudit.config import load_config
from agentaudit.detector.follower import ApiSource, StoreSource
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.records import FindingLog
from agentaudit.detector.replay import explain_baseline, replay
from agentaudit.detector.service import DetectorService
from agentaudit.store import Store
from tests.detector._data import DAY, NS, History, call, store_calls, untrusted

SINCE = time.time_ns() - 30 * DAY


def traffic() -> tuple[list[Any], list[Any]]:
    now = time.time_ns()
    history = History(start=now - now % DAY - 11 * DAY)
    at = now - 60 * NS
    incident = [
        call(
            tool="read_ticket",
            ts=at,
            session_id="evil",
            resource_ids=("ticket:T-5512",),
            arguments={"id": "T-5512"},
            credential_scopes=("tickets.read",),
        )
    ]
    incident += [
        untrusted(
            call(
                ts=at + NS + i * NS // 10,
                session_id="evil",
                resource_ids=(f"mailbox:v{i}@customers.example",),
            )
        )
        for i in range(120)
    ]
    incident.append(
        call(
            ts=at + 30 * NS,
            session_id="late",
            resource_ids=("mailbox:c1@company.example",),
            credential_scopes=("mail.send", "admin.all"),
        )
    )
    return history.calls(), incident


def key(finding: Any) -> tuple[str, str, str, str, str]:
    get = finding.get if isinstance(finding, dict) else finding.__getattribute__
    return (
        str(get("finding_id")),
        str(get("rule")),
        str(get("severity")),
        str(get("action")),
        str(get("summary")),
    )


def live(store: Store) -> list[tuple[str, str, str, str, str]]:
    history, incident = traffic()
    store_calls(store, history, batch=100)
    running = DetectorService(store, checkpoint_seconds=3600).open()
    running.run_once()
    for start in range(0, len(incident), 30):  # the incident arrives in several batches
        store_calls(store, incident[start : start + 30], batch=30)
        running.run_once()
    running.stop()
    return sorted(key(f) for f in FindingLog(store).newest())


def test_replay_raises_what_the_live_detector_raised(store: Store) -> None:
    raised = live(store)
    assert {"fan_out", "new_recipient_domain", "new_scope"} <= {rule for _, rule, *_ in raised}
    replayed = replay(StoreSource(store), DetectorSettings(), since_ns=SINCE)
    assert sorted(key(f) for f in replayed.findings) == raised
    assert replayed.agents == {"support-bot"}


def test_the_cli_on_a_store_no_process_holds(store: Store, store_dir: Path) -> None:
    raised = live(store)
    store.close()  # the CLI's process opens it
    done = _cli("detect", "--replay", "--since", "30d", "--store", str(store_dir))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "nothing was acted on" in out
    assert "would quarantine" in out
    for _, rule, _, _, _summary in raised:
        assert rule in out
    fan_out = next(s for _, r, _, _, s in raised if r == "fan_out")
    assert fan_out in out

    as_json = _cli(
        "detect", "--replay", "--since", "30d", "--format", "json", "--store", str(store_dir)
    )
    listed = json.loads(as_json.stdout)["findings"]
    assert sorted(key(f) for f in listed) == raised

    explained = _cli("detect", "--explain", "support-bot", "--store", str(store_dir))
    assert explained.returncode == 0, explained.stderr
    assert "baseline of support-bot (saved by the detector)" in explained.stdout
    assert "learning: complete since" in explained.stdout
    assert "send_email:" in explained.stdout
    rebuilt = _cli(
        "detect",
        "--explain",
        "support-bot",
        "--rebuild",
        "--format",
        "json",
        "--store",
        str(store_dir),
    )
    assert json.loads(rebuilt.stdout)["calls"] > 200
    missing = _cli("detect", "--explain", "nobody", "--store", str(store_dir))
    assert missing.returncode == 1
    assert "no baseline" in missing.stdout


def test_follow_is_refused_on_the_embedded_store(store_dir: Path) -> None:
    done = _cli("detect", "--follow", "--store", str(store_dir))
    assert done.returncode == 2
    assert "`agentaudit up` runs the detector itself" in done.stderr


def test_replay_and_explain_through_a_running_process(store: Store, tmp_path: Path) -> None:
    history, incident = traffic()
    config = load_config(
        {
            "wal_dir": str(tmp_path / "wal"),
            "grpc_port": 0,
            "http_port": 0,
            "api_port": 0,
            "batch_seconds": 0.05,
        },
        environ={},
    )
    collector = Collector(config, store=store)
    collector.start()
    try:
        assert collector.detector is not None  # on by default with the embedded store
        collector.accept([_span(c) for c in history])
        collector.accept([_span(c) for c in incident])
        detector = collector.detector
        _wait(lambda: detector.health()["detector_calls"] == len(history) + len(incident))
        _wait(lambda: any(f["rule"] == "fan_out" for f in FindingLog(store).newest()))
        assert collector.admin is not None
        client = AdminClient(
            f"http://127.0.0.1:{collector.admin.port}", token=collector.config.admin_token
        )
        through_api = replay(ApiSource(client), DetectorSettings(), since_ns=SINCE)
        through_store = replay(StoreSource(store), DetectorSettings(), since_ns=SINCE)
        assert sorted(key(f) for f in through_api.findings) == sorted(
            key(f) for f in through_store.findings
        )
        assert through_api.calls == len(history) + len(incident)
        data, origin = explain_baseline(ApiSource(client), "support-bot", DetectorSettings())
        assert data is not None
        assert data["calls"] == len(history) + len(incident)
        assert origin in ("saved by the detector", "rebuilt from the stored calls")
    finally:
        collector.stop()


def _span(c: Any) -> Any:
    from tests.detector._data import span_of

    return span_of(c)


def _wait(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentaudit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
