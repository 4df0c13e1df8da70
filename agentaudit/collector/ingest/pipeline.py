"""The ingest pipeline every receiver feeds: validate -> stamp -> redact -> WAL -> writer.

Seam: a receiver decodes a request into :class:`SpanRecord` objects and calls
:meth:`Pipeline.accept`; when it returns, the accepted spans are durable (in the WAL,
fsync'd) and the receiver may acknowledge. Invariants:

* Nothing unredacted reaches disk: redaction runs before the WAL append.
* What the collector establishes itself (who sent the spans, whether a signed approval
  verifies) is stamped before redaction, in ``SpanRecord.verified``; a span's own
  attributes cannot set it.
* Individually invalid spans (bad ids, too many attributes, oversized values) are
  dropped and counted in the returned :class:`Accepted` (OTLP partial success); the
  rest of the request is accepted.
* When the WAL is full or the writer is too far behind, :class:`Backpressure` is raised
  before anything is written: the client retries, nothing acknowledged is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agentaudit.collector.errors import Backpressure
from agentaudit.collector.identity.principals import Principal
from agentaudit.collector.metrics import CollectorMetrics
from agentaudit.collector.model import (
    VERIFIED_AGENT,
    VERIFIED_PRINCIPAL,
    Accepted,
    SpanRecord,
)
from agentaudit.collector.wal.log import Wal, WalEntry
from agentaudit.schema import attributes as A
from agentaudit.schema.identifiers import same_principal

__all__ = ["DEFAULT_LIMITS", "Limits", "Pipeline", "SpanSink", "validate"]

log = logging.getLogger(__name__)

Redact = Callable[[Sequence[SpanRecord]], None]
Stamp = Callable[[Sequence[SpanRecord]], None]
"""Establishes facts about spans before redaction (e.g. verifies signed approvals)."""


class SpanSink(Protocol):
    """Where accepted spans go after the WAL: the writer (a worker process has none).

    A Protocol, so the receive path does not import the writer (and pyarrow) behind it.
    """

    @property
    def pending(self) -> int: ...

    def enqueue(self, spans: Sequence[SpanRecord]) -> None: ...

    def enqueue_entry(self, entry: WalEntry) -> None: ...


_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Limits:
    """Per-span limits; a span over any of them is rejected (partial success)."""

    max_attributes: int = 2048
    max_value_bytes: int = 4 * 1024 * 1024
    max_events: int = 1024


DEFAULT_LIMITS = Limits()


def _id_ok(value: str, length: int) -> bool:
    return len(value) == length and value.strip("0") != "" and _HEX.issuperset(value)


def _value_size(value: object) -> int:
    """Characters/bytes of strings and bytes in ``value``, 8 for any other scalar."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list):
        size = 0
        for item in value:  # lists of strings are the common case: no call for those
            size += len(item) if type(item) is str else _value_size(item)
        return size
    if isinstance(value, dict):
        return sum(len(k) + _value_size(v) for k, v in value.items())
    return 8


def _problem(span: SpanRecord, limits: Limits) -> str | None:
    """Why ``span`` cannot be stored, or None."""
    if not _id_ok(span.trace_id, 32):
        return "invalid_trace_id"
    if not _id_ok(span.span_id, 16):
        return "invalid_span_id"
    if span.parent_span_id and len(span.parent_span_id) != 16:
        return "invalid_parent_span_id"
    if len(span.attributes) > limits.max_attributes:
        return "too_many_attributes"
    if len(span.events) > limits.max_events:
        return "too_many_events"
    most = limits.max_value_bytes
    for value in span.attributes.values():
        kind = type(value)
        if kind is str or kind is bytes:  # the common case, without the recursive walk
            if len(value) > most:
                return "value_too_large"
        elif (kind is list or kind is dict) and _value_size(value) > most:
            return "value_too_large"
    if span.start_ns >= 1 << 63 or span.end_ns >= 1 << 63:
        return "invalid_timestamp"
    return None


def validate(
    spans: Sequence[SpanRecord], limits: Limits = DEFAULT_LIMITS
) -> tuple[list[SpanRecord], dict[str, int]]:
    """Split ``spans`` into the valid ones and a count of the others by reason."""
    valid: list[SpanRecord] = []
    reasons: dict[str, int] = {}
    for span in spans:
        problem = _problem(span, limits)
        if problem is None:
            valid.append(span)
        else:
            reasons[problem] = reasons.get(problem, 0) + 1
    return valid, reasons


