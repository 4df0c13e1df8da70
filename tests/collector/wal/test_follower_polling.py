"""The follower's polls: cheap when nothing changed, complete across rotation and restarts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.wal.follower import WalFollower
from agentaudit.collector.wal.log import Wal, WalEntry
from tests.conftest import SpanFactory


def test_a_poll_lists_the_directory_only_when_the_segment_has_nothing_new(
    tmp_path: Path, make_span: SpanFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    listings: list[Any] = []
    listdir = os.listdir

    def counting_listdir(path: Any) -> list[str]:
        listings.append(path)
        return listdir(path)

    follower = WalFollower(tmp_path)
    appender = Wal(tmp_path, shared=True)
    appender.append([make_span()])
    assert len(follower.take_replay()) == 1
    monkeypatch.setattr(os, "listdir", counting_listdir)
    seen: list[WalEntry] = []
    spans = [make_span()]
    appender.append(spans)
    follower._read(seen.append, quick=True)  # what the polling thread does
    assert [e.spans for e in seen] == [spans]
    assert listings == []
    follower._read(seen.append, quick=True)
    assert len(seen) == 1
    assert len(listings) == 1  # nothing new: is there a newer segment?
    appender.close()


def _wait_for(follower: WalFollower, lsn: int) -> None:
    deadline = time.monotonic() + 30
    while follower.synced_lsn < lsn:
        assert time.monotonic() < deadline, f"the follower is stuck at {follower.synced_lsn}"
        time.sleep(0.005)


def test_the_polling_thread_follows_rotations_and_restarted_workers(
    tmp_path: Path, make_span: SpanFactory
) -> None:
    follower = WalFollower(tmp_path, poll_seconds=0.001)
    seen: list[WalEntry] = []
    follower.start(seen.append)
    written: list[list[SpanRecord]] = []

    def append(wal: Wal) -> int:
        written.append([make_span()])
        return wal.append(written[-1]).lsn

    appender = Wal(tmp_path, segment_bytes=3000, shared=True)
    for _ in range(8):  # several rotations
        lsn = append(appender)
    _wait_for(follower, lsn)
    assert len(list(tmp_path.glob("*.wal"))) >= 3
    # a worker killed in the middle of a write: the restarted one truncates the torn
    # record and goes on in a new segment
    lsn = append(appender)
    appender.close()
    newest = sorted(tmp_path.glob("*.wal"))[-1]
    with newest.open("ab") as handle:
        handle.write(b"\x40\x00\x00\x00torn")
    appender = Wal(tmp_path, segment_bytes=3000, shared=True)
    assert appender.stats.truncated_bytes == 8
    _wait_for(follower, lsn)
    # a worker restarted again before appending: its empty newest segment is replaced
    # by a new file of the same name
    appender.close()
    appender = Wal(tmp_path, segment_bytes=3000, shared=True)
    for _ in range(4):
        lsn = append(appender)
    _wait_for(follower, lsn)
    appender.close()
    follower.stop()
    assert [e.lsn for e in seen] == list(range(1, lsn + 1))
    assert [e.spans for e in seen] == written
    assert follower.corrupt_records == 0
