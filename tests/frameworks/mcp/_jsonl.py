"""A SpanExporter writing finished spans as JSON lines to a file (cross-process tests).

The MCP server subprocess exports through it; the test process reads the file. Each
line: name, kind, trace_id, span_id, parent_span_id (hex, or null), status, attributes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class JsonLinesSpanExporter(SpanExporter):
    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(_encode(span)) + "\n" for span in spans]
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.writelines(lines)
            out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _encode(span: ReadableSpan) -> dict[str, Any]:
    context = span.context
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format(context.trace_id, "032x") if context else None,
        "span_id": format(context.span_id, "016x") if context else None,
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "status": span.status.status_code.name,
        "attributes": {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in (span.attributes or {}).items()
        },
    }


def read_spans(path: str | Path) -> list[dict[str, Any]]:
    file = Path(path)
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text("utf-8").splitlines() if line.strip()]


def wait_for_spans(
    path: str | Path, predicate: Any, *, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The spans in ``path`` once ``predicate(spans)`` holds; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        spans = read_spans(path)
        if predicate(spans):
            return spans
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for server spans; have {spans}")
        time.sleep(0.05)
