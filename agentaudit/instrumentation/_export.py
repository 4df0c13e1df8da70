"""Exporting audit spans: a sized, never-blocking batch processor and the OTLP exporter.

:class:`AuditSpanProcessor` replaces the SDK's BatchSpanProcessor when agentaudit creates
the tracer provider. Differences, and why:

* a larger queue (``OTEL_BSP_MAX_QUEUE_SIZE``, default 65,536 spans) and an export as soon
  as a batch is full, so bursts are absorbed instead of overflowing a 2,048-slot queue;
* when the queue passes three quarters full and the exporter is healthy, ``on_end`` yields
  the GIL once so a starved export thread can drain it (bounded: never waits on I/O);
* every dropped span is counted (:func:`dropped_spans`, process-wide) and reported in a
  log line with the count; a slow or dead collector never blocks the agent: ``on_end``
  only appends to a bounded deque, exports run on one daemon thread.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["AuditSpanProcessor", "bearer_headers", "build_exporter", "dropped_spans"]

log = logging.getLogger("agentaudit.instrumentation")

_DROP_LOG_INTERVAL_S = 10.0


class _Drops:
    """Process-wide count of dropped spans."""

    total = 0
    lock = threading.Lock()


def dropped_spans() -> int:
    """Spans dropped so far by every AuditSpanProcessor of this process."""
    return _Drops.total


def _count_drops(count: int) -> int:
    with _Drops.lock:
        _Drops.total += count
        return _Drops.total


def _env_int(name: str, default: int, environ: Mapping[str, str]) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        log.error("agentaudit: %s=%r is not an integer; using %d", name, raw, default)
        return default
    if value <= 0:
        log.error("agentaudit: %s=%r must be positive; using %d", name, raw, default)
        return default
    return value


class AuditSpanProcessor(SpanProcessor):
    """Batching span processor that counts and reports every span it drops."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        schedule_delay_millis: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.exporter = exporter
        self.max_queue_size = max_queue_size or _env_int("OTEL_BSP_MAX_QUEUE_SIZE", 65_536, env)
        batch = max_export_batch_size or _env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, env)
        self.max_export_batch_size = min(batch, self.max_queue_size)
        delay_ms = schedule_delay_millis or _env_int("OTEL_BSP_SCHEDULE_DELAY", 500, env)
        self.schedule_delay = delay_ms / 1000.0
        self._high_water = self.max_queue_size * 3 // 4
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._condition = threading.Condition(threading.Lock())
        self._flush_requests: list[threading.Event] = []
        self._shutdown = False
        self._healthy = True
        self._dropped_here = 0
        self._reported_drops = 0
        self._last_drop_log = 0.0
        self._worker = threading.Thread(
            target=self._run, name="agentaudit-span-export", daemon=True
        )
        self._worker.start()
        _LIVE.add(self)

    @property
    def dropped(self) -> int:
        """Spans this processor dropped."""
        return self._dropped_here

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._shutdown or not span.context.trace_flags.sampled:
            return
        queue = self._queue
        size = len(queue)
        if size >= self.max_queue_size:
            self._drop(1)
            return
        queue.append(span)  # deque.append is atomic; no lock on the hot path
        if size + 1 == self.max_export_batch_size or size + 1 >= self._high_water:
            with self._condition:
                self._condition.notify()
            if size + 1 >= self._high_water and self._healthy:
                time.sleep(0)  # let the starved export thread take the GIL once

    def _drop(self, count: int) -> None:
        self._dropped_here += count
        _count_drops(count)
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL_S:
            self._last_drop_log = now
            self._log_drops()

    def _log_drops(self) -> None:
        new = self._dropped_here - self._reported_drops
        if new > 0:
            self._reported_drops = self._dropped_here
            log.warning(
                "agentaudit dropped %d audit span(s) (%d in total): the export queue of %d "
                "was full; the collector is too slow or unreachable",
                new,
                self._dropped_here,
                self.max_queue_size,
            )

    def _run(self) -> None:
        while True:
            with self._condition:
                idle = not self._shutdown and not self._flush_requests
                if idle and len(self._queue) < self.max_export_batch_size:
                    self._condition.wait(self.schedule_delay)
                shutdown = self._shutdown
                flushes, self._flush_requests = self._flush_requests, []
            self._export_available(drain=bool(flushes) or shutdown)
            for event in flushes:
                event.set()
            if shutdown:
                return

    def _export_available(self, *, drain: bool) -> None:
        """Export everything queued now, in batches (``drain``: also what arrives meanwhile)."""
        pending = len(self._queue) if not drain else None
        while self._queue and (pending is None or pending > 0):
            batch: list[ReadableSpan] = []
            while self._queue and len(batch) < self.max_export_batch_size:
                batch.append(self._queue.popleft())
            if pending is not None:
                pending -= len(batch)
            self._export(batch)

    def _export(self, batch: Sequence[ReadableSpan]) -> None:
        try:
            result = self.exporter.export(batch)
        except Exception:
            log.exception("agentaudit: exporting %d span(s) raised", len(batch))
            result = SpanExportResult.FAILURE
        self._healthy = result is SpanExportResult.SUCCESS
        if not self._healthy:
            self._drop(len(batch))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if self._shutdown:
            return True
        event = threading.Event()
        with self._condition:
            self._flush_requests.append(event)
            self._condition.notify()
        done = event.wait(timeout_millis / 1000.0)
        self._log_drops()
        return done

    def shutdown(self) -> None:
        if self._shutdown:
            return
        with self._condition:
            self._shutdown = True
            self._condition.notify()
        self._worker.join(timeout=30)
        self._log_drops()
        self.exporter.shutdown()

    def _after_fork(self) -> None:
        # Threads do not survive fork: start a fresh worker in the child.
        if self._shutdown:
            return
        self._queue.clear()
        self._condition = threading.Condition(threading.Lock())
        self._flush_requests = []
        self._worker = threading.Thread(
            target=self._run, name="agentaudit-span-export", daemon=True
        )
        self._worker.start()


