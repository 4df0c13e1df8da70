"""One process per WAL directory, and a bounded wait for a process that is stopping."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agentaudit.collector.wal.log import Wal, WalError
from tests.collector._fault_harness import hold_wal_lock


def test_a_directory_in_use_is_refused_at_once_by_default(tmp_path: Path) -> None:
    holder = hold_wal_lock(tmp_path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(WalError, match="in use by another process"):
            Wal(tmp_path)
        assert time.monotonic() - started < 1.0
    finally:
        holder.kill()
        holder.wait(10)


def test_a_wal_waits_for_a_process_that_is_stopping(tmp_path: Path) -> None:
    holder = hold_wal_lock(tmp_path, 1.0)  # exits after a second
    try:
        started = time.monotonic()
        wal = Wal(tmp_path, lock_wait=20)
        waited = time.monotonic() - started
        wal.close()
    finally:
        holder.wait(10)
    assert 0.5 < waited < 10


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    holder = hold_wal_lock(tmp_path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(WalError, match="in use by another process"):
            Wal(tmp_path, lock_wait=0.5)
        assert 0.5 <= time.monotonic() - started < 3
    finally:
        holder.kill()
        holder.wait(10)
