"""A batch's rows: spans converted into the two span tables, and what a batch keeps.

Seam: the writer's builder thread calls :meth:`BatchBuilder.build` with the spans of
one batch (each with its receive time) and gets a :class:`Batch`: the ``otel_traces``
table (one row per span), the tool-call rows (one per tool call that another span of
the batch does not already record; :meth:`Batch.split` parts them into the rows of
``tool_calls`` and of ``tool_call_server_sides``, :mod:`agentaudit.schema.calls`) and
the batch id. Spans that cannot become
rows go to the dead-letter file (``reason = "unconvertible"``) and the batch is built
from the others.

Invariants: :func:`batch_id_of` is deterministic (SHA-256 over the span ids, in order),
and so is :meth:`BatchBuilder.build` (the same spans fail the same way), so a replay
forms the same batch with the same id; :meth:`Batch.keep` gives the rows of the spans
kept under the batch id *of those*, so a batch that left out copies never shares an id
(a deduplication token) with one that did not.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.arrow_tables import traces_table, tuples_table
from agentaudit.collector.writer.normalise import (
    TOOL_CALL_COLUMNS,
    BlockedCheck,
    duplicates,
    is_tool_call,
    tool_call_values,
)
from agentaudit.collector.writer.table_schemas import TOOL_CALLS
from agentaudit.schema import attributes as A
from agentaudit.schema.calls import AUTH_AGENT_TOKEN

__all__ = ["Batch", "BatchBuilder", "Rows", "batch_id_of", "linked_server_sides"]

log = logging.getLogger(__name__)

_BATCH_ID = TOOL_CALLS.get_field_index("batch_id")

DeadLetter = Callable[[Sequence[SpanRecord], str], None]
"""``dead_letter(spans, error)``: keep spans that cannot be converted."""


def batch_id_of(spans: Iterable[SpanRecord]) -> str:
    """The deterministic id (and dedup token) of a batch: SHA-256 of its span ids."""
    digest = hashlib.sha256()
    for span in spans:
        digest.update(span.trace_id.encode())
        digest.update(span.span_id.encode())
    return digest.hexdigest()[:32]


Rows = tuple[pa.Table, list[int]]
"""Tool-call rows and, for row j, the position of its span in the batch."""


def linked_server_sides(calls: pa.Table) -> pa.ChunkedArray:
    """Per tool-call row: whether it goes to ``tool_call_server_sides`` (a server's record
    its caller linked to its own: :func:`agentaudit.schema.calls.is_linked_server_side`)."""
    linked = pc.equal(calls.column("call_side"), A.CALL_SIDE_SERVER)
    for column in ("tool_call_id", "parent_span_id", "arguments_hash"):
        linked = pc.and_(linked, pc.not_equal(calls.column(column), ""))
    return pc.and_(linked, pc.not_equal(calls.column("authentication"), AUTH_AGENT_TOKEN))


@dataclass
class Batch:
    """A batch's rows: ``traces`` row i is ``spans[i]``; ``calls`` row j is
    ``spans[calls_of[j]]`` (None when the batch has no tool calls); ``batch_id`` is
    over ``spans`` and is every ``calls`` row's ``batch_id``."""

    batch_id: str
    traces: pa.Table
    calls: pa.Table | None
    spans: list[SpanRecord]
    calls_of: list[int]

    def keep(self, kept: Sequence[bool]) -> Batch:
        """The rows of the spans ``kept`` says to keep, under the batch id of those."""
        spans = [span for span, keep in zip(self.spans, kept, strict=True) if keep]
        batch_id = batch_id_of(spans)
        new_index: list[int] = []
        count = 0
        for keep in kept:
            new_index.append(count)
            count += keep
        calls, calls_of = self.calls, [new_index[i] for i in self.calls_of if kept[i]]
        if calls is not None:
            calls = calls.filter(pa.array([kept[i] for i in self.calls_of], pa.bool_()))
            ids = pa.array([batch_id] * calls.num_rows, pa.string())
            calls = calls.set_column(_BATCH_ID, "batch_id", ids) if calls.num_rows else None
        traces = self.traces.filter(pa.array(kept, pa.bool_()))
        return Batch(batch_id, traces, calls, spans, calls_of)

    def split(self, refused: Collection[int] = ()) -> tuple[Rows | None, Rows | None]:
        """The ``tool_calls`` rows and the ``tool_call_server_sides`` rows (None when
        there are none), leaving out the rows of the spans at ``refused`` positions."""
        calls, calls_of = self.calls, self.calls_of
        if calls is None:
            return None, None
        if refused:
            keep = [i not in refused for i in calls_of]
            calls = calls.filter(pa.array(keep, pa.bool_()))
            calls_of = [i for i, k in zip(calls_of, keep, strict=True) if k]
        if not calls.num_rows:
            return None, None
        sides = linked_server_sides(calls)
        if not pc.any(sides).as_py():
            return (calls, calls_of), None
        is_side = sides.to_pylist()
        own = [i for i, side in zip(calls_of, is_side, strict=True) if not side]
        server = [i for i, side in zip(calls_of, is_side, strict=True) if side]
        rest = calls.filter(pc.invert(sides))
        return ((rest, own) if own else None), (calls.filter(sides), server)


class BatchBuilder:
    """Converts spans into a :class:`Batch` (the normaliser's columns, Arrow tables)."""

    def __init__(
        self,
        *,
        dead_letter: DeadLetter,
        was_blocked: BlockedCheck | None = None,
        first_use: Callable[[str], bool] | None = None,
    ) -> None:
        self._dead_letter = dead_letter
        self._was_blocked = was_blocked
        self._first_use = first_use

    def _convert(self, spans: list[tuple[int, SpanRecord]]) -> Batch:
        only_spans = [span for _, span in spans]
        batch_id = batch_id_of(only_spans)
        traces = traces_table(only_spans)
        candidates = [i for i, span in enumerate(only_spans) if is_tool_call(span)]
        skipped = duplicates(only_spans, candidates)
        positions = [i for i in candidates if i not in skipped]
        if not positions:
            return Batch(batch_id, traces, None, only_spans, [])
        rows = [
            tool_call_values(
                only_spans[position],
                received_ns=spans[position][0],
                was_blocked=self._was_blocked,
                first_use=self._first_use,
            )
            for position in positions
        ]
        # The same string maps as otel_traces' columns: taken from there, not rebuilt.
        shared = {"attributes": "SpanAttributes", "resource_attributes": "ResourceAttributes"}
        every = len(positions) == len(spans)
        taken = pa.array(positions, pa.int32())
        columns = {"batch_id": pa.array([batch_id] * len(rows), pa.string())}
        for name, source in shared.items():
            column = traces.column(source).combine_chunks()
            columns[name] = column if every else column.take(taken)
        table = tuples_table(TOOL_CALLS, TOOL_CALL_COLUMNS, rows, columns=columns)
        return Batch(batch_id, traces, table, only_spans, positions)

    def build(self, spans: list[tuple[int, SpanRecord]]) -> Batch | None:
        """The batch of ``spans`` (receive time, span); spans that cannot become rows are
        dead-lettered and the batch is built from the others (None if there are none).

        Deterministic (the same spans fail the same way), so a replay forms the same batch.
        """
        try:
            return self._convert(spans)
        except Exception:
            log.exception(
                "a batch of %d spans cannot be converted; isolating the bad spans", len(spans)
            )
        good = []
        for item in spans:
            try:
                self._convert([item])
            except Exception as exc:
                self._dead_letter([item[1]], f"{type(exc).__name__}: {exc}")
            else:
                good.append(item)
        return self._convert(good) if good else None