_LIVE: weakref.WeakSet[AuditSpanProcessor] = weakref.WeakSet()
"""Processors to restart in a forked child (weak: a dropped processor is not kept alive)."""


def _restart_after_fork() -> None:
    for processor in list(_LIVE):
        processor._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_after_fork)


def _has_authorization(raw: str | None) -> bool:
    if not raw:
        return False
    return any(part.split("=", 1)[0].strip().lower() == "authorization" for part in raw.split(","))


def bearer_headers(environ: Mapping[str, str]) -> dict[str, str] | None:
    """Export headers when AGENTAUDIT_TOKEN must be added, else None (env headers apply).

    The OTLP exporters ignore ``OTEL_EXPORTER_OTLP_HEADERS`` when given explicit headers,
    so the env headers are parsed and carried over. Nothing is added when the env headers
    already set an ``Authorization``.
    """
    token = environ.get("AGENTAUDIT_TOKEN")
    raw = environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS"
    )
    if not token or _has_authorization(raw):
        return None
    from opentelemetry.util.re import parse_env_headers

    headers = dict(parse_env_headers(raw, liberal=True)) if raw else {}
    headers["authorization"] = f"Bearer {token}"
    return headers


def build_exporter(environ: Mapping[str, str] | None = None) -> SpanExporter | None:
    """The span exporter the ``OTEL_*`` variables ask for (OTLP gRPC by default).

    ``OTEL_TRACES_EXPORTER``: ``otlp`` (default), ``console`` or ``none`` (returns None).
    ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL``: ``grpc`` (default) or ``http/protobuf``;
    ``http/json`` is not supported by the Python exporters and falls back to
    ``http/protobuf`` with a warning. Endpoint, headers, timeout, compression and
    certificates are read by the exporters from the standard variables.
    """
    env = os.environ if environ is None else environ
    kind = (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",")[0].strip().lower()
    if kind == "none":
        return None
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        log.error("agentaudit: OTEL_TRACES_EXPORTER=%r is not supported; using otlp", kind)
    protocol = (
        (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "grpc"
        )
        .strip()
        .lower()
    )
    headers = bearer_headers(env)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(headers=headers) if headers else GrpcExporter()
    if protocol not in ("http/protobuf", "http/json"):
        log.error("agentaudit: OTLP protocol %r is not supported; using http/protobuf", protocol)
    elif protocol == "http/json":
        log.warning("agentaudit: OTLP http/json is not supported by Python; using http/protobuf")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(headers=headers) if headers else HttpExporter()
