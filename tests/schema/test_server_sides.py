"""``tool_call_server_sides`` is ``tool_calls``' twin and ``agentaudit.calls`` spans both.

The writer inserts the same rows into either table and the view reads them with one
``UNION ALL``, so a column added to ``tool_calls`` and not to the twin (or in another
order or type) would break the writer's inserts and the view: checked on a migrated
store, and on the cluster form of the migration.
"""

from __future__ import annotations

from agentaudit.schema.calls import CALLS_TABLE, SERVER_SIDES_TABLE
from agentaudit.store import Store
from agentaudit.store.cluster_ddl import cluster_statements
from agentaudit.store.migrations import load_migrations

SERVER_COLUMNS = (
    "server_service", "server_span_id", "server_resource_ids", "server_conversation_id",
    "server_status", "server_error_type",
)  # fmt: skip


def _columns(store: Store, table: str) -> list[tuple[str, str, str, str]]:
    database, _, name = table.partition(".")
    return [
        (str(n), str(t), str(k), str(e))
        for n, t, k, e in store.query(
            "SELECT name, type, default_kind, default_expression FROM system.columns "
            "WHERE database = {d:String} AND table = {t:String} ORDER BY position",
            {"d": database, "t": name},
        ).rows
    ]


def test_the_server_sides_have_the_columns_of_tool_calls_in_order(store: Store) -> None:
    assert _columns(store, SERVER_SIDES_TABLE) == _columns(store, CALLS_TABLE)


def test_the_calls_view_has_every_tool_calls_column_and_the_servers(store: Store) -> None:
    visible = [c[0] for c in _columns(store, CALLS_TABLE) if c[2] != "MATERIALIZED"]
    assert [c[0] for c in _columns(store, "agentaudit.calls")] == [*visible, *SERVER_COLUMNS]


def test_the_server_sides_shard_with_their_calls_on_a_cluster() -> None:
    (migration,) = [m for m in load_migrations() if m.name == "tool_call_server_sides"]
    statements = cluster_statements(list(migration.statements()), "audit")
    distributed = [s for s in statements if "Distributed(" in s]
    assert len(distributed) == 1
    assert "cityHash64(if(session_id != '', session_id, trace_id))" in distributed[0]
    assert any(s.startswith("DROP VIEW IF EXISTS agentaudit.calls ON CLUSTER") for s in statements)
