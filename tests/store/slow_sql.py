"""A legitimate investigator query that runs for seconds, for tests of limits and latency."""

from __future__ import annotations

__all__ = ["slow_query"]


def slow_query(size: int = 200_000) -> str:
    """A cross join of two generated ranges: ``size`` squared rows, counted.

    Uses only what the guard allows (no table functions): on this project's CI machines
    ``size`` 60,000 runs about 4 s on one thread, 200,000 far longer than any limit here.
    """
    return (
        f"SELECT count() AS n FROM (SELECT arrayJoin(range({size})) AS a) AS l "  # noqa: S608
        f"CROSS JOIN (SELECT arrayJoin(range({size})) AS b) AS r WHERE (a * b) % 7 = 3"
    )
