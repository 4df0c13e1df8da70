"""Nothing unredacted on disk: real OTLP spans through redaction, the WAL and the store.

Spans carrying a generated corpus of real-format secrets and personal data go through
the OTLP protobuf wire format and the collector's decoder (the receivers' path minus
the socket), then the real :class:`Pipeline` (validate -> redact -> WAL append with
fsync -> writer) into a real embedded chdb store in a temporary directory. Two
requests: one made by the OpenTelemetry SDK (what instrumented agents send), and one
built message by message, which puts every spelling of every secret (verbatim, glued to
letters, after ``%20``, percent-encoded) in every place OTLP carries text — span name,
trace state, status message, scope name and version, attribute names and values of the
span, resource, events and links, event names, link trace states, kvlist keys and
values, JSON keys and values — and card numbers as int and double values.

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
passing silently. The WAL stores spans in :mod:`marshal` format, where a number is
binary, not digits: card numbers are looked for in that form too, next to a benign
canary number that must be found the same way.
"""

from __future__ import annotations

import json
import marshal
import random
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from agentaudit.collector.ingest.otlp_decode import decode_export_request
from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.ingest.redaction import Redactor, available_engines
from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.writer import OTEL_TRACES_TABLE, TOOL_CALLS_TABLE, Writer
from agentaudit.config import embedded_dsn
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.collector.ingest.test_redact_corpus import (
    KEPT,
    PLACES,
    leaked,
    needles,
    samples,
    span_with,
    spellings,
)

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


# --- every place, every spelling, built message by message -----------------------------

CANARY_NUMBER = 7_777_777_777_777.5
AWS = "AKIAIOSFODNN7EXAMPLE"
MASK = "[REDACTED:aws_access_key_id]"


def any_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, str):
        return common_pb2.AnyValue(string_value=value)
    if isinstance(value, list):
        return common_pb2.AnyValue(
            array_value=common_pb2.ArrayValue(values=[any_value(v) for v in value])
        )
    return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=key_values(value)))


def key_values(attributes: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def otlp_request(records: list[SpanRecord]) -> bytes:
    """The OTLP/protobuf export request carrying ``records`` (one resource each)."""
    request = ExportTraceServiceRequest()
    for record in records:
        span = trace_pb2.Span(
            trace_id=bytes.fromhex(record.trace_id),
            span_id=bytes.fromhex(record.span_id),
            trace_state=record.trace_state,
            name=record.name,
            kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=record.start_ns,
            end_time_unix_nano=record.end_ns,
            attributes=key_values(record.attributes),
            events=[
                trace_pb2.Span.Event(
                    time_unix_nano=e.time_ns, name=e.name, attributes=key_values(e.attributes)
                )
                for e in record.events
            ],
            links=[
                trace_pb2.Span.Link(
                    trace_id=bytes.fromhex(k.trace_id),
                    span_id=bytes.fromhex(k.span_id),
                    trace_state=k.trace_state,
                    attributes=key_values(k.attributes),
                )
                for k in record.links
            ],
            status=trace_pb2.Status(
                code=trace_pb2.Status.STATUS_CODE_ERROR, message=record.status_message
            ),
        )
        request.resource_spans.append(
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=key_values(record.resource_attributes)),
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        scope=common_pb2.InstrumentationScope(
                            name=record.scope_name, version=record.scope_version
                        ),
                        spans=[span],
                    )
                ],
            )
        )
    return bytes(request.SerializeToString())


def tool_call(record: SpanRecord, index: int, rng: random.Random) -> SpanRecord:
    """``record`` as a tool call of its own trace, with a canary beside its secrets."""
    record.trace_id, record.span_id = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"
    record.start_ns, record.end_ns = 1_700_000_000_000_000_000 + index, 1_700_000_000_000_001_000
    record.name = f"execute_tool {record.name}"
    record.attributes.update(
        {
            A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
            A.GEN_AI_TOOL_NAME: f"tool_{index}",
            A.SESSION_ID: "sess-1",
            "benign": CANARY,
            "benign.number": CANARY_NUMBER,
        }
    )
    record.resource_attributes[A.SERVICE_NAME] = "mail-agent"
    return record


def number_needles(number: float) -> list[bytes]:
    """A number as the WAL (marshal) and the store (decimal text) hold it."""
    return [marshal.dumps(number)[1:], str(number).encode()]  # [1:]: no type/ref byte


