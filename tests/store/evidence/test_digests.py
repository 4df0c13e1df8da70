"""Signed digests: truncation of the newest batches and a replaced chain are caught, a
forged or removed digest is refused, a rotated key verifies with both public keys."""

# ruff: noqa: S608 - test SQL splices constants and ids the test made itself

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from agentaudit.store import Store
from agentaudit.store.evidence.digests import (
    KEY_FILE,
    PUBLIC_FILE,
    DigestKey,
    DigestWriter,
    load_public_keys,
    verify_digests,
)
from agentaudit.store.evidence.verify import verify_store
from tests.conftest import SpanFactory
from tests.store.evidence._seed import mutate, seed, write_spans


def _kinds(store: Store, directory: Path, state: Path) -> set[str]:
    keys = load_public_keys([state / PUBLIC_FILE])
    return {p.kind for p in verify_digests(store, directory, keys).problems}


def _writer(store: Store, state: Path) -> DigestWriter:
    return DigestWriter(store, state / "digests", DigestKey.load_or_create(state))


def test_digest_key_and_files(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    seed(store, tmp_path, make_span)
    state = tmp_path / "state"
    writer = _writer(store, state)
    assert stat.S_IMODE(os.stat(state / KEY_FILE).st_mode) == 0o600
    first = writer.write("interval")
    second = _writer(store, state).write("shutdown")  # a restart links the previous one
    body = json.loads(second.read_text())["digest"]
    assert body["seq"] == 2
    assert body["previous"]["seq"] == 1
    assert body["reason"] == "shutdown"
    assert set(body["chains"]) == {"tool_calls", "seals"}
    assert body["tables"]["otel_traces"]["rows"] == 7
    assert first.name.startswith("00000001-")
    assert _kinds(store, writer.directory, state) == set()


def test_truncating_the_newest_batches_is_caught(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """Deleting the newest batches with their links leaves a chain that verifies on its
    own; the digest says it was longer."""
    sealer = seed(store, tmp_path, make_span)
    state = tmp_path / "state"
    write_spans(store, tmp_path / "wal", [make_span() for _ in range(8)])
    sealer.seal(grace_seconds=0)  # their spans (otel_traces) are sealed too
    writer = _writer(store, state)
    writer.write("interval")
    newest = store.query("SELECT max(seq) FROM agentaudit.audit_chain").rows[0][0]
    batches = [
        r[0]
        for r in store.query(
            f"SELECT batch_id FROM agentaudit.audit_chain WHERE seq >= {newest - 1}"
        ).rows
    ]
    batch_list = ", ".join(f"'{b}'" for b in batches)
    mutate(store, f"ALTER TABLE agentaudit.tool_calls DELETE WHERE batch_id IN ({batch_list})")
    mutate(store, f"ALTER TABLE agentaudit.audit_chain DELETE WHERE seq >= {newest - 1}")
    assert verify_store(store).problems == []  # the shorter chain is consistent
    keys = load_public_keys([state / PUBLIC_FILE])
    problems = verify_digests(store, writer.directory, keys).problems
    assert [p.kind for p in problems] == ["truncated"]
    assert f"had link {newest}" in str(problems[0])


def test_a_replaced_chain_is_caught(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    seed(store, tmp_path, make_span)
    state = tmp_path / "state"
    writer = _writer(store, state)
    writer.write("interval")
    mutate(store, "ALTER TABLE agentaudit.audit_seals UPDATE chain_hash = 'rewritten' WHERE 1")
    assert "replaced" in _kinds(store, writer.directory, state)


def test_a_forged_digest_is_refused(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    seed(store, tmp_path, make_span)
    state = tmp_path / "state"
    writer = _writer(store, state)
    path = writer.write("interval")
    # Someone edits a digest to match a truncated store: the signature no longer holds.
    document = json.loads(path.read_text())
    for head in document["digest"]["chains"]["tool_calls"].values():
        head["seq"] = 1
    path.write_text(json.dumps(document))
    # And someone signs a digest with a key of their own.
    other = tmp_path / "other"
    forged = DigestWriter(store, other / "digests", DigestKey.load_or_create(other))
    shutil.copy(forged.write("interval"), writer.directory / "00000002-forged.digest.json")
    keys = load_public_keys([state / PUBLIC_FILE])
    report = verify_digests(store, writer.directory, keys)
    assert [p.kind for p in report.problems] == ["forged_digest", "forged_digest"]
    assert report.trusted == 0
    assert all("refused" in str(p) for p in report.problems)


def test_a_removed_digest_breaks_their_chain(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    seed(store, tmp_path, make_span)
    state = tmp_path / "state"
    writer = _writer(store, state)
    paths = [writer.write("interval") for _ in range(3)]
    paths[1].unlink()
    assert _kinds(store, writer.directory, state) == {"digest_chain"}


def test_a_rotated_key_verifies_with_both_public_keys(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    seed(store, tmp_path, make_span)
    state = tmp_path / "state"
    _writer(store, state).write("interval")
    old = tmp_path / "old.pub"
    (state / PUBLIC_FILE).replace(old)
    (state / KEY_FILE).unlink()
    rotated = _writer(store, state)  # a new pair, linking the last digest of the old key
    rotated.write("interval")
    both = load_public_keys([old, state / PUBLIC_FILE])
    assert verify_digests(store, rotated.directory, both).problems == []
    only_new = load_public_keys([state / PUBLIC_FILE])
    assert {p.kind for p in verify_digests(store, rotated.directory, only_new).problems} == {
        "forged_digest"
    }
