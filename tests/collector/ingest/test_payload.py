"""collector.ingest.payload: bounded inflating and decoding, charged before allocating."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from agentaudit.collector.ingest.budget import MemoryBudget, OverBudget
from agentaudit.collector.ingest.otlp_decode import decode_export_request
from agentaudit.collector.ingest.payload import (
    PayloadError,
    PayloadTooLarge,
    RecordSizer,
    decode_export,
    gunzip,
    parse_json_request,
)
from tests.collector._otlp import export_request
from tests.collector.ingest._decode_memory import SHAPES, otlp_json

ROOT = Path(__file__).resolve().parents[3]
MiB = 1 << 20


def _bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    step = bytes(MiB)
    return b"".join(compressor.compress(step) for _ in range(size // MiB)) + compressor.flush()


def test_gunzip_matches_gzip_for_members_and_long_runs() -> None:
    data = os.urandom(300_000) + bytes(5 * MiB) + b"tail"
    packed = gzip.compress(data) + gzip.compress(b"second member")
    assert gunzip(packed, 10 * MiB) == data + b"second member"
    assert gunzip(b"", 10) == b""


def test_gunzip_charges_the_output_as_it_grows() -> None:
    budget = MemoryBudget(64 * MiB)
    with budget.lease() as lease:
        out = gunzip(gzip.compress(bytes(20 * MiB)), 30 * MiB, lease)
        assert len(out) == 20 * MiB
        assert 20 * MiB <= lease.held <= 20 * MiB * 9 // 8 + 1
        assert budget.peak <= lease.held + 2 * MiB  # one step ahead at most


def test_a_bomb_stops_at_the_limit_and_within_the_budget() -> None:
    bomb = _bomb(1024 * MiB)
    assert len(bomb) < 2 * MiB
    budget = MemoryBudget(256 * MiB)
    with budget.lease() as lease, pytest.raises(PayloadTooLarge):
        gunzip(bomb, 8 * MiB, lease)
    assert budget.peak < 12 * MiB
    with budget.lease() as lease, pytest.raises(OverBudget):
        gunzip(bomb, 512 * MiB, lease)  # the limit is above what the budget allows
    assert budget.peak <= budget.capacity
    assert budget.in_use == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (gzip.compress(b"x")[:10] + b"\xff" * 8, "corrupt"),  # deflate block type 3
        (gzip.compress(b"abc" * 1000)[:-9], "truncated"),
    ],
)
def test_broken_gzip(body: bytes, fragment: str) -> None:
    with MemoryBudget(4 * MiB).lease() as lease, pytest.raises(PayloadError, match=fragment):
        gunzip(body, MiB, lease)


def test_protobuf_and_json_decode_as_before_and_keep_the_spans_charge() -> None:
    request, ids = export_request(300)
    expected = list(decode_export_request(request))
    budget = MemoryBudget(256 * MiB)
    for body, json_body in (
        (request.SerializeToString(), False),
        (otlp_json(request), True),
    ):
        for packed in (False, True):
            data = gzip.compress(body) if packed else body
            with budget.lease() as lease:
                spans = decode_export(
                    data, gzip=packed, json_body=json_body, limit=64 * MiB, lease=lease
                )
                assert [s.span_id for s in spans] == ids
                assert spans == expected
                sizer = RecordSizer()
                assert lease.held == sum(sizer.size(s) for s in spans)
            assert budget.in_use == 0


def test_hex_ids_in_otlp_json() -> None:
    document = {
        "resourceSpans": [
            {"scopeSpans": [{"spans": [{"traceId": "AB" * 16, "spanId": "cd" * 8, "name": "x"}]}]}
        ]
    }
    request = parse_json_request(json.dumps(document).encode())
    assert request.resource_spans[0].scope_spans[0].spans[0].trace_id == b"\xab" * 16


def test_a_request_that_decodes_to_more_than_the_budget_is_over_budget() -> None:
    body, _ = SHAPES["empty_spans"](4 * MiB)  # ~2 GB once decoded
    budget = MemoryBudget(64 * MiB)
    with budget.lease() as lease, pytest.raises(OverBudget):
        decode_export(body, gzip=False, json_body=False, limit=64 * MiB, lease=lease)
    assert budget.peak <= budget.capacity


def test_a_large_string_span_is_charged_by_its_values_not_its_bytes() -> None:
    request, _ = export_request(1, attributes={"arguments": '{"to": "z@j.com"}' * 200_000})
    budget = MemoryBudget(64 * MiB)
    with budget.lease() as lease:
        (span,) = decode_export(
            request.SerializeToString(), gzip=False, json_body=False, limit=64 * MiB, lease=lease
        )
    assert len(span.attributes["arguments"]) == 3_400_000
    assert budget.peak < 32 * MiB  # counting tag-like bytes would have charged ~600 MiB


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_charge_covers_what_decoding_allocates(shape: str) -> None:
    """Measured in a fresh process: peak charge >= peak RSS growth, for every shape."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.collector.ingest._decode_memory", shape, "1024"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    measured = json.loads(done.stdout)
    assert measured["peak"] >= measured["rss"] > 0, measured
