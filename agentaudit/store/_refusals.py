"""Which failed writes are worth retrying: ClickHouse's refusals of the data itself.

A write fails either because the store cannot take it *now* (no connection, a timeout,
too many parts or queries, memory, a replica or Keeper away, the server restarting) or
because it will never take *these rows* (a value the column cannot hold, a violated
constraint, a table or column that is not what the writer expects). The first kind is
retried until it passes (the WAL holds the data meanwhile); retrying the second kind
forever would stall everything queued behind it.

Invariant: only the ClickHouse error codes listed in :data:`REFUSALS` make a
:class:`StoreRejected`; every other failure, including codes not listed and errors
with no code at all (connection errors, HTTP errors of a proxy), stays
:class:`StoreUnavailable` and is retried. An unknown failure therefore costs waiting,
never data.
"""

from __future__ import annotations

from agentaudit.store._types import (
    StoreError,
    StoreRejected,
    StoreUnavailable,
    error_code,
    first_line,
)

__all__ = ["REFUSALS", "write_error"]

_ROW, _TABLE = True, False

REFUSALS: dict[int, tuple[str, bool]] = {
    # A value the column cannot take (the rows' fault: an insert split in parts isolates it).
    6: ("cannot_parse", _ROW),  # CANNOT_PARSE_TEXT
    25: ("cannot_parse", _ROW),  # CANNOT_PARSE_ESCAPE_SEQUENCE
    26: ("cannot_parse", _ROW),  # CANNOT_PARSE_QUOTED_STRING
    27: ("cannot_parse", _ROW),  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38: ("cannot_parse", _ROW),  # CANNOT_PARSE_DATE
    41: ("cannot_parse", _ROW),  # CANNOT_PARSE_DATETIME
    72: ("cannot_parse", _ROW),  # CANNOT_PARSE_NUMBER
    130: ("cannot_parse", _ROW),  # CANNOT_READ_ARRAY_FROM_TEXT
    43: ("type_mismatch", _ROW),  # ILLEGAL_TYPE_OF_ARGUMENT
    44: ("type_mismatch", _ROW),  # ILLEGAL_COLUMN
    53: ("type_mismatch", _ROW),  # TYPE_MISMATCH
    70: ("type_mismatch", _ROW),  # CANNOT_CONVERT_TYPE
    69: ("value_out_of_range", _ROW),  # ARGUMENT_OUT_OF_BOUND
    321: ("value_out_of_range", _ROW),  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    407: ("value_out_of_range", _ROW),  # DECIMAL_OVERFLOW
    117: ("incorrect_data", _ROW),  # INCORRECT_DATA
    131: ("incorrect_data", _ROW),  # TOO_LARGE_STRING_SIZE
    190: ("incorrect_data", _ROW),  # SIZES_OF_ARRAYS_DONT_MATCH
    349: ("incorrect_data", _ROW),  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    469: ("constraint_violated", _ROW),  # VIOLATED_CONSTRAINT
    # The table is not what the writer expects: every row fails alike.
    8: ("schema_mismatch", _TABLE),  # THERE_IS_NO_COLUMN
    10: ("schema_mismatch", _TABLE),  # NOT_FOUND_COLUMN_IN_BLOCK
    16: ("schema_mismatch", _TABLE),  # NO_SUCH_COLUMN_IN_TABLE
    20: ("schema_mismatch", _TABLE),  # NUMBER_OF_COLUMNS_DOESNT_MATCH
    47: ("schema_mismatch", _TABLE),  # UNKNOWN_IDENTIFIER
    60: ("schema_mismatch", _TABLE),  # UNKNOWN_TABLE
    81: ("schema_mismatch", _TABLE),  # UNKNOWN_DATABASE
}
"""ClickHouse error code -> (reason, row-level?) of the refusals that are not retried.

Deliberately left out (retried): ``BAD_ARGUMENTS`` and ``SYNTAX_ERROR`` (a setting or
statement of ours, not the rows), ``CANNOT_READ_ALL_DATA`` and
``ATTEMPT_TO_READ_AFTER_EOF`` (also a body cut off in transit), ``MEMORY_LIMIT_EXCEEDED``,
``TOO_MANY_PARTS``, ``TIMEOUT_EXCEEDED``, ``TABLE_IS_READ_ONLY``, ``KEEPER_EXCEPTION``,
``LOGICAL_ERROR`` and every code not listed."""


def write_error(exc: BaseException) -> StoreError:
    """The store error for a failed write: :class:`StoreRejected` or :class:`StoreUnavailable`."""
    code = error_code(exc)
    refusal = REFUSALS.get(code) if code is not None else None
    if refusal is None or code is None:
        return StoreUnavailable(first_line(exc))
    reason, row_level = refusal
    return StoreRejected(first_line(exc), reason=reason, code=code, row_level=row_level)
