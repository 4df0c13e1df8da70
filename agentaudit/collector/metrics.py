"""The collector's metrics, rendered in the Prometheus text exposition format (0.0.4).

A deliberately small registry: counters and histograms are updated on the hot path
under one lock each; gauges are callables read at scrape time (WAL bytes and age,
writer queue), so nothing has to push them. :class:`CollectorMetrics` holds every
instrument the collector exports; ``/metrics`` on the admin port renders it.

A receiving worker process (``--workers N``) keeps instruments of its own and reports
them as a :class:`ProcessReport` (:meth:`CollectorMetrics.report`); the store-owning
process adds its workers' reports to its own instruments at scrape time
(:meth:`CollectorMetrics.include`), so ``/metrics`` shows one collector whichever
process received an export.
"""

from __future__ import annotations

import bisect
import functools
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONTENT_TYPE",
    "CollectorMetrics",
    "Counter",
    "Gauge",
    "Histogram",
    "ProcessReport",
    "Registry",
    "total_report",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


Labels = tuple[str, ...]
CounterValues = Mapping[Labels, float]
HistogramValues = tuple[Sequence[int], float]
"""A histogram's per-bucket counts (not cumulative, the last one above every bound) and
sum."""


class Counter:
    """A monotonically increasing count, optionally split by label values.

    Counts of other processes join at read time (:meth:`include`); :meth:`value` and
    :meth:`render` show the total.
    """

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labels = name, help_text, tuple(labels)
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()
        self._sources: list[Callable[[], CounterValues]] = []

    def inc(self, amount: float = 1.0, *label_values: str) -> None:
        if len(label_values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}")
        with self._lock:
            self._values[label_values] = self._values.get(label_values, 0.0) + amount

    def include(self, read: Callable[[], CounterValues]) -> None:
        """Add the counts ``read()`` returns (another process's) at every read."""
        self._sources.append(read)

    def own(self) -> dict[Labels, float]:
        """This process's counts alone."""
        with self._lock:
            return dict(self._values)

    def totals(self) -> dict[Labels, float]:
        """This process's counts plus every included source's."""
        totals = self.own()
        for read in self._sources:
            for labels, amount in read().items():
                if len(labels) == len(self.labels):  # another shape is not this counter's
                    totals[labels] = totals.get(labels, 0.0) + amount
        return totals

    def value(self, *label_values: str) -> float:
        return self.totals().get(label_values, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        items = sorted(self.totals().items())
        if not items and not self.labels:
            items = [((), 0.0)]
        lines += [f"{self.name}{_labels(self.labels, k)} {_number(v)}" for k, v in items]
        return lines


class Gauge:
    """A value read from ``read`` at scrape time."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name, self.help, self._read = name, help_text, read

    def render(self) -> list[str]:
        try:
            value = float(self._read())
        except Exception:  # a gauge must never break the scrape
            value = math.nan
        shown = "NaN" if math.isnan(value) else _number(value)
        return [
            f"# HELP {self.name} {self.help}",
            f"# TYPE {self.name} gauge",
            f"{self.name} {shown}",
        ]


class Histogram:
    """Observations in cumulative buckets (seconds, by default latency buckets).

    Observations of other processes (same buckets) join at read time (:meth:`include`).
    """

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()
        self._sources: list[Callable[[], HistogramValues | None]] = []

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def include(self, read: Callable[[], HistogramValues | None]) -> None:
        """Add the observations ``read()`` returns (another process's) at every read;
        counts of another length than this histogram's buckets are ignored."""
        self._sources.append(read)

    def own(self) -> HistogramValues:
        """This process's observations alone."""
        with self._lock:
            return list(self._counts), self._sum

    def totals(self) -> tuple[list[int], float]:
        """This process's observations plus every included source's."""
        own_counts, total = self.own()
        counts = list(own_counts)
        for read in self._sources:
            other = read()
            if other is None or len(other[0]) != len(counts):
                continue
            counts = [a + b for a, b in zip(counts, other[0], strict=True)]
            total += other[1]
        return counts, total

    @property
    def count(self) -> int:
        return sum(self.totals()[0])

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        counts, total = self.totals()
        running = 0
        for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
            running += count
            lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {running}')
        lines += [f"{self.name}_sum {_number(total)}", f"{self.name}_count {running}"]
        return lines


class Registry:
    """Instruments in registration order; :meth:`render` is the scrape body."""

    def __init__(self) -> None:
        self._items: list[Counter | Gauge | Histogram] = []

    def add(self, item: Counter | Gauge | Histogram) -> None:
        self._items.append(item)

    def render(self) -> str:
        lines: list[str] = []
        for item in self._items:
            lines += item.render()
        return "\n".join(lines) + "\n"


def _label_values(item: object) -> tuple[Labels, float]:
    if not isinstance(item, list) or not item or not all(type(v) is str for v in item[:-1]):
        raise ValueError("a counter entry is [label values..., amount]")
    return tuple(item[:-1]), _amount(item[-1])


def _amount(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a count: {value!r}")
    if not 0 <= value < math.inf:
        raise ValueError(f"not a count: {value!r}")
    return float(value)


@dataclass(frozen=True)
class ProcessReport:
    """What a receiving worker process counted since it started, and its WAL's size.

    Counters by name (``received``, ``rejected``, ...), histograms by name
    (``export_seconds``, ``fsync_seconds``): the attributes of :class:`CollectorMetrics`.
    """

    counters: Mapping[str, CounterValues] = field(default_factory=dict)
    histograms: Mapping[str, HistogramValues] = field(default_factory=dict)
    wal_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "counters": {
                name: [[*labels, amount] for labels, amount in values.items()]
                for name, values in self.counters.items()
            },
            "histograms": {
                name: [list(counts), total] for name, (counts, total) in self.histograms.items()
            },
            "wal_bytes": self.wal_bytes,
        }

    @classmethod
    def from_json(cls, data: object) -> ProcessReport:
        """The report ``to_json`` wrote; ValueError for anything else."""
        if not isinstance(data, dict):
            raise ValueError("a report is an object")
        counters, histograms = data.get("counters", {}), data.get("histograms", {})
        if not isinstance(counters, dict) or not isinstance(histograms, dict):
            raise ValueError("counters and histograms are objects")
        parsed_counters: dict[str, CounterValues] = {}
        for name, entries in counters.items():
            if not isinstance(entries, list):
                raise ValueError(f"counter {name!r}: not a list")
            parsed_counters[name] = dict(_label_values(entry) for entry in entries)
        parsed_histograms: dict[str, HistogramValues] = {}
        for name, entry in histograms.items():
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)):
                raise ValueError(f"histogram {name!r}: not [counts, sum]")
            counts = entry[0]
            if not all(type(c) is int and c >= 0 for c in counts):
                raise ValueError(f"histogram {name!r}: counts are whole numbers")
            parsed_histograms[name] = (counts, _amount(entry[1]))
        wal_bytes = data.get("wal_bytes", 0)
        if type(wal_bytes) is not int or wal_bytes < 0:
            raise ValueError("wal_bytes is a whole number")
        return cls(parsed_counters, parsed_histograms, wal_bytes)

    def __add__(self, other: ProcessReport) -> ProcessReport:
        counters: dict[str, dict[Labels, float]] = {}
        for report in (self, other):
            for name, values in report.counters.items():
                into = counters.setdefault(name, {})
                for labels, amount in values.items():
                    into[labels] = into.get(labels, 0.0) + amount
        histograms: dict[str, HistogramValues] = dict(self.histograms)
        for name, (counts, total) in other.histograms.items():
            mine = histograms.get(name)
            if mine is None or len(mine[0]) != len(counts):
                histograms[name] = (counts, total)
            else:
                merged = [a + b for a, b in zip(mine[0], counts, strict=True)]
                histograms[name] = (merged, mine[1] + total)
        return ProcessReport(counters, histograms, self.wal_bytes + other.wal_bytes)


