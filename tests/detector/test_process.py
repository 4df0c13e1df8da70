"""The detector in a process of its own (``detector/host.py``, ``detector/process.py``).

Real processes and a real embedded store: the collector's side (this test process) owns
the store and the revocation service; the detector process reaches both only over the
connections of ``detector/channel.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa
import pytest

from agentaudit.collector.admin.revocation import build_revocation_path
from agentaudit.detector.actions import ServiceActions
from agentaudit.detector.channel import (
    Caller,
    ChannelClosed,
    RemoteStore,
    decode_table,
    encode_calls,
    serve,
)
from agentaudit.detector.host import MAX_WAITING, DetectorProcess
from agentaudit.detector.model import CALL_COLUMNS, Finding
from agentaudit.detector.policy import DetectorSettings
from agentaudit.detector.records import BaselineLog
from agentaudit.store import Store, StoreError
from tests.detector._data import History, store_calls
from tests.detector.test_service import attack, newest, recent_history


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Refusing:
    """Actions that must never be called."""

    def carry_out(self, request: Any) -> str:
        raise AssertionError(f"no action expected: {request}")


@pytest.fixture
def channel(store: Store) -> Iterator[Caller]:
    """A caller whose requests a thread of this process serves on ``store``."""
    ours, theirs = socket.socketpair()
    server = Connection(ours.detach())
    thread = threading.Thread(
        target=serve, args=(server, {"query": store.query, "insert": _inserter(store)})
    )
    thread.start()
    caller = Caller(Connection(theirs.detach()))
    yield caller
    caller.close()
    thread.join(5)
    server.close()


def _inserter(store: Store) -> Callable[..., bool]:
    def insert(table: str, data: bytes, dedup_token: str | None) -> bool:
        store.insert_arrow(table, decode_table(data), dedup_token=dedup_token)
        return True

    return insert


# -- the channel ----------------------------------------------------------------------


def test_the_remote_store_reads_and_writes_the_collectors_store(
    store: Store, channel: Caller
) -> None:
    remote = RemoteStore(channel)
    rows = [("a", 1), ("b", 2)]
    table = pa.table(
        {"name": [r[0] for r in rows], "n": pa.array([r[1] for r in rows], pa.int64())}
    )
    store.query("CREATE TABLE default.t (name String, n Int64) ENGINE = MergeTree ORDER BY n")
    remote.insert_arrow("default.t", table)
    assert store.query("SELECT name, n FROM default.t ORDER BY n").rows == rows
    got = remote.query("SELECT name, n FROM default.t WHERE n > {n:Int64}", {"n": 1})
    assert got.columns == ("name", "n")
    assert got.rows == [("b", 2)]


def test_a_store_error_comes_back_as_the_same_error(store: Store, channel: Caller) -> None:
    remote = RemoteStore(channel)
    with pytest.raises(StoreError, match="no_such_column") as direct:
        store.query("SELECT no_such_column FROM agentaudit.tool_calls")
    with pytest.raises(StoreError, match="no_such_column") as remote_error:
        remote.query("SELECT no_such_column FROM agentaudit.tool_calls")
    assert type(remote_error.value) is type(direct.value)


def test_an_unknown_request_runs_nothing_and_is_answered(channel: Caller) -> None:
    with pytest.raises(Exception, match="unknown request 'shell'"):
        channel.call("shell", "rm -rf /")
    assert RemoteStore(channel).query("SELECT 1").rows == [(1,)]  # still served


def test_a_closed_collector_end_is_a_store_outage_not_a_hang() -> None:
    ours, theirs = socket.socketpair()
    caller = Caller(Connection(theirs.detach()))
    Connection(ours.detach()).close()
    started = time.monotonic()
    with pytest.raises(ChannelClosed):
        RemoteStore(caller).query("SELECT 1")
    assert time.monotonic() - started < 1.0


def test_handed_rows_cross_as_the_columns_the_detector_reads(store: Store) -> None:
    handed: list[Any] = []
    store_calls(store, History(days=1).calls()[:30], batch=30, on_stored=handed.append)
    (batch,) = handed
    crossed = decode_table(encode_calls(batch.calls))
    columns = [*CALL_COLUMNS, "authentication"]  # handed_rows reads who sent each row
    assert crossed.column_names == columns
    assert crossed.equals(batch.calls.select(columns))


# -- the process ----------------------------------------------------------------------


def _process(store: Store, findings: list[Finding], actions: Any = None) -> DetectorProcess:
    return DetectorProcess(
        store,
        DetectorSettings(),
        actions=actions or _Refusing(),
        on_finding=findings.append,
    )


def _calls(process: DetectorProcess) -> int:
    return int(process.health().get("detector_calls", 0))


def test_the_process_reads_handed_batches_and_saves_everything_at_stop(store: Store) -> None:
    calls = History(days=2).calls()
    process = _process(store, []).start()
    try:
        wait_for("the process following", lambda: process.reports > 0)
        store_calls(store, calls, batch=50, on_stored=process.offer)
        wait_for("every call read", lambda: _calls(process) == len(calls))
        assert process.health()["detector_batches_handed"] >= 1
        pid = process.pid
        assert pid is not None
        assert pid != os.getpid()
        ours = os.getpriority(os.PRIO_PROCESS, 0)  # ingest first when the cores are busy
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + 10)
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")  # noqa: SIM115
        assert not [v for v in environ if v.startswith(b"AGENTAUDIT_")]  # no token there
    finally:
        process.stop()
    baselines, position, _ = BaselineLog(store).load()
    assert baselines["support-bot"].calls == len(calls)
    assert position  # saved with them, through this process's store


def test_a_killed_detector_process_is_restarted_and_misses_nothing(store: Store) -> None:
    history = History(days=4)
    calls = history.calls()
    half = len(calls) // 2
    process = _process(store, []).start()
    try:
        store_calls(store, calls[:half], batch=50, on_stored=process.offer)
        wait_for("the first half read", lambda: _calls(process) == half)
        pid = process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        store_calls(store, calls[half:], batch=50, on_stored=process.offer)  # while down
        wait_for("a restart", lambda: process.health()["detector_restarts"] == 1)
        wait_for("a running process", lambda: process.health()["detector_running"])
        # It loads what was saved (nothing yet: the first checkpoint is 10 s away) and
        # reads every call it has not counted from the store, each once.
        wait_for("every call read again", lambda: _calls(process) == len(calls))
    finally:
        process.stop()
    baselines, _, _ = BaselineLog(store).load()
    assert baselines["support-bot"].calls == len(calls)


def test_only_its_collector_stops_the_detector_process(store: Store) -> None:
    # A Ctrl-C or a SIGTERM to the whole process group reaches the detector too; it
    # goes on until the collector stops it in order (and saves what it learned).
    calls = History(days=2).calls()
    process = _process(store, []).start()
    pid = process.pid
    assert pid is not None
    try:
        wait_for("the process following", lambda: process.reports > 0)
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        store_calls(store, calls, batch=50, on_stored=process.offer)
        wait_for("every call read", lambda: _calls(process) == len(calls))
        assert process.pid == pid
        assert process.restarts == 0
    finally:
        process.stop()
    assert process.pid is None
    baselines, _, _ = BaselineLog(store).load()
    assert baselines["support-bot"].calls == len(calls)


def test_a_stalled_detector_process_never_blocks_the_writer(store: Store) -> None:
    calls = History(days=30).calls()
    process = _process(store, []).start()
    pid = process.pid
    assert pid is not None
    try:
        wait_for("the process following", lambda: process.reports > 0)
        os.kill(pid, signal.SIGSTOP)  # reads nothing: its socket fills up
        slowest = 0.0

        def timed_offer(batch: Any) -> None:
            nonlocal slowest
            started = time.perf_counter()
            process.offer(batch)
            slowest = max(slowest, time.perf_counter() - started)

        batches = store_calls(store, calls, batch=2, on_stored=timed_offer)
        assert batches > 4 * MAX_WAITING
        assert slowest < 0.05
        assert process.dropped > 0  # more than MAX_WAITING waited: the store has them
        os.kill(pid, signal.SIGCONT)
        wait_for("every call read", lambda: _calls(process) == len(calls))
    finally:
        os.kill(pid, signal.SIGCONT)
        process.stop()


def test_the_process_quarantines_through_this_processs_revocation_service(
    store: Store,
) -> None:
    path = build_revocation_path(store, {})
    findings: list[Finding] = []
    process = _process(store, findings, ServiceActions(path.service)).start()
    try:
        store_calls(store, recent_history().calls(), batch=100, on_stored=process.offer)
        store_calls(store, attack(time.time_ns(), 30), batch=30, on_stored=process.offer)
        wait_for("the quarantine", lambda: path.quarantine.is_quarantined("support-bot"))
        state = path.quarantine.state("support-bot")
        assert state is not None
        assert state.actor == "detector"
        wait_for("the finding alerted", lambda: any(f.revocation_id for f in findings))
    finally:
        process.stop()
        path.close()
    acted = [f for f in newest(store) if f["action"] == "quarantine"]
    assert {f["revocation_id"] for f in acted} == {state.revocation_id}
    alerted = {f.revocation_id for f in findings if f.revocation_id}
    assert alerted == {state.revocation_id}
