"""One row per tool call: when a tool server's row is folded into its caller's row.

``agentaudit.tool_calls`` keeps every recorded side of a call. A call an agent makes to
an MCP server is recorded twice, by different processes that may export to different
collectors, in batches that arrive in any order: by the agent (``call_side =
'client'``: arguments, the model's sources and prompt, approval, credential) and by the
server (``'server'``: its service, the resources it touched, the MCP session, its own
outcome). Both rows are kept; readers that count or list *calls* fold the server row into
its client row with this rule (the ``agentaudit.calls`` view of migration 0041, the
dashboards, the detector):

A server row is folded into a client row when

* both are in the same trace and the server row's ``parent_span_id`` is the client
  row's ``span_id`` (the MCP client sends its span context in the request ``_meta``);
* they record the same action: same ``tool_name``, ``tool_call_id`` and non-empty
  ``arguments_hash``;
* it is that client row's first server row (smallest ``span_id``): a client row folds
  one server row at most.

Every other row is a call of its own: a server row whose caller exported nothing (an
uninstrumented MCP client), one that names a client span that is not stored, one that
records another action than its client row, a second server row under one client row.
A span therefore cannot hide a call by claiming to be a server-side duplicate: what it
claims (its side, its parent, its call id) only folds it into a stored row that records
the same action, once - the property :func:`agentaudit.collector.writer.normalise.duplicates`
gives within a batch, here at read time, across batches and collectors.

The fragments below are SQL text over ``agentaudit.tool_calls``; ``where`` is a
condition on the server rows considered (e.g. the time window of the outer query),
spliced verbatim: pass module constants, never input.
"""

from __future__ import annotations

from typing import Final

from agentaudit.schema import attributes as A

__all__ = ["FOLDED", "ONE_PER_CALL", "SIDES", "folded_server_rows", "one_per_call"]

SIDES: Final = (A.CALL_SIDE_CLIENT, A.CALL_SIDE_SERVER, A.CALL_SIDE_LOCAL)
"""The values of ``tool_calls.call_side`` (``''`` on rows written before migration 0040)."""

_CLIENT = f"'{A.CALL_SIDE_CLIENT}'"
_SERVER = f"'{A.CALL_SIDE_SERVER}'"


def folded_server_rows(where: str = "1") -> str:
    """``SELECT trace_id, span_id`` of the folded server rows among those matching ``where``.

    The client rows are looked up only in the traces of those server rows (the bloom
    filter on ``trace_id`` skips the rest).
    """
    servers = f"call_side = {_SERVER} AND ({where})"
    return (
        f"SELECT trace_id, min(span_id) FROM agentaudit.tool_calls WHERE {servers} "  # noqa: S608 - constants only
        "AND (trace_id, parent_span_id, tool_name, tool_call_id, arguments_hash) IN ("
        "SELECT trace_id, span_id, tool_name, tool_call_id, arguments_hash "
        f"FROM agentaudit.tool_calls WHERE call_side = {_CLIENT} AND arguments_hash != '' "
        f"AND trace_id IN (SELECT trace_id FROM agentaudit.tool_calls WHERE {servers})) "
        "GROUP BY trace_id, parent_span_id"
    )


def one_per_call(where: str = "1") -> str:
    """A condition keeping one row per call: every row but the folded server rows.

    ``where`` narrows the server rows looked at (it must hold for every server row the
    outer query reads, e.g. the same time window), so the lookup stays small.
    """
    return f"(call_side != {_SERVER} OR (trace_id, span_id) NOT IN ({folded_server_rows(where)}))"


FOLDED: Final = folded_server_rows()
"""Every folded server row of the table."""
ONE_PER_CALL: Final = one_per_call()
"""One row per call over the whole table."""