def total_report(reports: Iterable[ProcessReport]) -> ProcessReport:
    """The sum of ``reports`` (an empty report for none)."""
    total = ProcessReport()
    for report in reports:
        total = total + report
    return total


def _counter_of(read: Callable[[], ProcessReport], name: str) -> CounterValues:
    return read().counters.get(name, {})


def _histogram_of(read: Callable[[], ProcessReport], name: str) -> HistogramValues | None:
    return read().histograms.get(name)


class CollectorMetrics:
    """Every instrument of one collector process."""

    def __init__(self) -> None:
        self.registry = Registry()
        add = self.registry.add
        self.received = Counter(
            "agentaudit_spans_received_total", "Spans accepted (acknowledged).", ("protocol",)
        )
        self.rejected = Counter(
            "agentaudit_spans_rejected_total", "Spans or requests refused, by reason.", ("reason",)
        )
        self.redactions = Counter(
            "agentaudit_redactions_total", "Values redacted, by rule.", ("rule",)
        )
        self.backpressure = Counter(
            "agentaudit_backpressure_total", "Exports refused as retryable, by cause.", ("cause",)
        )
        self.written = Counter(
            "agentaudit_rows_written_total", "Rows inserted into the store, by table.", ("table",)
        )
        self.batches = Counter("agentaudit_batches_written_total", "Batches written to the store.")
        self.dead_lettered = Counter(
            "agentaudit_spans_dead_lettered_total",
            "Acknowledged spans the store will not take, kept in the dead-letter file, by reason.",
            ("reason",),
        )
        self.deduplicated = Counter(
            "agentaudit_spans_deduplicated_total",
            "Spans not stored again (a resent or replayed copy), by where the first copy was.",
            ("found",),
        )
        self.store_errors = Counter(
            "agentaudit_store_errors_total", "Failed store writes (each is retried)."
        )
        self.batch_seconds = Histogram(
            "agentaudit_batch_write_seconds", "Time to write one batch (inserts and chain link)."
        )
        self.export_seconds = Histogram(
            "agentaudit_export_seconds", "Time from request received to acknowledged."
        )
        self.fsync_seconds = Histogram("agentaudit_wal_fsync_seconds", "Duration of WAL fsyncs.")
        self.drained = Counter(
            "agentaudit_worker_spans_drained_total",
            "Spans drained from the receiving worker processes' WALs into this process.",
        )
        for item in (
            self.received, self.rejected, self.redactions, self.backpressure, self.written,
            self.batches, self.dead_lettered, self.deduplicated, self.store_errors,
            self.batch_seconds, self.export_seconds, self.fsync_seconds, self.drained,
        ):  # fmt: skip
            add(item)
        self._receiving_counters = {
            "received": self.received,
            "rejected": self.rejected,
            "redactions": self.redactions,
            "backpressure": self.backpressure,
        }
        self._receiving_histograms = {
            "export_seconds": self.export_seconds,
            "fsync_seconds": self.fsync_seconds,
        }

    def report(self, *, wal_bytes: int = 0) -> ProcessReport:
        """What a receiving worker process reports: the instruments receiving updates."""
        return ProcessReport(
            {name: counter.own() for name, counter in self._receiving_counters.items()},
            {name: histogram.own() for name, histogram in self._receiving_histograms.items()},
            wal_bytes,
        )

    def include(self, read: Callable[[], ProcessReport]) -> None:
        """Show what ``read()`` reports (the workers' total) in the receiving instruments."""
        for name, counter in self._receiving_counters.items():
            counter.include(functools.partial(_counter_of, read, name))
        for name, histogram in self._receiving_histograms.items():
            histogram.include(functools.partial(_histogram_of, read, name))

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """Register a gauge read at scrape time."""
        self.registry.add(Gauge(name, help_text, read))

    def render(self) -> str:
        return self.registry.render()