def _no_redaction(spans: Sequence[SpanRecord]) -> None:
    return None


def _claiming_their_own(
    spans: list[SpanRecord], agent: str, reasons: dict[str, int]
) -> list[SpanRecord]:
    """The spans that claim no agent id or the token's own (``refuse_agent_mismatch``)."""
    kept = []
    for span in spans:
        claimed = span.attributes.get(A.GEN_AI_AGENT_ID) or span.attributes.get(A.GEN_AI_AGENT_NAME)
        if isinstance(claimed, str) and claimed and not same_principal(claimed, agent):
            reasons["agent_mismatch"] = reasons.get("agent_mismatch", 0) + 1
        else:
            kept.append(span)
    return kept


def _stamp(spans: Sequence[SpanRecord], principal: Principal) -> None:
    """Record who sent the spans; whatever the spans claimed there is overwritten."""
    for span in spans:
        span.verified[VERIFIED_PRINCIPAL] = principal.role
        span.verified[VERIFIED_AGENT] = principal.agent


class Pipeline:
    """Validate, redact, append to the WAL (if any), hand to the writer (if any).

    A worker process has a WAL and no writer: the store-owning process drains its WAL.
    """

    def __init__(
        self,
        writer: SpanSink | None,
        *,
        wal: Wal | None = None,
        redact: Redact | None = None,
        verify_approvals: Stamp | None = None,
        refuse_mismatch: bool = False,
        metrics: CollectorMetrics | None = None,
        limits: Limits = DEFAULT_LIMITS,
        max_pending_spans: int = 2_000_000,
    ) -> None:
        self.writer = writer
        self.wal = wal
        self.metrics = metrics or CollectorMetrics()
        self._redact = redact or _no_redaction
        self._verify_approvals = verify_approvals
        self._refuse_mismatch = refuse_mismatch
        self._limits = limits
        self._max_pending = max_pending_spans
        self._count_lock = threading.Lock()
        self.spans_received = 0

    def reject(self, reason: str, count: int = 1) -> None:
        """Count spans or requests refused before reaching the pipeline."""
        self.metrics.rejected.inc(count, reason)

    def accept(
        self,
        spans: Sequence[SpanRecord],
        *,
        protocol: str = "grpc",
        principal: Principal | None = None,
    ) -> Accepted:
        """Make the valid spans of one request durable; return what was kept.

        ``principal``: who the receiver authenticated; stamped on every span (in
        ``SpanRecord.verified``), so each stored row says who sent it.
        """
        valid, reasons = validate(spans, self._limits)
        if self._refuse_mismatch and principal is not None and principal.attributed:
            valid = _claiming_their_own(valid, principal.agent, reasons)
        for reason, count in reasons.items():
            self.metrics.rejected.inc(count, reason)
        rejected = len(spans) - len(valid)
        message = ""
        if reasons:
            message = "rejected spans: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        if not valid:
            return Accepted(0, rejected, message)
        if self.writer is not None and self.writer.pending > self._max_pending:
            self.metrics.backpressure.inc(1, "writer")
            raise Backpressure(
                f"the writer is {self.writer.pending} spans behind the store; retry later",
                retry_after=2.0,
            )
        if principal is not None:
            _stamp(valid, principal)
        if self._verify_approvals is not None:  # before redaction: it reads the grants
            self._verify_approvals(valid)
        self._redact(valid)
        for span in valid:
            for rule, count in span.redactions.items():
                self.metrics.redactions.inc(count, rule)
        if self.wal is not None:
            on_written = self.writer.enqueue_entry if self.writer is not None else None
            try:  # the writer sees the entry in LSN order, and uses it once it is synced
                self.wal.append(valid, on_written=on_written)
            except Backpressure:
                self.metrics.backpressure.inc(1, "wal_full")
                raise
        elif self.writer is not None:
            self.writer.enqueue(valid)
        else:
            raise ValueError("a pipeline needs a writer, a WAL, or both")
        self.metrics.received.inc(len(valid), protocol)
        with self._count_lock:
            self.spans_received += len(valid)
        return Accepted(len(valid), rejected, message)

    def __call__(self, spans: list[SpanRecord]) -> Accepted:
        return self.accept(spans)
