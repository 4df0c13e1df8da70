"""One span per top-level LangChain run, so a graph run's model and tool spans share a trace.

LangChain reports runs through callbacks, not as a context the handler could make
current for the whole run, so the run span is never attached as the current span (an
abandoned stream would leave it attached). Instead, each model or tool span of the run is
started with the run span as its parent: :meth:`RunSpans.enter` attaches the run span's
context just around that start (or, for a tool, for the tool's duration) and the caller
detaches it in the same context. A run whose end LangChain never reports (an abandoned
stream) leaves an unexported span; its children still share its trace id.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode

from agentaudit.instrumentation import _state
from agentaudit.instrumentation._prompt import _error_type
from agentaudit.schema import attributes as A

__all__ = ["RunSpans"]

_MAX_OPEN = 10_000


class RunSpans:
    """The open spans of top-level runs, by run id (bounded)."""

    def __init__(self, framework: str) -> None:
        self._framework = framework
        self._open: dict[UUID, Span] = {}
        self._lock = threading.Lock()

    def start(self, run_id: UUID, name: str, metadata: Mapping[str, Any]) -> None:
        """Open the span of top-level run ``run_id`` (a child of the current span)."""
        if not _state.enabled():
            return
        attributes: dict[str, Any] = {A.FRAMEWORK: self._framework}
        attributes[A.GEN_AI_OPERATION_NAME] = A.OPERATION_INVOKE_AGENT
        thread = metadata.get("thread_id")
        if thread is not None and thread != "":
            attributes[A.GEN_AI_CONVERSATION_ID] = str(thread)
        span = _state.tracer().start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        with self._lock:
            if len(self._open) >= _MAX_OPEN:
                self._open.pop(next(iter(self._open)))
            self._open[run_id] = span

    def end(self, run_id: UUID, error: BaseException | None = None) -> None:
        with self._lock:
            span = self._open.pop(run_id, None)
        if span is None:
            return
        if error is not None:
            span.set_attribute(A.ERROR_TYPE, _error_type(error))
            span.set_status(StatusCode.ERROR)
        span.end()

    def enter(self, root: UUID) -> object | None:
        """Attach the context of ``root``'s span; the token to detach, None when none."""
        with self._lock:
            span = self._open.get(root)
        if span is None:
            return None
        return otel_context.attach(trace.set_span_in_context(span))

    @staticmethod
    def leave(token: object | None) -> None:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
