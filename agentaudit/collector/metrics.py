"""The collector's metrics, rendered in the Prometheus text exposition format (0.0.4).

A deliberately small registry: counters and histograms are updated on the hot path
under one lock each; gauges are callables read at scrape time (WAL bytes and age,
writer queue), so nothing has to push them. :class:`CollectorMetrics` holds every
instrument the collector exports; ``/metrics`` on the admin port renders it.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Sequence

__all__ = ["CONTENT_TYPE", "CollectorMetrics", "Counter", "Gauge", "Histogram", "Registry"]

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


class Counter:
    """A monotonically increasing count, optionally split by label values."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labels = name, help_text, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, *label_values: str) -> None:
        if len(label_values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}")
        with self._lock:
            self._values[label_values] = self._values.get(label_values, 0.0) + amount

    def value(self, *label_values: str) -> float:
        return self._values.get(label_values, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
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
    """Observations in cumulative buckets (seconds, by default latency buckets)."""

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            counts, total = list(self._counts), self._sum
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
        for item in (
            self.received, self.rejected, self.redactions, self.backpressure, self.written,
            self.batches, self.dead_lettered, self.deduplicated, self.store_errors,
            self.batch_seconds, self.export_seconds, self.fsync_seconds,
        ):  # fmt: skip
            add(item)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """Register a gauge read at scrape time."""
        self.registry.add(Gauge(name, help_text, read))

    def render(self) -> str:
        return self.registry.render()
