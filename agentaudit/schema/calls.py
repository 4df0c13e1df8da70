"""One row per tool call: where each side of a call is stored, and how sides are folded.

A call an agent makes to an MCP server is recorded twice, by different processes that
may export to different collectors, in batches that arrive in any order: by the agent
(``call_side = 'client'``: arguments, the model's sources and prompt, approval,
credential) and by the server (``'server'``: its service, the resources it touched, the
MCP session, its own outcome). Since migration 0042 the writer stores them apart:

* ``agentaudit.tool_calls`` — one row per call: client, local and legacy (``''``) rows,
  and a server row whose caller sent no link (an uninstrumented MCP client: the
  server's record is the only record of that call);
* ``agentaudit.tool_call_server_sides`` — the server's record of a call its caller
  *linked* to its own record (:func:`is_linked_server_side`: ``call_side = 'server'``,
  a ``tool_call_id`` and a parent span, which our MCP client sends in the request
  ``_meta``, and an arguments hash, which only agentaudit's instrumentation computes).
  Same columns as ``tool_calls``.

So with instrumented callers ``SELECT count() FROM agentaudit.tool_calls`` is the number
of calls. Rows written before 0042 keep both sides in ``tool_calls``.

The link is the caller's claim (hostile input): a caller can claim to record a call and
never send its row. Readers that must not lose a call, or need the server's facts, read
the view ``agentaudit.calls`` (migration 0042), or the fragments below over
:data:`ALL_SIDES`; :mod:`agentaudit.detector.unrecorded` finds the claims that were not
kept. A server record (in either table) is folded into a client row when

* both are in the same trace and the server row's ``parent_span_id`` is the client
  row's ``span_id`` (the MCP client sends its span context in the request ``_meta``);
* they record the same action: same ``tool_name``, ``tool_call_id`` and non-empty
  ``arguments_hash``;
* it is that client row's first server record (smallest ``span_id``): a client row
  folds one server record at most.

Every other server record is a call of its own: one whose caller exported nothing, one
that names a client span that is not stored, one that records another action than its
client row, a second record under one client row. A span therefore cannot hide a call
by claiming to be a server-side duplicate: what it claims (its side, its parent, its
call id) only folds it into a stored row that records the same action, once - the
property :func:`agentaudit.collector.writer.normalise.duplicates` gives within a batch,
here at read time, across batches and collectors.

The fragments below are SQL text; ``where`` is a condition on the server rows considered
(e.g. the time window of the outer query), spliced verbatim: pass module constants,
never input.
"""

from __future__ import annotations

from typing import Final

from agentaudit.schema import attributes as A

__all__ = [
    "ALL_SIDES",
    "AUTH_AGENT_TOKEN",
    "AUTH_NONE",
    "AUTH_SHARED_TOKEN",
    "AUTH_TOOL_SERVER_TOKEN",
    "CALLER_AGENT_SQL",
    "CALLS_TABLE",
    "FOLDED",
    "LINKED_SERVER_SIDE",
    "ONE_PER_CALL",
    "SERVER_SIDES_TABLE",
    "SIDES",
    "claimed_or_received",
    "folded_server_rows",
    "in_window",
    "is_linked_server_side",
    "one_per_call",
]

SIDES: Final = (A.CALL_SIDE_CLIENT, A.CALL_SIDE_SERVER, A.CALL_SIDE_LOCAL)
"""The values of ``tool_calls.call_side`` (``''`` on rows written before migration 0040)."""

CALLS_TABLE: Final = "agentaudit.tool_calls"
SERVER_SIDES_TABLE: Final = "agentaudit.tool_call_server_sides"

ALL_SIDES: Final = f"(SELECT * FROM {CALLS_TABLE} UNION ALL SELECT * FROM {SERVER_SIDES_TABLE})"  # noqa: S608
"""Every recorded side of every call, as one table expression (what ``tool_calls`` held
before migration 0042): read it with :func:`one_per_call` to count calls once, or without
to see every side (e.g. the resources a tool server touched)."""

AUTH_AGENT_TOKEN: Final = "agent_token"  # noqa: S105 - a label, not a secret
AUTH_TOOL_SERVER_TOKEN: Final = "tool_server_token"  # noqa: S105 - a label, not a secret
AUTH_SHARED_TOKEN: Final = "shared_token"  # noqa: S105 - a label, not a secret
AUTH_NONE: Final = "none"
"""Values of ``authentication``: an agent's own registered token, a tool server's
registered token (``agentaudit agents add --tool-server``), the shared agent token, no
authentication (``--insecure-no-auth``); ``''`` on rows of a server store."""

