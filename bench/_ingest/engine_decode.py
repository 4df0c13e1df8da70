"""Issue 15's engine route, measured: ClickHouse decodes OTLP requests into span columns.

chDB (in memory, in this process) reads the requests the SDK's encoder built, framed as
length-delimited messages, with ClickHouse's ``Protobuf`` input format and the schema
``otlp_trace.proto``, and returns one row per span (ids as hex, name, kind, times,
status, the attributes' keys and string / int / array values) as Arrow. No Python
object is built per value.

What it measures is the decode step alone, beside (c) in the ingest section (upb, then a
``SpanRecord`` per span): the collector does not take this path. Redaction, the WAL and
the ``tool_calls`` columns are not done here, array attributes are read one level deep
and key-value-list attributes not at all (``otlp_trace.proto``), so a collector on this
route would need a fallback for such requests and byte-identical checks against the
Python path. Each run checks that the span ids and attribute keys it decoded are the
ones the Python decoder finds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Final

__all__ = ["measure"]

PROTO: Final = Path(__file__).with_name("otlp_trace.proto")

_SCALAR: Final = (
    "string_value String, bool_value Bool, int_value Int64, double_value Float64, "
    "bytes_value String"
)
_ATTRIBUTES: Final = (
    f"Array(Tuple(key String, value Tuple({_SCALAR}, "
    f"array_value Tuple(values Array(Tuple({_SCALAR}))))))"
)
_SPAN: Final = (
    "Tuple(trace_id String, span_id String, trace_state String, parent_span_id String, "
    "name String, kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64, "
    f"attributes {_ATTRIBUTES}, dropped_attributes_count UInt32, "
    "status Tuple(message String, code Int32))"
)
STRUCTURE: Final = (
    f"resource_spans Array(Tuple(resource Tuple(attributes {_ATTRIBUTES}), "
    f"scope_spans Array(Tuple(scope Tuple(name String, version String), spans Array({_SPAN})))))"
)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _query(path: Path) -> str:
    """The decode query over ``path`` (a file this module wrote: no outside text)."""
    return (
        "SELECT lower(hex(sp.trace_id)) AS trace_id, lower(hex(sp.span_id)) AS span_id, "  # noqa: S608
        "lower(hex(sp.parent_span_id)) AS parent_span_id, sp.name AS name, sp.kind AS kind, "
        "sp.start_time_unix_nano AS start_ns, sp.end_time_unix_nano AS end_ns, "
        "sp.status.code AS status_code, sp.status.message AS status_message, "
        "arrayMap(kv -> kv.key, sp.attributes) AS keys, "
        "arrayMap(kv -> kv.value.string_value, sp.attributes) AS strings, "
        "arrayMap(kv -> kv.value.int_value, sp.attributes) AS ints, "
        "arrayMap(kv -> arrayMap(v -> v.string_value, kv.value.array_value.values), "
        "sp.attributes) AS arrays "
        f"FROM file('{path}', 'Protobuf', '{STRUCTURE}') "
        "ARRAY JOIN resource_spans AS rs ARRAY JOIN rs.scope_spans AS ss "
        "ARRAY JOIN ss.spans AS sp "
        f"SETTINGS format_schema = '{PROTO}:ExportTraceServiceRequest'"
    )


def _reference(requests: list[bytes]) -> list[tuple[str, tuple[str, ...]]]:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    from agentaudit.collector.ingest.otlp_decode import decode_export_request

    parse = trace_service_pb2.ExportTraceServiceRequest.FromString
    return sorted(
        (span.span_id, tuple(span.attributes))
        for body in requests
        for span in decode_export_request(parse(body))
    )


def measure(requests: list[bytes], count: int, runs: int = 3) -> dict[str, float]:
    """Median spans/s and CPU µs per span of ``runs`` decodes of all ``requests``."""
    import pyarrow as pa
    from chdb import session

    expected = _reference(requests)
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        path = Path(tmp) / "requests.bin"
        path.write_bytes(b"".join(_varint(len(body)) + body for body in requests))
        engine: Any = session.Session()
        try:
            rates, cpus = [], []
            for _ in range(runs + 1):  # the first run warms up (not counted)
                cpu, wall = time.process_time(), time.perf_counter()
                result = engine.query(_query(path), "Arrow")
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                table = pa.ipc.open_file(pa.py_buffer(result.bytes())).read_all()
                rates.append(count / wall)
                cpus.append(cpu / count * 1e6)
        finally:
            engine.close()
    got = sorted(
        zip(
            table.column("span_id").to_pylist(),
            map(tuple, table.column("keys").to_pylist()),
            strict=True,
        )
    )
    if got != expected:
        raise AssertionError("the engine decoded other spans or attributes than upb did")
    return {
        "rate": statistics.median(rates[1:]),
        "cpu_us": statistics.median(cpus[1:]),
    }
