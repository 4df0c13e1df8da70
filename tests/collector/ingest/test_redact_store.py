"""Nothing unredacted on disk: real OTLP spans through redaction, the WAL and the store.

Spans carrying a generated corpus of real-format secrets and personal data are made
with the OpenTelemetry SDK, encoded to the OTLP protobuf wire format and decoded by the
collector's decoder (the receivers' path minus the socket), then go through the real
:class:`Pipeline` (validate -> redact -> WAL append with fsync -> writer) into a real
embedded chdb store in a temporary directory.

Three checks, from decisive to secondary:

1. Read back every column of every row of ``tool_calls`` and ``otel_traces`` with
   SELECT: no secret substring may appear. This is decisive: it does not depend on how
   ClickHouse lays bytes out on disk.
2. Scan the raw bytes of every file under the WAL directory (while the record is still
   there, before the writer checkpoints it away).
3. Scan the bytes of every file under the store directory after closing it (parts,
   metadata, logs, temporary files).

ClickHouse compresses column data (ZSTD / LZ4), which hides plaintext from a raw byte
scan and would make check 3 pass vacuously. So for ``*.bin`` column files the scan also
decodes ClickHouse's compressed-block framing (16-byte checksum, method byte, sizes,
payload) and decompresses LZ4 / ZSTD / uncompressed blocks with pyarrow's codecs. Each
scan has a positive control: a benign canary, written unredacted next to the secrets,
must be found by the same scan, so a scan that cannot see plaintext fails instead of
passing silently.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from agentaudit.collector.ingest.model import SpanRecord
from agentaudit.collector.ingest.otlp_decode import decode_export_request
from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.ingest.redaction import Redactor, available_engines
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.writer import OTEL_TRACES_TABLE, TOOL_CALLS_TABLE, Writer
from agentaudit.config import embedded_dsn
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.collector.ingest.test_redact_corpus import samples

ENV = {"AGENTAUDIT_REDACTION_KEY": "test-key-0123456789abcdef"}
CANARY = "benign-canary-value-7f3a9c1e5b"

pytestmark = pytest.mark.timeout(300)


def otlp_spans(secrets: list[tuple[str, str, str]]) -> list[SpanRecord]:
    """One tool-call span per sample, made by the OTel SDK and decoded from OTLP bytes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {A.SERVICE_NAME: "mail-agent", "deploy.note": f"built with {secrets[0][1]}"}
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for index, (rule, text, _) in enumerate(secrets):
        arguments = {
            "to": "ops",
            "note": CANARY,
            "body": f"please use {text} today",
            "auth": {"password": text, "nested": [{"q": text}]},
        }
        with tracer.start_as_current_span(f"execute_tool send_{index}") as span:
            span.set_attributes(
                {
                    A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
                    A.GEN_AI_TOOL_NAME: f"send_{index}",
                    A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(arguments),
                    A.GEN_AI_AGENT_ID: "agent-1",
                    A.ENDUSER_ID: "Jane.Doe@example-corp.com",
                    A.SESSION_ID: f"sess-{index}",
                    A.SOURCE_REFS: [f"url:https://svc:{text}@host/x", "email:msg-1"],
                    "benign": CANARY,
                    "free_text": f"{rule}: {text}",
                }
            )
            span.add_event("exception", {"exception.message": f"failed with {text}"})
            span.set_status(Status(StatusCode.ERROR, f"denied {text}"))
    provider.shutdown()
    wire = encode_spans(exporter.get_finished_spans()).SerializeToString()
    request = ExportTraceServiceRequest()
    request.ParseFromString(wire)
    return list(decode_export_request(request))


def clickhouse_blocks(data: bytes) -> list[bytes]:
    """Decompressed payloads of ClickHouse compressed blocks (chained codecs skipped)."""
    codecs = {0x90: pa.Codec("zstd"), 0x82: pa.Codec("lz4_raw")}
    out = []
    position = 0
    while position + 25 <= len(data):
        method = data[position + 16]
        compressed, uncompressed = struct.unpack_from("<II", data, position + 17)
        end = position + 16 + compressed
        if compressed < 9 or end > len(data):
            break
        payload = data[position + 25 : end]
        if method == 0x02:
            out.append(payload)
        elif method in codecs:
            out.append(codecs[method].decompress(payload, uncompressed).to_pybytes())
        position = end
    return out


def files_containing(directory: Path, needles: list[bytes]) -> dict[bytes, list[str]]:
    """Which needles occur in which files: raw bytes, plus decompressed column blocks."""
    found: dict[bytes, list[str]] = {}
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".bin":
                data = b"\0".join([data, *clickhouse_blocks(data)])
            for needle in needles:
                if needle in data:
                    found.setdefault(needle, []).append(str(path))
    return found


def all_rows(store: Store, table: str) -> str:
    result = store.query(f"SELECT * FROM {table}")  # noqa: S608 - constant table names
    return repr(result.rows)


@pytest.mark.parametrize("engine", available_engines())
def test_no_secret_reaches_the_wal_or_the_store(tmp_path: Path, engine: str) -> None:
    secrets = [s for seed in range(3) for s in samples(random.Random(seed))]
    secrets.append(("email", "Jane.Doe@example-corp.com", "Jane.Doe@example-corp.com"))
    needles = [secret.encode() for _, _, secret in secrets]
    spans = otlp_spans(secrets)
    assert any(needles[0] in repr(s).encode() for s in spans)  # decoded with secrets

    redactor = Redactor.from_config({}, environ=ENV, engine=engine)
    store_dir, wal_dir = tmp_path / "store", tmp_path / "wal"
    store = Store.open(embedded_dsn(store_dir))
    try:
        apply_migrations(store)
        wal = Wal(wal_dir)
        writer = Writer(store, wal=wal)
        pipeline = Pipeline(writer, wal=wal, redact=redactor.redact)
        accepted = pipeline.accept(spans)
        assert accepted.accepted == len(secrets)

        # 2. The WAL holds the acknowledged record now.
        in_wal = files_containing(wal_dir, [*needles, CANARY.encode()])
        assert CANARY.encode() in in_wal, "positive control: plaintext visible in WAL bytes"
        leaked = {n.decode(): paths for n, paths in in_wal.items() if n != CANARY.encode()}
        assert leaked == {}

        writer.flush()
        # 1. Decisive: every column of every row, read back.
        for table in (TOOL_CALLS_TABLE, OTEL_TRACES_TABLE):
            rows = all_rows(store, table)
            assert CANARY in rows
            for _, _, secret in secrets:
                assert secret not in rows, (table, secret)
        tool_rows = store.query(
            f"SELECT user_id, arguments, redactions FROM {TOOL_CALLS_TABLE}"  # noqa: S608
        ).as_dicts()
        assert len(tool_rows) == len(secrets)
        assert {r["user_id"] for r in tool_rows} == {
            redactor.pseudonym("jane.doe@example-corp.com")
        }
        for row in tool_rows:
            arguments: dict[str, Any] = json.loads(row["arguments"])
            assert arguments["note"] == CANARY
            assert arguments["auth"]["password"] == "[REDACTED:secret_key]"
            assert row["redactions"]["secret_key"] == 1
        wal.close()
    finally:
        store.close()

    # 3. Every byte under the store and WAL directories.
    on_disk = files_containing(store_dir, [*needles, CANARY.encode()])
    assert CANARY.encode() in on_disk, "positive control: plaintext visible in store bytes"
    leaked = {n.decode(): paths for n, paths in on_disk.items() if n != CANARY.encode()}
    assert leaked == {}
    assert files_containing(wal_dir, needles) == {}
