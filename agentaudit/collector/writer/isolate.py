"""No poison batch: insert a batch's rows, isolating the rows the store refuses for good.

Seam: :meth:`RowIsolator.insert` takes one table's rows of a :class:`Batch` and an
``insert(table, rows, token)`` callable (the writer's store insert, which retries what
is retryable). When ClickHouse refuses the rows themselves
(:class:`~agentaudit.store.StoreRejected`), the rows are split in halves, recursively,
until each refused row is alone; its span goes to ``dead_letter`` and the other rows are
stored. One refused row among *n* costs about 2·log2(*n*) inserts.

Invariants: every part is inserted with its own deduplication token, the batch id and
the part's place in the batch (``<batch id>:<offset>+<rows>``), so a replay of the batch
splits the same way and each part it inserted before stores nothing again; a refusal
that is the table's (``row_level`` False: a missing table or column) is not split, as
every row would fail alike. The refusal is assumed to be deterministic (the same rows
are refused the same way), which holds for the refusals that are not retried
(:mod:`agentaudit.store._refusals`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.batch import Batch
from agentaudit.store import StoreRejected

__all__ = ["RowIsolator"]

log = logging.getLogger(__name__)

Insert = Callable[[str, pa.Table, str], None]
"""``insert(table, rows, dedup_token)``."""
DeadLetter = Callable[[Sequence[SpanRecord], str, str, str], None]
"""``dead_letter(spans, reason, error, table)``."""


@dataclass
class _Job:
    table: str
    batch: Batch
    span_of: Sequence[int]
    refused: set[int]


class RowIsolator:
    """Inserts rows; dead-letters the spans of the rows the store will never take."""

    def __init__(self, insert: Insert, dead_letter: DeadLetter) -> None:
        self._insert = insert
        self._dead_letter = dead_letter

    def insert(self, table: str, rows: pa.Table, batch: Batch, span_of: Sequence[int]) -> set[int]:
        """Insert ``rows`` of ``table`` (row i records ``batch.spans[span_of[i]]``).

        Returns the positions (in ``batch.spans``) of the spans whose rows were refused
        and dead-lettered; every other row is stored.
        """
        job = _Job(table, batch, span_of, set())
        self._part(job, rows, 0)
        return job.refused

    def _part(self, job: _Job, rows: pa.Table, offset: int) -> None:
        count = rows.num_rows
        whole = offset == 0 and count == len(job.span_of)
        batch_id = job.batch.batch_id
        token = batch_id if whole else f"{batch_id}:{offset}+{count}"
        try:
            self._insert(job.table, rows, token)
            return
        except StoreRejected as exc:
            if count == 1 or not exc.row_level:
                positions = job.span_of[offset : offset + count]
                spans = [job.batch.spans[i] for i in positions]
                self._dead_letter(spans, exc.reason, str(exc), job.table)
                job.refused.update(positions)
                return
            if whole:
                log.warning(
                    "the store refused a batch of %d rows for %s (%s); isolating them",
                    count, job.table, exc.reason,
                )  # fmt: skip
        half = count // 2
        self._part(job, rows.slice(0, half), offset)
        self._part(job, rows.slice(half), offset + half)
