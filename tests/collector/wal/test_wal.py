"""The write-ahead log: exact span round trips, replay, truncation, checkpoints, cap."""

from __future__ import annotations

import marshal
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.collector.errors import Backpressure
from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.collector.wal.codec import CodecError, decode_spans, encode_spans
from agentaudit.collector.wal.log import Checkpoint, Position, Wal, WalError
from tests.conftest import SpanFactory

# -- codec ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [False, True], ids=["marshal", "json"])
def test_codec_round_trips_every_field(make_span: SpanFactory, text: bool) -> None:
    resource = {"service.name": "svc", "blob": b"\x00\xff"}
    span = make_span(
        parent_span_id="ab" * 8,
        trace_state="k=v",
        kind="Server",
        status_code="Error",
        status_message="boom",
        resource_attributes=resource,
        scope_name="scope",
        scope_version="1.0",
        events=[SpanEvent(5, "ev", {"n": 1, "f": 1.5, "b": True})],
        links=[SpanLink("cd" * 16, "ef" * 8, "s=1", {"l": ["x", "y"]})],
        redactions={"email": 2},
    )
    other = make_span(resource_attributes=resource)
    decoded = decode_spans(encode_spans([span, other], text=text))
    assert decoded == [span, other]
    assert decoded[0].resource_attributes is decoded[1].resource_attributes


@pytest.mark.parametrize("text", [False, True], ids=["marshal", "json"])
def test_codec_keeps_bytes_and_nul_keys_apart(make_span: SpanFactory, text: bool) -> None:
    tricky = {
        "bytes": b"\x01\x02",
        "looks_like_tag": {"\x00b": "0102"},
        "nul_key": {"\x00x": "v", "\x00\x00b": "w"},
        "tag_text": "\x00b",
        "nested": [b"", {"k": b"\xff"}],
    }
    span = make_span(attributes=tricky)
    assert decode_spans(encode_spans([span], text=text)) == [span]


def test_codec_refuses_garbage() -> None:
    truncated = encode_spans([SpanRecord("1" * 32, "2" * 16, "n", 1, 2)])[:-3]
    wrong_shape = b"M" + marshal.dumps({"r": [], "s": [[1]]})
    garbage = (b"", b"X{}", b"J{", b'J{"r":[],"s":[[1]]}', b"J[]", b"M", b"M\xff\x00")
    for payload in (*garbage, truncated, wrong_shape, b"M" + marshal.dumps(3)):
        with pytest.raises(CodecError):
            decode_spans(payload)


