"""A store with rows in every audit table, written the way the components write them:
tool calls and spans through the real writer (with its chain; one call's linked server
record lands in tool_call_server_sides), the other tables one INSERT per change (so each
is an insert of its own, as the components do)."""

# ruff: noqa: S608 - test SQL splices constants and ids the test made itself

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentaudit.store import Store
from agentaudit.store.evidence.seal import Sealer
from tests.conftest import SpanFactory

SEALED_TABLES = (
    "otel_traces", "revocations", "quarantine", "denylist", "agents", "approvals", "findings",
    "detector_baselines", "card_signoffs", "tool_call_server_sides",
)  # fmt: skip
"""The audit tables the sealer chains that the components (not the evidence) write."""

ROWS: dict[str, list[str]] = {
    "revocations": [
        "('rev-1', now64(3), now64(3), 'revoke', 'agent', 'agent-1', 'exfiltration', 'alice', "
        "'pending', map())",
        "('rev-1', now64(3), now64(3) + 1, 'revoke', 'agent', 'agent-1', 'exfiltration', "
        "'alice', 'done', map('broker', 'ok'))",
        "('rev-2', now64(3), now64(3), 'release', 'agent', 'agent-2', 'cleared', 'bob', 'done', "
        "map())",
    ],
    "quarantine": [
        "('agent-1', now64(6), 'quarantined', now64(6), 'exfiltration', 'alice', 'rev-1')",
        "('agent-2', now64(6), 'released', now64(6), 'cleared', 'bob', 'rev-2')",
    ],
    "denylist": [
        "('user', 'user-1', now64(6), NULL, NULL, 'stolen session', 'rev-3', now64(6))",
        "('credential', 'cred-9', now64(6), now64(6) + 3600, NULL, 'leaked', 'rev-4', now64(6))",
    ],
    "agents": [
        "('mail-agent', now64(6), 'active', 'team-a', 'reads mail', 'sha256:aa', 'aaaa', "
        "now64(6), 'cli', '')",
        "('cal-agent', now64(6), 'active', 'team-b', 'calendar', 'sha256:bb', 'bbbb', now64(6), "
        "'cli', '')",
    ],
    "approvals": [
        "('grant-1', now(), now() + 600, 'carol', 'alice', 'agent-1', 'send_email', "
        "'sha256:dd', ['mailbox:a'], 'user-1', 'sess-1', 'ok')",
        "('grant-2', now(), now() + 600, 'carol', 'alice', 'agent-2', 'delete', 'sha256:ee', "
        "[], 'user-2', 'sess-2', 'ok')",
    ],
    "findings": [
        "(now64(3), 'f-1', now64(3), 'agent-1', 'user-1', 'sess-1', 't1', 's1', 'send_email', "
        "'new_tool', 'high', 0.9, 'agent-1 used a new tool', '{}', 'alert', '', 'g1', 'open', "
        "'', '')",
        "(now64(3), 'f-2', now64(3), 'agent-2', 'user-2', 'sess-2', 't2', 's2', 'delete', "
        "'burst', 'medium', 0.5, 'agent-2 burst', '{}', 'none', '', 'g2', 'open', '', '')",
    ],
    "detector_baselines": [
        "('agent-1', now64(3), 1, '{\"calls\": 10}')",
        "('agent-2', now64(3), 2, '{\"calls\": 20}')",
    ],
    "card_signoffs": [
        "('agent-1', now64(3), 'dana', 'sha256:c1', '{}', 'cat', 'cli', '', 'e1')",
        "('agent-2', now64(3), 'dana', 'sha256:c2', '{}', 'cat', 'cli', '', 'e2')",
    ],
}
COLUMNS = {
    "revocations": "id, requested_at, updated_at, action, target, target_id, reason, "
    "requested_by, status, results",
    "quarantine": "agent_id, updated_at, state, since, reason, actor, revocation_id",
    "denylist": "kind, value, since, until, lifted_at, reason, revocation_id, updated_at",
    "agents": "name, updated_at, state, owner, description, token_digest, token_hint, "
    "created_at, actor, reason",
    "approvals": "grant_id, issued_at, expires_at, approver, granted_by, agent_id, tool_name, "
    "arguments_hash, resource_ids, user_id, session_id, reason",
    "findings": "ts, finding_id, updated_at, agent_id, user_id, session_id, trace_id, "
    "span_id, tool_name, rule, severity, score, summary, evidence, action, revocation_id, "
    "group_key, state, triaged_by, triage_reason",
    "detector_baselines": "agent_id, updated_at, watermark, baseline",
    "card_signoffs": "agent, signed_at, signed_by, card_hash, card, catalog, recorded_by, "
    "prev_hash, entry_hash",
}


def insert(store: Store, table: str, values: str, settings: str = "") -> None:
    store.command(f"INSERT INTO agentaudit.{table} ({COLUMNS[table]}) {settings} VALUES {values}")


def write_spans(
    store: Store,
    wal_dir: Path,
    spans: Iterable[Any],
    *,
    batch_rows: int = 4,
    key: bytes | None = None,
    redact: Any = None,
) -> list[str]:
    """Store ``spans`` through the real pipeline, WAL and writer (with the audit chain);
    returns the chained batch ids."""
    from agentaudit.collector.ingest.pipeline import Pipeline
    from agentaudit.collector.wal.log import Wal
    from agentaudit.collector.writer.writer import Writer
    from agentaudit.store.audit_chain import AuditChain

    wal = Wal(wal_dir, fsync=False)
    writer = Writer(store, batch_rows=batch_rows, wal=wal, chain=AuditChain(store, key=key))
    pipeline = Pipeline(writer, wal=wal, redact=redact)
    pipeline.accept(list(spans))
    writer.flush()
    wal.close()
    return [str(r[0]) for r in store.query("SELECT batch_id FROM agentaudit.audit_chain").rows]


def seed(store: Store, tmp_path: Path, make_span: SpanFactory) -> Sealer:
    """Rows in every audit table, then a seal of all of them; returns the sealer."""
    spans = [make_span() for _ in range(5)]
    # The sixth call's record by a tool server its caller linked: tool_call_server_sides.
    caller = spans[-1]
    server = {**caller.attributes, "agentaudit.call.side": "server"}
    spans.append(make_span(trace_id=caller.trace_id, parent_span_id=caller.span_id,
                           kind="Server", attributes=server))  # fmt: skip
    spans.append(make_span(name="chat gpt", attributes={"gen_ai.operation.name": "chat"}))
    write_spans(store, tmp_path / "wal", spans)
    for table, rows in ROWS.items():
        for values in rows:
            insert(store, table, values)
    sealer = Sealer(store, "chain-test")
    sealer.seal(grace_seconds=0)
    return sealer


def mutate(store: Store, sql: str) -> None:
    store.command(f"{sql} SETTINGS mutations_sync = 2")