@pytest.mark.parametrize("engine", available_engines())
def test_every_place_and_spelling_stays_off_disk(tmp_path: Path, engine: str) -> None:
    rng = random.Random(99)
    cases = [
        (secret, variant)
        for seed in range(2)
        for rule, text, secret in samples(random.Random(seed))
        for _, variant in spellings(rule, text)
    ]
    records = [span_with(variant) for _, variant in cases]
    records.append(span_with(AWS))  # the one whose output is checked field by field
    cards = [
        int(text)
        for rule, text, _ in samples(random.Random(7))
        if rule == "credit_card" and text.isdigit()
    ]
    for card in cards:
        double = float(card)
        records.append(
            SpanRecord(
                "", "", "card", 0, 0,
                attributes={"int": card, "double": double, "list": [double], "kv": {"n": double}},
                resource_attributes={"n": double},
                events=[SpanEvent(1, "e", {"n": double})],
                links=[SpanLink("c" * 32, "d" * 16, "", {"n": card})],
            )
        )  # fmt: skip
    records = [tool_call(r, i, rng) for i, r in enumerate(records)]
    spans = list(decode_export_request(ExportTraceServiceRequest.FromString(otlp_request(records))))
    secrets = sorted({secret for secret, _ in cases})
    assert len(leaked(secrets, [s.attributes for s in spans])) == len(secrets)  # sent, decoded

    text_needles = sorted({n for secret in secrets for n in needles(secret)})
    card_needles = sorted(
        {n for card in cards for v in (card, float(card)) for n in number_needles(v)}
    )
    wal_canary, store_canary = number_needles(CANARY_NUMBER)  # binary in marshal, text in columns
    redactor = Redactor.from_config({}, environ=ENV, engine=engine)
    store_dir, wal_dir = tmp_path / "store", tmp_path / "wal"
    store = Store.open(embedded_dsn(store_dir))
    try:
        apply_migrations(store)
        wal = Wal(wal_dir)
        writer = Writer(store, wal=wal)
        pipeline = Pipeline(writer, wal=wal, redact=redactor.redact)
        assert pipeline.accept(spans).accepted == len(records)

        canaries = {CANARY.encode(), wal_canary}
        in_wal = files_containing(wal_dir, [*text_needles, *card_needles, *canaries])
        assert canaries <= set(in_wal), "positive controls: visible in WAL bytes"
        assert sorted(set(in_wal) - canaries) == []

        writer.flush()
        for table in (TOOL_CALLS_TABLE, OTEL_TRACES_TABLE):
            rows = store.query(f"SELECT * FROM {table}").rows  # noqa: S608 - constant names
            assert len(rows) == len(records)
            assert leaked([CANARY, str(CANARY_NUMBER)], rows) == [CANARY, str(CANARY_NUMBER)]
            assert leaked(secrets, rows) == [], table
            assert leaked([str(card) for card in cards], rows) == [], table

        # The plain AWS key, field by field: masked where it was, values kept.
        columns = (
            "SpanName, TraceState, ScopeName, ScopeVersion, StatusMessage, SpanAttributes, "
            "ResourceAttributes, Events.Name, Events.Attributes, Links.TraceState, Links.Attributes"
        )
        where = f"SpanAttributes['{A.GEN_AI_TOOL_NAME}'] = 'tool_{len(cases)}'"
        query = f"SELECT {columns} FROM {OTEL_TRACES_TABLE} WHERE {where}"  # noqa: S608
        [row] = store.query(query).rows
        name, state, scope, version, status, attrs, resource, events, e_attrs, links, l_attrs = row
        assert (name, state, scope, version, status) == (
            f"execute_tool {MASK}", MASK, MASK, MASK, MASK,
        )  # fmt: skip
        assert attrs[MASK] == KEPT
        assert attrs["note"] == MASK
        assert json.loads(attrs["kv"]) == {MASK: KEPT, "inner": MASK}
        assert json.loads(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS]) == {MASK: KEPT, "body": MASK}
        assert resource[MASK] == KEPT
        assert (events, links) == ([MASK], [MASK])
        assert e_attrs[0] == {MASK: KEPT, "exception.message": MASK}
        assert l_attrs[0] == {MASK: KEPT, "link.note": MASK}
        [(redactions,)] = store.query(
            f"SELECT redactions FROM {TOOL_CALLS_TABLE} "  # noqa: S608
            f"WHERE tool_name = 'tool_{len(cases)}'"
        ).rows
        assert redactions == {"aws_access_key_id": len(PLACES)}
        card_rows = store.query(
            f"SELECT redactions, SpanAttributes['double'] FROM {OTEL_TRACES_TABLE} "  # noqa: S608
            f"JOIN {TOOL_CALLS_TABLE} ON tool_calls.span_id = otel_traces.SpanId "
            "WHERE SpanName = 'execute_tool card'"
        ).rows
        assert card_rows == [({"credit_card": 7}, "[REDACTED:credit_card]")] * len(cards)
        wal.close()
    finally:
        store.close()

    canaries = {CANARY.encode(), store_canary}
    on_disk = files_containing(store_dir, [*text_needles, *card_needles, *canaries])
    assert canaries <= set(on_disk), "positive controls: visible in store bytes"
    assert sorted(set(on_disk) - canaries) == []
    assert files_containing(wal_dir, [*text_needles, *card_needles]) == {}
