"""collector.ingest.budget: the decode memory budget, its leases and their two refusals."""

from __future__ import annotations

import threading
import time

import pytest

from agentaudit.collector.errors import Backpressure
from agentaudit.collector.ingest.budget import (
    DEFAULT_CAPACITY,
    BudgetExhausted,
    MemoryBudget,
    OverBudget,
)
from agentaudit.config import Config


def test_a_lease_grows_shrinks_and_gives_everything_back() -> None:
    budget = MemoryBudget(100)
    with budget.lease() as lease:
        lease.grow(30)
        lease.grow(20)
        lease.shrink(10)
        assert (lease.held, budget.in_use) == (40, 40)
    assert (lease.held, budget.in_use, budget.peak) == (0, 0, 50)


def _fail_holding(budget: MemoryBudget) -> None:
    with budget.lease() as lease:
        lease.grow(60)
        raise RuntimeError("decoding failed")


def test_everything_is_given_back_when_the_request_fails() -> None:
    budget = MemoryBudget(100)
    with pytest.raises(RuntimeError):
        _fail_holding(budget)
    assert budget.in_use == 0


def test_more_than_the_whole_budget_is_over_budget_at_once() -> None:
    budget = MemoryBudget(100, wait=30)
    started = time.monotonic()
    with budget.lease() as lease:
        lease.grow(80)
        with pytest.raises(OverBudget, match="decode_budget_bytes"):
            lease.grow(21)
        with pytest.raises(OverBudget):
            lease.try_grow(21)
        assert lease.held == 80
    assert time.monotonic() - started < 5  # refused for good: no waiting


def test_a_budget_held_by_others_is_backpressure_after_the_wait() -> None:
    budget = MemoryBudget(100, wait=0.2)
    with budget.lease() as other:
        other.grow(90)
        with budget.lease() as lease:
            assert not lease.try_grow(20)
            started = time.monotonic()
            with pytest.raises(BudgetExhausted) as refused:
                lease.grow(20)
            assert 0.2 <= time.monotonic() - started < 5
            assert isinstance(refused.value, Backpressure)
            assert refused.value.retry_after == 1.0
            lease.grow(10)  # what is free is still granted
    assert budget.in_use == 0


def test_a_waiting_request_proceeds_when_another_releases() -> None:
    budget = MemoryBudget(100, wait=10)
    other = budget.lease()
    other.grow(90)
    threading.Timer(0.2, other.close).start()
    with budget.lease() as lease:
        started = time.monotonic()
        lease.grow(50)
        assert 0.1 < time.monotonic() - started < 5
    assert budget.in_use == 0


def test_concurrent_leases_never_exceed_the_capacity() -> None:
    budget = MemoryBudget(1000, wait=5)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                with budget.lease() as lease:
                    for _ in range(3):
                        lease.grow(100)
                    assert budget.in_use <= budget.capacity
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert budget.in_use == 0
    assert budget.peak <= budget.capacity


def test_one_budget_per_process_and_capacity() -> None:
    shared = MemoryBudget.for_process(12345)
    assert MemoryBudget.for_process(12345) is shared
    assert MemoryBudget.for_process(54321) is not shared


def test_the_setting_defaults_to_the_budget_default() -> None:
    assert Config().decode_budget_bytes == DEFAULT_CAPACITY == 256 * 1024 * 1024
