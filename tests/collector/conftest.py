"""Collector tests: no collector process outlives the test that started it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collector._fault_harness import kill_leftovers


@pytest.fixture(autouse=True)
def _no_leftover_collectors() -> Iterator[None]:
    yield
    kill_leftovers()
