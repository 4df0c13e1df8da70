"""The seal chain: every audit table covered; each table's rows modified, deleted or
inserted after sealing are named; merges are not deletions; the chain itself is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentaudit.store import Store
from agentaudit.store.evidence._tables import BATCHES, ROWS, VERSIONS, audit_tables
from agentaudit.store.evidence.verify import verify_store
from tests.conftest import SpanFactory
from tests.store.evidence._seed import ROWS as SEED_ROWS
from tests.store.evidence._seed import SEALED_TABLES, insert, mutate, seed

KEY = b"s" * 32

# One non-key column per table a tamperer might rewrite, and a row to pick.
MODIFY = {
    "otel_traces": ("StatusMessage = 'forged'", "SpanName = 'chat gpt'"),
    "revocations": ("reason = 'nothing happened'", "id = 'rev-2'"),
    "quarantine": ("reason = 'forged'", "agent_id = 'agent-2'"),
    "denylist": ("reason = 'forged'", "value = 'cred-9'"),
    "agents": ("owner = 'mallory'", "name = 'cal-agent'"),
    "approvals": ("approver = 'mallory'", "grant_id = 'grant-2'"),
    "findings": ("severity = 'low'", "finding_id = 'f-2'"),
    "detector_baselines": ("baseline = '{}'", "agent_id = 'agent-2'"),
    "card_signoffs": ("signed_by = 'mallory'", "agent = 'agent-2'"),
    "tool_call_server_sides": ("resource_ids = ['mailbox:forged']", "1"),
}


def _named(store: Store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for problem in verify_store(store).problems:
        found.setdefault(problem.table, set()).add(problem.kind)
    return found


def test_every_audit_table_is_covered(store: Store) -> None:
    """A migrated store: every MergeTree table is chained (a new audit table's migration
    must declare _written_at, or this fails)."""
    tables = audit_tables(store)
    assert tables["tool_calls"].kind == BATCHES
    assert {name for name, t in tables.items() if t.kind == VERSIONS} >= {
        "revocations", "quarantine", "denylist", "agents", "approvals", "findings",
        "detector_baselines",
    }  # fmt: skip
    assert {name for name, t in tables.items() if t.kind == ROWS} >= {
        "otel_traces", "card_signoffs", "legal_holds", "hold_units", "erasures",
        "erasure_units", "retention_policies", "tool_call_server_sides",
    }  # fmt: skip
    uncovered = [n for n, t in tables.items() if t.kind not in (BATCHES, ROWS, VERSIONS)]
    unsealable = [n for n, t in tables.items() if not t.written_at]
    assert uncovered == []
    assert unsealable == []
    assert verify_store(store).warnings == []


def test_a_sealed_store_verifies(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    seed(store, tmp_path, make_span)
    report = verify_store(store)
    assert report.problems == []
    assert report.warnings == []
    assert report.seal_links >= len(SEALED_TABLES)
    sealed = {r[0] for r in store.query("SELECT DISTINCT table FROM agentaudit.audit_seals").rows}
    assert sealed >= set(SEALED_TABLES)


def test_modified_rows_are_named_in_every_table(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    seed(store, tmp_path, make_span)
    for table, (change, where) in MODIFY.items():
        mutate(store, f"ALTER TABLE agentaudit.{table} UPDATE {change} WHERE {where}")
    named = _named(store)
    for table in MODIFY:
        assert named.get(table) == {"modified"}, (table, named)


def test_deleted_rows_are_named_in_every_table(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    seed(store, tmp_path, make_span)
    for table, (_, where) in MODIFY.items():
        mutate(store, f"ALTER TABLE agentaudit.{table} DELETE WHERE {where}")
    named = _named(store)
    for table in MODIFY:
        assert named.get(table) == {"deleted"}, (table, named)


def test_inserted_rows_are_named_in_every_table(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    """A row added after the seal is named: as unsealed (newer than the newest seal),
    or as inserted when it was backdated into a sealed range."""
    seed(store, tmp_path, make_span)
    store.command(
        "INSERT INTO agentaudit.otel_traces (TraceId, SpanName) VALUES ('forged', 'chat x')"
    )
    store.command(  # a server's record of a call nobody made, claimed to be linked
        "INSERT INTO agentaudit.tool_call_server_sides (trace_id, span_id, tool_name, "
        "call_side) VALUES ('forged', 'forged', 'delete_all', 'server')"
    )
    for table, rows in SEED_ROWS.items():
        insert(store, table, rows[-1])
    named = _named(store)
    for table in SEALED_TABLES:
        assert named.get(table) == {"unsealed"}, (table, named)

    # A tamperer who knows the column can backdate a row into a sealed range.
    store.command(
        "INSERT INTO agentaudit.revocations (id, requested_at, updated_at, action, target, "
        "target_id, reason, requested_by, status, results, _written_at) "
        "SELECT id, requested_at, updated_at + 5, action, target, target_id, 'forged', "
        "requested_by, status, results, _written_at FROM agentaudit.revocations "
        "WHERE id = 'rev-2' ORDER BY _written_at LIMIT 1 "
        "SETTINGS insert_allow_materialized_columns = 1"
    )
    problems = [p for p in verify_store(store).problems if p.table == "revocations"]
    assert "inserted" in {p.kind for p in problems}


def test_a_merge_is_not_a_deletion(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    """ReplacingMergeTree drops superseded versions when it merges: accounted, not tampering;
    deleting the newest version is still named."""
    seed(store, tmp_path, make_span)
    for table in ("revocations", "findings", "agents"):
        store.command(f"OPTIMIZE TABLE agentaudit.{table} FINAL")
    versions = store.query("SELECT count() FROM agentaudit.revocations WHERE id = 'rev-1'").rows
    assert versions == [(1,)]  # the merge dropped the pending version
    report = verify_store(store)
    assert report.problems == []
    assert any("revocations: 1 superseded version(s) merged away" in n for n in report.notes)
    mutate(store, "ALTER TABLE agentaudit.revocations DELETE WHERE id = 'rev-1'")
    assert _named(store) == {"revocations": {"deleted"}}


def test_the_seal_chain_itself_is_checked(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    seed(store, tmp_path, make_span)
    mutate(store, "ALTER TABLE agentaudit.audit_seal_entries UPDATE row_count = 9 WHERE seq = 2")
    kinds = {(p.kind, p.seq) for p in verify_store(store).problems}
    assert ("chain_broken", 2) in kinds
    mutate(store, "ALTER TABLE agentaudit.audit_seals DELETE WHERE seq = 3")
    messages = [str(p) for p in verify_store(store).problems]
    assert any("links 3..3 are missing" in m for m in messages)


def test_signed_seals_need_the_key(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    from agentaudit.store.evidence.seal import Sealer
    from tests.store.evidence._seed import write_spans

    write_spans(store, tmp_path / "wal", [make_span() for _ in range(2)], key=KEY)
    Sealer(store, "signed", key=KEY).seal(grace_seconds=0)
    assert verify_store(store, key=KEY).problems == []
    mutate(store, "ALTER TABLE agentaudit.audit_seals UPDATE signature = 'x' WHERE seq = 1")
    assert {p.kind for p in verify_store(store, key=KEY).problems} == {"bad_signature"}


@pytest.mark.parametrize("grace", [0.0, 3600.0])
def test_rows_newer_than_the_cutoff_wait_for_the_next_seal(
    store: Store, tmp_path: Path, make_span: SpanFactory, grace: float
) -> None:
    from agentaudit.store.evidence.seal import Sealer

    insert(store, "agents", SEED_ROWS["agents"][0])
    links = Sealer(store, "c").seal(grace_seconds=grace)
    assert bool(links) == (grace == 0.0)
    kinds = {p.kind for p in verify_store(store).problems}
    assert kinds == (set() if grace == 0.0 else {"unsealed"})
