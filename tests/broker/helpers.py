"""Shared test helpers (also imported by tests/collector/test_revocation*.py)."""

from __future__ import annotations


class FakeClock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """A ``sleep`` seam that advances this clock instead of waiting."""
        self.now += seconds
