"""Decode one body of a given shape in a fresh process; print the peak charge and the
peak RSS growth as JSON. ``python -m tests.collector.ingest._decode_memory SHAPE KIB``.

Run by test_payload.py: the budget only bounds memory if what it charges is at least
what decoding allocates, whatever the shape of the body.
"""

from __future__ import annotations

import base64
import gc
import json
import sys
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

from agentaudit.collector.ingest import wire
from agentaudit.collector.ingest.budget import MemoryBudget
from agentaudit.collector.ingest.payload import decode_export
from tests.collector._otlp import export_request

SPAN_HEAD = b"\x0a\x10" + b"\x01" * 16 + b"\x12\x08" + b"\x02" * 8


def otlp_json(request: Any) -> bytes:
    """``request`` as OTLP/JSON: protobuf's JSON mapping, with hex trace and span ids."""
    document = json_format.MessageToDict(request)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def _ld(number: int, payload: bytes) -> bytes:
    return wire._varint_bytes(number << 3 | 2) + wire._varint_bytes(len(payload)) + payload


def _one_span(fields: bytes) -> bytes:
    return _ld(1, _ld(2, _ld(2, SPAN_HEAD + fields)))


def _attribute(value: bytes) -> bytes:
    return _ld(9, _ld(1, b"k") + _ld(2, value))


def _typical(size: int) -> bytes:
    request, _ = export_request(200)
    chunk = request.SerializeToString()
    return chunk * max(1, size // len(chunk))


SHAPES: dict[str, Callable[[int], tuple[bytes, bool]]] = {
    "typical": lambda n: (_typical(n), False),
    "empty_spans": lambda n: (_ld(1, _ld(2, b"\x12\x00" * (n // 2))), False),
    "spans_with_ids": lambda n: (_ld(1, _ld(2, _ld(2, SPAN_HEAD) * (n // 30))), False),
    "empty_attributes": lambda n: (_one_span(b"J\x00" * (n // 2)), False),
    "empty_events": lambda n: (_one_span(b"Z\x00" * (n // 2)), False),
    "empty_links": lambda n: (_one_span(b"j\x00" * (n // 2)), False),
    "array_of_empty_values": lambda n: (
        _one_span(_attribute(_ld(5, b"\x0a\x00" * (n // 2)))),
        False,
    ),
    "array_of_short_strings": lambda n: (
        _one_span(_attribute(_ld(5, _ld(1, _ld(1, b"ab")) * (n // 6)))),
        False,
    ),
    "long_ascii_string": lambda n: (_one_span(_attribute(_ld(1, b"a" * n))), False),
    "long_astral_string": lambda n: (
        _one_span(_attribute(_ld(1, b"a" * n + "\U0001f600".encode()))),
        False,
    ),
    "json_typical": lambda n: (
        otlp_json(export_request(max(1, n // 2000))[0]),
        True,
    ),
    "json_empty_spans": lambda n: (
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + b",".join([b"{}"] * (n // 3)) + b"]}]}]}",
        True,
    ),
}


def _status(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def main() -> None:
    shape, kib = sys.argv[1], int(sys.argv[2])
    body, json_body = SHAPES[shape](kib * 1024)
    budget = MemoryBudget(1 << 40)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # VmHWM := VmRSS
    before = _status("VmRSS")
    with budget.lease() as lease:
        spans = decode_export(body, gzip=False, json_body=json_body, limit=1 << 40, lease=lease)
        held = lease.held
    growth = _status("VmHWM") - before
    print(json.dumps({"spans": len(spans), "peak": budget.peak, "held": held, "rss": growth}))


if __name__ == "__main__":
    main()
