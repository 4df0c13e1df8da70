"""Which failed inserts the writer retries: the engine's own errors, classified."""

from __future__ import annotations

import pyarrow as pa
import pytest

from agentaudit.store import Store, StoreRejected, StoreUnavailable
from agentaudit.store._refusals import REFUSALS, write_error

TABLE = "agentaudit.refusals"


@pytest.fixture
def table(store: Store) -> str:
    store.command(
        f"CREATE TABLE {TABLE} (n UInt8, name String, CONSTRAINT named CHECK name != 'poison') "
        "ENGINE = MergeTree ORDER BY n "
        "SETTINGS parts_to_throw_insert = 1, parts_to_delay_insert = 1000000"
    )
    return TABLE


def rows(**columns: list[object]) -> pa.Table:
    return pa.table(columns)


def test_a_refused_value_is_rejected_row_by_row(store: Store, table: str) -> None:
    with pytest.raises(StoreRejected) as refused:
        store.insert_arrow(table, rows(n=pa.array([1, 2], pa.uint8()), name=["ok", "poison"]))
    assert (refused.value.reason, refused.value.code) == ("constraint_violated", 469)
    assert refused.value.row_level


def test_a_value_the_column_cannot_parse_is_rejected(store: Store, table: str) -> None:
    with pytest.raises(StoreRejected) as refused:
        store.insert_arrow(table, rows(n=["seven"], name=["ok"]))
    assert refused.value.reason == "cannot_parse"


@pytest.mark.parametrize(
    ("target", "data"),
    [
        ("agentaudit.no_such_table", {"n": pa.array([1], pa.uint8())}),
        (TABLE, {"n": pa.array([1], pa.uint8()), "no_such_column": ["x"]}),
    ],
)
def test_a_table_that_is_not_what_the_writer_expects_is_rejected_as_a_whole(
    store: Store, table: str, target: str, data: dict[str, object]
) -> None:
    with pytest.raises(StoreRejected) as refused:
        store.insert_arrow(target, pa.table(data))
    assert refused.value.reason == "schema_mismatch"
    assert not refused.value.row_level


def test_an_overloaded_store_is_retried(store: Store, table: str) -> None:
    """ClickHouse's "too many parts" (merges stopped): not the data's fault."""
    store.command(f"SYSTEM STOP MERGES {table}")
    store.insert_arrow(table, rows(n=pa.array([1], pa.uint8()), name=["a"]))
    with pytest.raises(StoreUnavailable, match="Too many parts"):
        store.insert_arrow(table, rows(n=pa.array([2], pa.uint8()), name=["b"]))


class CodedError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"Code: {code}. DB::Exception: something")
        self.code = code


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionResetError("connection reset by peer"),
        TimeoutError("timed out"),
        Exception("HTTPDriver for http://db:8123 received ClickHouse error 502 Bad Gateway"),
        CodedError(241),  # MEMORY_LIMIT_EXCEEDED
        CodedError(242),  # TABLE_IS_READ_ONLY (a replica without Keeper)
        CodedError(999),  # KEEPER_EXCEPTION
        CodedError(36),  # BAD_ARGUMENTS: a setting of ours, not the rows
        CodedError(49),  # LOGICAL_ERROR
        CodedError(123456),  # a code this version does not know
    ],
)
def test_everything_else_is_retried(failure: Exception) -> None:
    assert type(write_error(failure)) is StoreUnavailable


def test_every_refusal_has_a_short_reason() -> None:
    reasons = {reason for reason, _ in REFUSALS.values()}
    assert reasons == {
        "cannot_parse", "type_mismatch", "value_out_of_range", "incorrect_data",
        "constraint_violated", "schema_mismatch",
    }  # fmt: skip
    assert all(isinstance(write_error(CodedError(code)), StoreRejected) for code in REFUSALS)
