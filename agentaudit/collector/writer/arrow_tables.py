"""Arrow tables built in bulk: the writer's fast path for the span tables.

:func:`traces_table` builds ``otel_traces`` straight from spans, column by column, with
map columns from flat key/value arrays and offsets (no per-row lists of tuples) and a
resource's attributes stringified once per batch, not once per span.
:func:`tuples_table` converts one tuple per row (``normalise.tool_call_values``) in a
single pass, as a struct array, next to columns built elsewhere; :func:`rows_table` does
the same for row dicts (``normalise.tool_call_row``).

Invariant: the tables are equal to ``to_arrow(OTEL_TRACES, [trace_row(s) ...])`` and
``to_arrow(schema, rows)`` of :mod:`agentaudit.collector.writer.table_schemas` (tests
compare them); semantics stay in :mod:`~agentaudit.collector.writer.normalise`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from agentaudit.collector.model import SpanRecord
from agentaudit.collector.writer.normalise import stringify
from agentaudit.collector.writer.table_schemas import OTEL_TRACES
from agentaudit.schema import attributes as A

__all__ = ["rows_table", "traces_table", "tuples_table"]

_STR = pa.string()
_STR_MAP = pa.map_(pa.string(), pa.string())


def _strings(values: Iterable[Any]) -> list[str]:
    return [v if type(v) is str else stringify(v) for v in values]


class _MapBuilder:
    """Flat keys, values and offsets of a ``Map(String, String)`` column."""

    def __init__(self) -> None:
        self.offsets = [0]
        self.keys: list[str] = []
        self.values: list[str] = []
        self._cache: dict[int, tuple[list[str], list[str], Mapping[str, Any]]] = {}

    def add(self, attributes: Mapping[str, Any], *, shared: bool = False) -> None:
        if shared:  # one resource's attributes, stringified once per batch
            cached = self._cache.get(id(attributes))
            if cached is None or cached[2] is not attributes:
                cached = (list(attributes), _strings(attributes.values()), attributes)
                self._cache[id(attributes)] = cached
            self.keys += cached[0]
            self.values += cached[1]
        else:
            self.keys += attributes
            self.values += _strings(attributes.values())
        self.offsets.append(len(self.keys))

    def array(self, kind: pa.DataType = _STR_MAP) -> pa.Array:
        return pa.MapArray.from_arrays(
            pa.array(self.offsets, pa.int32()),
            pa.array(self.keys, _STR),
            pa.array(self.values, kind.item_type),
            type=kind,
        )


def _list_of_maps(groups: Sequence[Sequence[Mapping[str, Any]]], kind: pa.DataType) -> pa.Array:
    builder = _MapBuilder()
    offsets = [0]
    for group in groups:
        for attributes in group:
            builder.add(attributes)
        offsets.append(offsets[-1] + len(group))
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), builder.array(kind.value_type), type=kind
    )


def _empty_lists(count: int, kind: pa.DataType) -> pa.Array:
    """``count`` empty lists of ``kind`` (spans without events or links: the usual case)."""
    offsets = pa.repeat(pa.scalar(0, pa.int32()), count + 1)
    return pa.ListArray.from_arrays(offsets, pa.array([], kind.value_type), type=kind)


def traces_table(spans: Sequence[SpanRecord]) -> pa.Table:
    """The ``otel_traces`` rows of ``spans`` as one Arrow table."""
    resources = _MapBuilder()
    attributes = _MapBuilder()
    service: dict[int, str] = {}
    services = []
    for span in spans:
        resource = span.resource_attributes
        resources.add(resource, shared=True)
        attributes.add(span.attributes)
        name = service.get(id(resource))
        if name is None:
            value = resource.get(A.SERVICE_NAME)
            name = service[id(resource)] = "" if value is None else stringify(value)
        services.append(name)
    events = [span.events for span in spans]
    links = [span.links for span in spans]
    columns: dict[str, Any] = {
        "Timestamp": [s.start_ns for s in spans],
        "TraceId": [s.trace_id for s in spans],
        "SpanId": [s.span_id for s in spans],
        "ParentSpanId": [s.parent_span_id for s in spans],
        "TraceState": [s.trace_state for s in spans],
        "SpanName": [s.name for s in spans],
        "SpanKind": [s.kind for s in spans],
        "ServiceName": services,
        "ResourceAttributes": resources.array(),
        "ScopeName": [s.scope_name for s in spans],
        "ScopeVersion": [s.scope_version for s in spans],
        "SpanAttributes": attributes.array(),
        "Duration": [s.duration_ns for s in spans],
        "StatusCode": [s.status_code for s in spans],
        "StatusMessage": [s.status_message for s in spans],
    }
    if any(events):  # else the Events.* columns are empty lists (the usual case)
        columns["Events.Timestamp"] = [[e.time_ns for e in group] for group in events]
        columns["Events.Name"] = [[e.name for e in group] for group in events]
        columns["Events.Attributes"] = [[e.attributes for e in group] for group in events]
    if any(links):
        columns["Links.TraceId"] = [[link.trace_id for link in group] for group in links]
        columns["Links.SpanId"] = [[link.span_id for link in group] for group in links]
        columns["Links.TraceState"] = [[link.trace_state for link in group] for group in links]
        columns["Links.Attributes"] = [[link.attributes for link in group] for group in links]
    arrays = []
    for field in OTEL_TRACES:
        values = columns.get(field.name)
        if values is None:
            arrays.append(_empty_lists(len(spans), field.type))
        elif isinstance(values, pa.Array):
            arrays.append(values)
        elif pa.types.is_list(field.type) and pa.types.is_map(field.type.value_type):
            arrays.append(_list_of_maps(values, field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=OTEL_TRACES)


def tuples_table(
    schema: pa.Schema,
    names: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    columns: Mapping[str, pa.Array],
) -> pa.Table:
    """The table of ``schema`` whose ``names`` columns hold ``rows`` (one tuple per row,
    its values in ``names`` order) and whose other columns are the arrays ``columns``.

    The tuples are converted in one pass, as a struct array (no per-column lists).
    """
    struct = pa.struct([schema.field(name) for name in names])
    arrays = dict(zip(names, pa.array(rows, type=struct).flatten(), strict=True))
    arrays.update(columns)
    return pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema)


def rows_table(schema: pa.Schema, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Row dicts as a table: equal to ``to_arrow(schema, rows)``."""
    names = schema.names
    return tuples_table(
        schema, names, [tuple(map(row.__getitem__, names)) for row in rows], columns={}
    )
