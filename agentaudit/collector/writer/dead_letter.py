"""The dead-letter file: acknowledged spans the store will never take, kept with why.

A span ends here when it cannot become a row at all (``reason = "unconvertible"``: a
value no Arrow column can hold, a normaliser bug) or when ClickHouse refuses its row
for good (the reasons of :data:`~agentaudit.store._refusals.REFUSALS`:
``constraint_violated``, ``cannot_parse``, ``schema_mismatch``, ...). Keeping it here,
counted and logged, is what lets ingestion go on behind it.

Format: ``<wal-dir>/dead-letter.spans``, one JSON object per line and per span::

    {"reason": "constraint_violated", "table": "agentaudit.tool_calls",
     "error": "Code: 469. DB::Exception: Constraint ...", "time": 1767225600.5,
     "trace_id": "...", "span_id": "...", "record": "J{...}"}

``record`` is the span in the WAL's text codec (redacted, like everything on disk;
:func:`~agentaudit.collector.wal.codec.decode_spans` reads it back). Lines written by
earlier versions (the bare codec record) read back with reason ``unknown``. Each write
is fsync'd before the writer moves past the span in the WAL.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentaudit.collector.metrics import CollectorMetrics
from agentaudit.collector.model import SpanRecord
from agentaudit.collector.wal.codec import decode_spans, encode_spans

__all__ = ["UNCONVERTIBLE", "DeadLetter", "DeadLetters", "read_dead_letters"]

log = logging.getLogger(__name__)

UNCONVERTIBLE = "unconvertible"
"""The reason of a span that cannot be turned into rows."""


@dataclass(frozen=True)
class DeadLetter:
    """One line of the dead-letter file. ``span`` is None if it could not be encoded."""

    reason: str
    table: str
    error: str
    time: float
    trace_id: str
    span_id: str
    span: SpanRecord | None


def _record(span: SpanRecord) -> str | None:
    try:
        return encode_spans([span], text=True).decode()
    except (TypeError, ValueError):  # a value the codec cannot write either: keep the ids
        return None


class DeadLetters:
    """Appends refused spans to the file (when there is one), counts and logs them."""

    def __init__(self, path: Path | None, metrics: CollectorMetrics | None = None) -> None:
        self.path = path
        self._metrics = metrics

    def add(self, spans: Sequence[SpanRecord], *, reason: str, error: str, table: str = "") -> None:
        """Keep ``spans`` (refused together, for ``reason``); one log line for them."""
        if not spans:
            return
        first = spans[0]
        log.error(
            "%d span(s) cannot be stored (%s%s): %s; kept in %s (first: %s/%s)",
            len(spans), reason, f", {table}" if table else "", error, self.path,
            first.trace_id, first.span_id,
        )  # fmt: skip
        if self._metrics is not None:
            self._metrics.dead_lettered.inc(len(spans), reason)
        if self.path is None:
            return
        now = time.time()
        lines = []
        for span in spans:
            line = {
                "reason": reason,
                "table": table,
                "error": error,
                "time": now,
                "trace_id": span.trace_id,
                "span_id": span.span_id,
                "record": _record(span),
            }
            lines.append(json.dumps(line, separators=(",", ":")) + "\n")
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())


def read_dead_letters(path: Path) -> Iterator[DeadLetter]:
    """The lines of a dead-letter file, oldest first.

    A line that cannot be read (torn by a crash mid-write, edited by hand) is skipped
    with a warning naming its line number; the others are still read.
    """
    with path.open("rb") as handle:
        for number, line_bytes in enumerate(handle, start=1):
            raw = line_bytes.rstrip(b"\n")
            if not raw:
                continue
            try:
                yield _letter(raw)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                log.warning("%s line %d cannot be read, skipped: %s", path, number, exc)


def _letter(raw: bytes) -> DeadLetter:
    if raw[:1] != b"{":  # an earlier version's line: the bare codec record
        (span,) = decode_spans(raw)
        return DeadLetter("unknown", "", "", 0.0, span.trace_id, span.span_id, span)
    line = json.loads(raw)
    record = line.get("record")
    spans = decode_spans(record.encode()) if record else []
    return DeadLetter(
        reason=str(line["reason"]),
        table=str(line.get("table", "")),
        error=str(line.get("error", "")),
        time=float(line.get("time", 0.0)),
        trace_id=str(line["trace_id"]),
        span_id=str(line["span_id"]),
        span=spans[0] if spans else None,
    )
