"""The audit chain: clean stores verify, and each kind of tampering names its batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.writer import Writer
from agentaudit.store import Store
from agentaudit.store.audit_chain import AuditChain, chain_hash, verify_chain
from tests.conftest import SpanFactory

KEY = b"k" * 32


def _write_batches(
    store: Store, tmp_path: Path, make_span: SpanFactory, *, key: bytes | None = None
) -> list[str]:
    """Three batches of tool calls (and one model-call span); returns the batch ids."""
    wal = Wal(tmp_path / "wal", fsync=False)
    writer = Writer(store, batch_rows=4, wal=wal, chain=AuditChain(store, key=key))
    pipeline = Pipeline(writer, wal=wal)
    pipeline.accept([make_span() for _ in range(11)])
    pipeline.accept([make_span(name="chat gpt", attributes={"gen_ai.operation.name": "chat"})])
    writer.flush()
    wal.close()
    rows = store.query("SELECT batch_id FROM agentaudit.audit_chain ORDER BY seq").rows
    return [str(r[0]) for r in rows]


def _mutate(store: Store, sql: str) -> None:
    store.command(f"{sql} SETTINGS mutations_sync = 2")


def _first_span(store: Store, batch: str) -> str:
    return str(
        store.query(
            "SELECT min(span_id) FROM agentaudit.tool_calls WHERE batch_id = {b:String}",
            {"b": batch},
        ).rows[0][0]
    )


def _problems(store: Store, key: bytes | None = None) -> list[tuple[str, str]]:
    return [(p.kind, p.batch_id) for p in verify_chain(store, key=key)]


def test_untouched_store_verifies(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    batches = _write_batches(store, tmp_path, make_span, key=KEY)
    assert len(batches) == 3
    assert verify_chain(store) == []
    assert verify_chain(store, key=KEY) == []
    links = store.query(
        "SELECT seq, row_count, prev_hash, chain_hash FROM agentaudit.audit_chain ORDER BY seq"
    ).rows
    assert [(r[0], r[1]) for r in links] == [(1, 4), (2, 4), (3, 3)]
    assert links[0][2] == ""
    assert links[1][2] == links[0][3]


def test_modified_row_names_its_batch(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    batches = _write_batches(store, tmp_path, make_span)
    span = _first_span(store, batches[1])
    _mutate(
        store,
        f"ALTER TABLE agentaudit.tool_calls UPDATE arguments = '{{}}' WHERE span_id = '{span}'",
    )
    problems = verify_chain(store)
    assert [(p.kind, p.batch_id) for p in problems] == [("modified", batches[1])]
    assert batches[1] in problems[0].message


def test_deleted_row_names_its_batch(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    batches = _write_batches(store, tmp_path, make_span)
    span = _first_span(store, batches[0])
    _mutate(store, f"ALTER TABLE agentaudit.tool_calls DELETE WHERE span_id = '{span}'")
    problems = verify_chain(store)
    assert _problems(store) == [("deleted", batches[0])]
    assert "1 of 4 rows were deleted" in problems[0].message


def test_whole_batch_deleted(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    batches = _write_batches(store, tmp_path, make_span)
    _mutate(store, f"ALTER TABLE agentaudit.tool_calls DELETE WHERE batch_id = '{batches[2]}'")
    assert _problems(store) == [("deleted", batches[2])]


def test_inserted_rows_are_named(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    batches = _write_batches(store, tmp_path, make_span)
    copy = (
        "INSERT INTO agentaudit.tool_calls SELECT * REPLACE ({batch:String} AS batch_id, "
        "'forged' AS tool_name) FROM agentaudit.tool_calls LIMIT 1"
    )
    store.command(copy, {"batch": batches[0]})
    store.command(copy, {"batch": "made-up-batch"})
    assert sorted(_problems(store)) == sorted(
        [("inserted", batches[0]), ("inserted", "made-up-batch")]
    )


def test_removed_or_altered_links_break_the_chain(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    batches = _write_batches(store, tmp_path, make_span)
    _mutate(store, "ALTER TABLE agentaudit.audit_chain DELETE WHERE seq = 2")
    kinds = _problems(store)
    assert ("chain_broken", batches[2]) in kinds  # link 3 follows a missing link 2
    assert ("inserted", batches[1]) in kinds  # its rows are in no chain any more


def test_rewritten_link_needs_the_key(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    batches = _write_batches(store, tmp_path, make_span, key=KEY)
    # An attacker edits a row and recomputes that link's hashes, but has no key.
    _mutate(store, "ALTER TABLE agentaudit.audit_chain UPDATE row_count = 2 WHERE seq = 3")
    assert ("chain_broken", batches[2]) in _problems(store)
    rows: list[Any] = store.query(
        "SELECT chain_id, seq, batch_id, rows_hash, prev_hash, format, "
        "toUnixTimestamp64Milli(written_at), columns FROM agentaudit.audit_chain WHERE seq = 3"
    ).rows
    chain_id, seq, batch, rows_hash, prev, fmt, written_ms, columns = rows[0]
    forged = chain_hash(
        chain_id=chain_id, seq=seq, batch_id=batch, row_count=2, rows_hash=rows_hash,
        prev_hash=prev, format=fmt, written_ms=written_ms, columns=tuple(columns),
    )  # fmt: skip
    _mutate(
        store, f"ALTER TABLE agentaudit.audit_chain UPDATE chain_hash = '{forged}' WHERE seq = 3"
    )
    assert ("bad_signature", batches[2]) in _problems(store, KEY)
    assert ("bad_signature", batches[2]) not in _problems(store)


@pytest.mark.parametrize("chain", [True, False])
def test_writer_without_tool_calls_adds_no_link(
    store: Store, tmp_path: Path, make_span: SpanFactory, chain: bool
) -> None:
    writer = Writer(store, chain=AuditChain(store) if chain else None)
    writer.enqueue([make_span(name="chat", attributes={"gen_ai.operation.name": "chat"})])
    writer.flush()
    assert store.query("SELECT count() FROM agentaudit.audit_chain").rows == [(0,)]
    assert verify_chain(store) == []


def test_the_sender_columns_are_covered(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """Relabelling who sent a call (or whether its approval was verified) is tampering."""
    batches = _write_batches(store, tmp_path, make_span)
    span = _first_span(store, batches[2])
    for change in (
        "authenticated_agent = 'someone-else'",
        "agent_mismatch = 1",
        "approval_verified = 1",
    ):
        _mutate(
            store, f"ALTER TABLE agentaudit.tool_calls UPDATE {change} WHERE span_id = '{span}'"
        )
        assert _problems(store) == [("modified", batches[2])], change


def test_links_of_the_first_format_still_verify(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """A store written before v2 (links over the v1 columns) verifies, and is still
    checked: its rows' v1 columns cannot change unnoticed."""
    from agentaudit.store import audit_chain

    original = audit_chain.FORMAT
    audit_chain.FORMAT = audit_chain.FORMAT_V1
    try:
        batches = _write_batches(store, tmp_path, make_span)
    finally:
        audit_chain.FORMAT = original
    formats = {r[0] for r in store.query("SELECT format FROM agentaudit.audit_chain").rows}
    assert formats == {"v1"}
    assert verify_chain(store) == []
    span = _first_span(store, batches[0])
    _mutate(
        store, f"ALTER TABLE agentaudit.tool_calls UPDATE tool_name = 'x' WHERE span_id = '{span}'"
    )
    assert _problems(store) == [("modified", batches[0])]
