"""How a worker process's metrics reach the store-owning process's ``/metrics``.

A worker prints a line ``metrics <json>`` on its standard output (a pipe to the pool)
every :data:`REPORT_INTERVAL` seconds when something changed, and once more after its
receivers stop: the cumulative :class:`~agentaudit.collector.metrics.ProcessReport` of
this incarnation. The pool reads each worker's lines on a thread of its own and keeps
the latest report per worker in :class:`WorkerReports`; a restarted worker counts from
zero again, so the pool first folds its predecessor's last report into a retired total.

Invariants: the sum shown never decreases while the collector runs (a Prometheus
counter), and a line that is not a report is logged and ignored, never fatal: a worker
is a process of ours, but the pipe is read defensively all the same.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import IO

from agentaudit.collector.metrics import ProcessReport, total_report

__all__ = ["REPORT_INTERVAL", "WorkerReports", "format_report", "parse_report"]

log = logging.getLogger(__name__)

REPORT_INTERVAL = 0.5
"""Seconds between a worker's reports: how stale ``/metrics`` may be about a worker."""
_PREFIX = "metrics "
MAX_LINE = 1 << 20
"""The pipe is read at most this many characters at a time: a longer line is read in
pieces, none of which is a report."""


def format_report(report: ProcessReport) -> str:
    """The line a worker prints (without the newline)."""
    return _PREFIX + json.dumps(report.to_json(), separators=(",", ":"))


def parse_report(line: str) -> ProcessReport:
    """The report of a line :func:`format_report` wrote; ValueError for any other line."""
    if not line.startswith(_PREFIX) or len(line) > MAX_LINE:
        raise ValueError("not a metrics report: no prefix, or too long")
    try:
        return ProcessReport.from_json(json.loads(line[len(_PREFIX) :]))
    except RecursionError:
        raise ValueError("not a metrics report: nested too deep") from None
    except ValueError as exc:
        raise ValueError(f"not a metrics report: {exc}") from None


class WorkerReports:
    """The latest report of each running worker, and what retired incarnations counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[int, ProcessReport] = {}
        self._retired = ProcessReport()

    def update(self, number: int, report: ProcessReport) -> None:
        with self._lock:
            self._latest[number] = report

    def retire(self, number: int) -> None:
        """Worker ``number`` exited: its counts stay in the total, its WAL size does not."""
        with self._lock:
            last = self._latest.pop(number, None)
            if last is not None:
                self._retired = self._retired + ProcessReport(last.counters, last.histograms)

    def total(self) -> ProcessReport:
        with self._lock:
            return total_report([self._retired, *self._latest.values()])

    def follow(self, number: int, stream: IO[str]) -> None:
        """Keep worker ``number``'s latest report from ``stream`` until its end (EOF)."""
        while line := stream.readline(MAX_LINE):
            try:
                self.update(number, parse_report(line.rstrip("\n")))
            except ValueError as exc:
                log.warning("worker %d wrote a line that is not a report: %s", number, exc)