CALLER_AGENT_SQL: Final = (
    f"if(authentication = '{AUTH_TOOL_SERVER_TOKEN}', '', authenticated_agent)"
)
"""The registered agent a row is authenticated as: ``authenticated_agent``, except on a
tool server's record (its token proves the server, not the caller it names)."""

LINKED_SERVER_SIDE: Final = (
    f"(call_side = '{A.CALL_SIDE_SERVER}' AND tool_call_id != '' AND parent_span_id != '' "
    f"AND arguments_hash != '' AND authentication != '{AUTH_AGENT_TOKEN}')"
)
"""SQL form of :func:`is_linked_server_side` over a tool-call row."""


def is_linked_server_side(
    call_side: str,
    tool_call_id: str,
    parent_span_id: str,
    arguments_hash: str,
    authentication: str = "",
) -> bool:
    """Whether a tool-call row is a server's record that its caller linked to its own
    record (stored in ``tool_call_server_sides``): the caller sent its span context and
    tool-call id. Every other row is stored in ``tool_calls``.

    The arguments hash is required too: only agentaudit's instrumentation computes it,
    and the fold needs it, so a peer's server span (another vendor's MCP or HTTP server
    instrumentation, which may carry a parent span and a call id of its own) is never
    taken out of ``tool_calls`` on a link that could not be matched.

    And no agent can make a server record: a row sent with an agent's own registered
    token (``authentication = 'agent_token'``) is that agent's record, whichever agent it
    names, so an agent can neither take its own calls out of ``tool_calls`` (out of its
    detector baseline) nor file a record under another agent's call. A tool server's
    record comes with its own token (``tool_server_token``: registered with
    ``--tool-server``) or the shared one.
    """
    return (
        call_side == A.CALL_SIDE_SERVER
        and bool(tool_call_id)
        and bool(parent_span_id)
        and bool(arguments_hash)
        and authentication != AUTH_AGENT_TOKEN
    )


_CLIENT = f"'{A.CALL_SIDE_CLIENT}'"
_SERVER = f"'{A.CALL_SIDE_SERVER}'"


def folded_server_rows(where: str = "1") -> str:
    """``SELECT trace_id, span_id`` of the folded server records (in either table)
    among those matching ``where``.

    The client rows are looked up only in the traces of those server records (the bloom
    filter on ``trace_id`` skips the rest).
    """
    servers = f"call_side = {_SERVER} AND ({where})"
    return (
        f"SELECT trace_id, min(span_id) FROM {ALL_SIDES} WHERE {servers} "  # noqa: S608 - constants only
        "AND (trace_id, parent_span_id, tool_name, tool_call_id, arguments_hash) IN ("
        "SELECT trace_id, span_id, tool_name, tool_call_id, arguments_hash "
        f"FROM {CALLS_TABLE} WHERE call_side = {_CLIENT} AND arguments_hash != '' "
        f"AND trace_id IN (SELECT trace_id FROM {ALL_SIDES} WHERE {servers})) "
        "GROUP BY trace_id, parent_span_id"
    )


def one_per_call(where: str = "1") -> str:
    """A condition keeping one row per call: every row but the folded server records.

    Over :data:`ALL_SIDES` it gives every call once (what ``agentaudit.calls`` counts);
    over ``tool_calls`` alone it folds the rows written before migration 0042. ``where``
    narrows the server rows looked at (it must hold for every server row the outer query
    reads), so the lookup stays small: the outer query's own condition always holds and
    is the narrowest (an agent's or a session's rows, not the whole window's).
    """
    return f"(call_side != {_SERVER} OR (trace_id, span_id) NOT IN ({folded_server_rows(where)}))"


def in_window(column: str, since: str, until: str | None = None) -> str:
    """``column`` in ``[since, until)`` (no upper bound without ``until``); the bounds are
    SQL time expressions: bound parameters, or literals a caller made."""
    lower = f"{column} >= {since}"
    return lower if until is None else f"{lower} AND {column} < {until}"


def claimed_or_received(since: str, until: str | None = None) -> str:
    """Calls claimed *or* received in ``[since, until)`` (see :func:`in_window`).

    A call's ``ts`` (its span's start) is the agent's claim; ``received_at`` is the
    collector's clock. Over the claimed time alone, an agent that backdates its spans
    keeps its calls out of every recent window; received in the window, a call counts
    whatever it claims (docs/trust.md).
    """
    claimed = in_window("ts", since, until)
    return f"(({claimed}) OR ({in_window('received_at', since, until)}))"


FOLDED: Final = folded_server_rows()
"""Every folded server record of the store."""
ONE_PER_CALL: Final = one_per_call()
"""One row per call over the whole store (read from :data:`ALL_SIDES`)."""
