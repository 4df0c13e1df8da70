"""The follower reads new batches only: links after its position, rows by batch id.

Real stores: the calls are written by the real writer (rows, batch ids, chain links as
the collector stores them). A recording source keeps every SQL text the follower runs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from agentaudit.detector import activity
from agentaudit.detector.follower import Follower, StoreSource
from agentaudit.detector.model import Call
from agentaudit.store import Store
from agentaudit.store.audit_chain import AuditChain
from tests.detector._data import NS, T0, call, store_calls


class Recording(StoreSource):
    """A StoreSource that keeps the SQL it ran and how many rows each query returned."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.queries: list[tuple[str, int]] = []

    def rows(self, sql: str) -> list[Sequence[Any]]:
        found = super().rows(sql)
        self.queries.append((sql, len(found)))
        return found

    def take(self) -> list[tuple[str, int]]:
        queries, self.queries = self.queries, []
        return queries


def calls(count: int, start: int = 0, session: str = "s") -> list[Call]:
    return [
        call(ts=T0 + (start + i) * NS, session_id=session, resource_ids=(f"mailbox:{i}@x.example",))
        for i in range(count)
    ]


def batch_ids(store: Store) -> list[str]:
    return [
        r[0]
        for r in store.query(
            "SELECT batch_id FROM agentaudit.audit_chain ORDER BY written_at, seq"
        ).rows
    ]


def read_ids(sql: str) -> set[str]:
    return set(re.findall(r"'([0-9a-f]{32})'", sql.split("batch_id IN", 1)[1]))


def test_reads_only_new_batches(store: Store) -> None:
    store_calls(store, calls(30), batch=10)
    source = Recording(store)
    follower = Follower(source)
    first = follower.poll()
    assert [len(c) for _, c in first] == [10, 10, 10]
    ids = batch_ids(store)
    (links_sql, _), (rows_sql, rows) = source.take()
    assert "FROM agentaudit.audit_chain" in links_sql
    assert "FROM agentaudit.tool_calls" in rows_sql
    assert read_ids(rows_sql) == set(ids)
    assert rows == 30
    assert follower.position == {first[0][0].chain_id: 3}

    assert follower.poll() == []
    ((only, returned),) = source.take()  # nothing new: the chain is asked, no rows are read
    assert "audit_chain" in only
    assert returned == 0
    assert "seq > 3" in only

    store_calls(store, calls(20, start=30), batch=10)
    second = follower.poll()
    assert [len(c) for _, c in second] == [10, 10]
    (links_sql, _), (rows_sql, rows) = source.take()
    new = set(batch_ids(store)) - set(ids)
    assert read_ids(rows_sql) == new  # only the two new batches
    assert rows == 20
    assert follower.rows_read == 50
    assert [c.span_id for _, cs in second for c in cs] == sorted(
        [c.span_id for _, cs in second for c in cs]
    )  # each batch in ts order (the ids grow with ts here)


def test_a_saved_position_continues_where_it_stopped(store: Store) -> None:
    store_calls(store, calls(20), batch=10)
    follower = Follower(StoreSource(store))
    follower.poll()
    saved = dict(follower.position)
    store_calls(store, calls(5, start=20), batch=10)
    again = Follower(StoreSource(store), saved)
    batches = again.poll()
    assert [len(c) for _, c in batches] == [5]


def test_every_collectors_chain_is_followed(store: Store) -> None:
    store_calls(store, calls(10), batch=10, chain_id="collector-a")
    store_calls(store, calls(10, start=10), batch=10, chain_id="collector-b")
    follower = Follower(StoreSource(store))
    batches = follower.poll()
    assert sorted(link.chain_id for link, _ in batches) == ["collector-a", "collector-b"]
    assert follower.position == {"collector-a": 1, "collector-b": 1}
    store_calls(store, calls(10, start=20), batch=10, chain_id="collector-c")  # a new collector
    assert [link.chain_id for link, _ in follower.poll()] == ["collector-c"]


def test_a_batch_stored_through_two_chains_is_read_once(store: Store) -> None:
    # Two collectors (server mode) that stored the same batch at the same moment: the
    # insert is deduplicated by its token, and each chain links the batch.
    store_calls(store, calls(10), batch=10, chain_id="collector-a")
    (batch_id,) = store.query("SELECT batch_id FROM agentaudit.audit_chain").rows[0]
    AuditChain(store).append(chain_id="collector-b", seq=1, prev_hash="", batch_id=batch_id)
    follower = Follower(StoreSource(store))
    batches = follower.poll()
    assert len(batches) == 2
    assert sum(len(c) for _, c in batches) == 10


def test_a_missing_link_holds_its_chain_then_is_skipped(store: Store) -> None:
    store_calls(store, calls(30), batch=10, chain_id="c")
    store.command(
        "ALTER TABLE agentaudit.audit_chain DELETE WHERE seq = 2 SETTINGS mutations_sync = 2"
    )
    now = [0.0]
    follower = Follower(StoreSource(store), gap_seconds=30, clock=lambda: now[0])
    assert [link.seq for link, _ in follower.poll()] == [1]
    assert follower.poll() == []  # link 2 may still appear (a replica behind)
    now[0] = 31.0
    assert [link.seq for link, _ in follower.poll()] == [3]  # given up on: skipped, logged