_scalars = (
    st.text()
    | st.binary(max_size=16)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(attributes=st.dictionaries(st.text(max_size=8), _values, max_size=6), text=st.booleans())
def test_codec_round_trips_any_attribute_values(attributes: dict[str, Any], text: bool) -> None:
    span = SpanRecord("1" * 32, "2" * 16, "n", 1, 2, attributes=attributes)
    assert decode_spans(encode_spans([span], text=text)) == [span]


def test_codec_reads_records_written_as_json(make_span: SpanFactory) -> None:
    """A WAL written by an earlier version (JSON payloads) still replays."""
    span = make_span(attributes={"k": "v", "b": b"\x00"})
    assert encode_spans([span]).startswith(b"R")
    assert decode_spans(encode_spans([span], text=True)) == [span]


# -- the log -------------------------------------------------------------------------


def _append(wal: Wal, make_span: SpanFactory, n: int = 2) -> list[SpanRecord]:
    spans = [make_span() for _ in range(n)]
    wal.append(spans)
    return spans


def test_appended_records_are_replayed_after_reopen(tmp_path: Path, make_span: SpanFactory) -> None:
    wal = Wal(tmp_path)
    first = _append(wal, make_span)
    second = _append(wal, make_span, 3)
    wal.close()
    reopened = Wal(tmp_path)
    entries = reopened.take_replay()
    assert [e.lsn for e in entries] == [1, 2]
    assert [e.spans for e in entries] == [first, second]
    assert reopened.take_replay() == []
    assert reopened.append([make_span()]).lsn == 3
    reopened.close()


def test_the_directory_has_one_owner(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    with pytest.raises(WalError, match="in use by another process"):
        Wal(tmp_path)
    wal.close()
    Wal(tmp_path).close()


def test_a_torn_tail_is_truncated_and_earlier_records_survive(
    tmp_path: Path, make_span: SpanFactory
) -> None:
    wal = Wal(tmp_path)
    kept = _append(wal, make_span)
    _append(wal, make_span)
    wal.close()
    segment = sorted(tmp_path.glob("*.wal"))[-1]
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # the last record was cut off mid-write
    reopened = Wal(tmp_path)
    assert [e.spans for e in reopened.take_replay()] == [kept]
    assert reopened.stats.truncated_bytes > 0
    assert reopened.append([make_span()]).lsn == 2
    reopened.close()


def test_corruption_in_an_older_segment_is_counted(tmp_path: Path, make_span: SpanFactory) -> None:
    wal = Wal(tmp_path, segment_bytes=200)
    for _ in range(3):
        _append(wal, make_span, 1)
    wal.close()
    oldest = sorted(tmp_path.glob("*.wal"))[0]
    data = bytearray(oldest.read_bytes())
    data[-3] ^= 0xFF
    oldest.write_bytes(bytes(data))
    reopened = Wal(tmp_path)
    assert [e.lsn for e in reopened.take_replay()] == [2, 3]
    assert reopened.stats.corrupt_records == 1
    reopened.close()


def test_checkpoint_deletes_written_segments_and_limits_replay(
    tmp_path: Path, make_span: SpanFactory
) -> None:
    wal = Wal(tmp_path, segment_bytes=300)
    for _ in range(6):
        _append(wal, make_span, 1)
    segments_before = len(list(tmp_path.glob("*.wal")))
    assert segments_before >= 3
    checkpoint = Checkpoint(
        chain_id=wal.checkpoint.chain_id, committed=Position(5, 0), chain_seq=4, chain_head="h"
    )
    wal.save_checkpoint(checkpoint)
    assert len(list(tmp_path.glob("*.wal"))) < segments_before
    wal.close()
    reopened = Wal(tmp_path)
    assert reopened.checkpoint == checkpoint
    assert [e.lsn for e in reopened.take_replay()] == [5, 6]
    reopened.close()


def test_a_full_log_refuses_with_backpressure(tmp_path: Path, make_span: SpanFactory) -> None:
    wal = Wal(tmp_path, max_bytes=2000, segment_bytes=1000)
    accepted = 0

    def fill() -> None:
        nonlocal accepted
        for _ in range(100):
            _append(wal, make_span, 1)
            accepted += 1

    with pytest.raises(Backpressure, match="write-ahead log is full"):
        fill()
    assert 0 < accepted < 100
    assert wal.bytes <= 2000
    wal.save_checkpoint(
        Checkpoint(chain_id=wal.checkpoint.chain_id, committed=Position(accepted + 1, 0))
    )
    _append(wal, make_span, 1)  # room again once the store has the data
    wal.close()
    assert [e.lsn for e in Wal(tmp_path).take_replay()] == [accepted + 1]


def test_concurrent_appends_share_fsyncs_and_all_survive(
    tmp_path: Path, make_span: SpanFactory
) -> None:
    wal = Wal(tmp_path, segment_bytes=4096)
    spans = [[make_span()] for _ in range(200)]
    lsns: list[int] = []
    lock = threading.Lock()

    def worker(chunk: list[list[SpanRecord]]) -> None:
        for batch in chunk:
            lsn = wal.append(batch).lsn
            with lock:
                lsns.append(lsn)

    threads = [threading.Thread(target=worker, args=(spans[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(lsns) == list(range(1, 201))
    assert wal.stats.fsyncs <= wal.stats.appends
    wal.close()
    replayed = Wal(tmp_path).take_replay()
    assert sorted(s.span_id for e in replayed for s in e.spans) == sorted(
        b[0].span_id for b in spans
    )


def test_checkpoint_file_must_be_valid(tmp_path: Path) -> None:
    Wal(tmp_path).close()
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(WalError, match="checkpoint"):
        Wal(tmp_path)


# -- following another process's log (--workers) ------------------------------------


def test_follower_reads_complete_records_across_segments(
    tmp_path: Path, make_span: SpanFactory
) -> None:
    from agentaudit.collector.wal.follower import WalFollower

    follower = WalFollower(tmp_path)
    appender = Wal(tmp_path, segment_bytes=1500, shared=True)
    batches = [_append(appender, make_span, 1) for _ in range(5)]
    assert len(list(tmp_path.glob("*.wal"))) >= 3
    seen = follower.take_replay()
    assert [e.spans for e in seen] == batches
    assert follower.synced_lsn == 5
    # half a record at the tail is not read until it is complete
    newest = sorted(tmp_path.glob("*.wal"))[-1]
    before = newest.read_bytes()
    spans = _append(appender, make_span, 1)
    whole = newest.read_bytes() if newest.exists() else b""
    if whole.startswith(before) and len(whole) > len(before):
        newest.write_bytes(whole[: len(before) + 10])
        assert follower.take_replay() == []
        newest.write_bytes(whole)
    [entry] = follower.take_replay()
    assert entry.spans == spans
    follower.save_checkpoint(
        Checkpoint(chain_id=follower.checkpoint.chain_id, committed=Position(6, 0))
    )
    assert len(list(tmp_path.glob("*.wal"))) == 1  # only the newest file stays
    appender.close()
    reopened = Wal(tmp_path, shared=True)  # a restarted worker continues the numbering
    assert reopened.append([make_span()]).lsn == 7
    reopened.close()


def test_a_follower_reads_only_what_was_appended_since_its_last_poll(
    tmp_path: Path, make_span: SpanFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polling a growing segment costs what was appended, not the whole segment (the
    store-owning process polls each worker's WAL continually)."""
    from agentaudit.collector.wal.follower import WalFollower

    read: list[int] = []
    opened = Path.open

    def counting_open(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = opened(path, mode, *args, **kwargs)
        if path.suffix != ".wal":
            return handle
        plain_read = handle.read

        def counted(size: int = -1) -> Any:
            data = plain_read(size)
            read.append(len(data))
            return data

        handle.read = counted
        return handle

    follower = WalFollower(tmp_path)
    appender = Wal(tmp_path, shared=True)
    for _ in range(20):  # a segment of 20 records already taken
        _append(appender, make_span, 5)
    assert len(follower.take_replay()) == 20
    (segment,) = tmp_path.glob("*.wal")
    before = segment.stat().st_size
    monkeypatch.setattr(Path, "open", counting_open)
    spans = _append(appender, make_span, 5)
    [entry] = follower.take_replay()
    assert entry.spans == spans
    appended = segment.stat().st_size - before
    assert sum(read) <= appended + 64  # the new record and the segment's magic bytes
    read.clear()
    assert follower.take_replay() == []
    assert sum(read) <= 64  # nothing new: only the magic bytes are read
    appender.close()