def test_rows_not_yet_visible_are_waited_for(store: Store) -> None:
    store_calls(store, calls(10), batch=10)

    class Lagging(StoreSource):
        lag = True

        def rows(self, sql: str) -> list[Sequence[Any]]:
            found = super().rows(sql)
            if self.lag and "tool_calls" in sql:
                self.lag = False
                return found[:4]  # a replica that has part of the batch
            return found

    follower = Follower(Lagging(store))
    assert follower.poll() == []
    assert follower.position == {}
    assert [len(c) for _, c in follower.poll()] == [10]


# -- batches handed over by the writer of this process ---------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fields(row: Any) -> tuple[Any, ...]:
    names = ("ts_ns", "trace_id", "span_id", "agent_id", "authenticated_agent", "user_id",
             "session_id", "tool_name", "arguments_hash", "resource_ids", "source_refs",
             "source_kinds", "source_trust", "untrusted_source", "approval_status",
             "approval_verified", "credential_id", "credential_scopes", "status",
             "received_ns", "batch_id", "duration_ns")  # fmt: skip
    return tuple(getattr(row, name) for name in names)


def test_handed_batches_are_read_without_a_query_and_as_the_store_reads_them(
    store: Store,
) -> None:
    handed: list[Any] = []
    mixed = [
        call(ts=T0 + i * NS, session_id="s", resource_ids=(f"mailbox:{i}@x.example",),
             arguments={"to": f"a{i}@corp{i % 3}.example", "cc": "https://files.example/x",
                        "n": i})
        for i in range(30)
    ]  # fmt: skip
    store_calls(store, mixed, batch=10, on_stored=handed.append)
    assert len(handed) == 3

    clock, source = Clock(), Recording(store)
    follower = Follower(source, clock=clock)
    for batch in handed:
        follower.offer(batch)
    got = [row for _, rows in follower.poll() for row in rows]
    assert not any("batch_id IN" in sql for sql, _ in source.take())  # rows not read back
    assert follower.batches_handed == 3

    expected = [row for _, rows in Follower(StoreSource(store)).poll() for row in rows]
    assert [_fields(r) for r in got] == [_fields(r) for r in expected]
    for mine, theirs in zip(got, expected, strict=True):  # shape and realms, in Python
        assert activity.arguments_parts(mine.arguments) == (
            theirs.argument_shape,
            theirs.argument_realms,
        )

    # While batches are handed over, the store itself is read every store_seconds only.
    assert follower.poll() == []
    assert source.take() == []
    clock.now += 2.5
    assert follower.poll() == []
    assert len(source.take()) == 1  # the links after the position: none


def test_a_batch_on_its_way_is_not_read_back_while_batches_are_handed(store: Store) -> None:
    handed: list[Any] = []
    store_calls(store, calls(30), batch=10, on_stored=handed.append)
    first, second, third = handed  # all three links stored just now
    clock, source = Clock(), Recording(store)
    follower = Follower(source, clock=clock, store_seconds=2.0, in_flight_seconds=2.0)
    follower.offer(first)
    assert [link.seq for link, _ in follower.poll()] == [1]
    (links_query,) = [sql for sql, _ in source.take()]  # the store: no link old enough
    assert "written_at <=" in links_query
    clock.now += 2.1
    follower.offer(second)
    assert [link.seq for link, _ in follower.poll()] == [2]
    assert not any("batch_id IN" in sql for sql, _ in source.take())  # no rows read back
    # The third never arrives: once nothing is handed, the store has it.
    clock.now += 2.1
    assert [(link.seq, len(rows)) for link, rows in follower.poll()] == [(3, 10)]
    assert [read_ids(sql) for sql, _ in source.take() if "batch_id IN" in sql] == [{third.batch_id}]
    assert follower.batches_handed == 2


def test_a_gap_or_a_batch_without_its_rows_is_read_from_the_store(store: Store) -> None:
    handed: list[Any] = []
    store_calls(store, calls(40), batch=10, on_stored=handed.append)
    first, second, third, fourth = handed
    clock, source = Clock(), Recording(store)
    follower = Follower(source, clock=clock)
    follower.poll()  # the store is polled first: nothing was offered yet
    assert follower.position  # ... and it read all four batches from it
    follower = Follower(source, clock=clock)
    follower.offer(first)
    follower.offer(dataclasses.replace(second, calls=None))  # some rows were refused
    follower.offer(fourth)  # the third was not handed over
    source.take()
    done = follower.poll()
    assert [link.seq for link, _ in done] == [1, 2, 3, 4]
    assert sum(len(rows) for _, rows in done) == 40
    assert follower.batches_handed == 1  # the first; the rest came from the store
    read = [read_ids(sql) for sql, _ in source.take() if "batch_id IN" in sql]
    assert read == [{second.batch_id, third.batch_id, fourth.batch_id}]
    follower.offer(third)  # late: read already, dropped
    clock.now += 5
    assert follower.poll() == []
