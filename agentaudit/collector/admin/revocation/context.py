"""The alert context of a revocation: the triggering tool call, read from ``tool_calls``
(or, for a call only a tool server recorded, ``tool_call_server_sides``).

With an explicit trigger (``trace_id`` + ``span_id`` in the request) that call is used;
otherwise the newest call of the revoked agent / user / session / credential that no
human asked for (unapproved, prompted by untrusted content), else its newest call: the
responder is pointed at the suspicious action, not at whatever ran last. The arguments
are the stored, already-redacted JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import quote

from agentaudit.collector.admin.revocation.model import AlertContext
from agentaudit.schema.calls import ALL_SIDES
from agentaudit.store import Store, StoreError

__all__ = ["ContextLoader", "forensics_link", "tool_call_context"]

log = logging.getLogger(__name__)

ContextLoader = Callable[[str, str, Mapping[str, str] | None], AlertContext | None]

TARGET_COLUMNS: Final = {
    "agent": "agent_id",
    "user": "user_id",
    "session": "session_id",
    "credential": "credential_id",
}
_SELECT: Final = (
    "SELECT agent_id, user_id, session_id, tool_name, arguments, resource_ids, source_refs, "  # noqa: S608 - a constant
    "source_kinds, source_trust, approval_status, credential_id, trace_id, span_id, "
    f"toString(ts) FROM {ALL_SIDES} "
)


def tool_call_context(store: Store) -> ContextLoader:
    """A loader over ``store``; a failing query yields None (the alert goes out anyway)."""

    def load(target: str, target_id: str, trigger: Mapping[str, str] | None) -> AlertContext | None:
        if trigger and trigger.get("span_id"):
            sql = _SELECT + "WHERE span_id = {span:String} AND trace_id = {trace:String} LIMIT 1"
            parameters = {"span": trigger["span_id"], "trace": trigger.get("trace_id", "")}
        else:
            column = TARGET_COLUMNS[target]
            sql = _SELECT + (
                f"WHERE {column} = {{id:String}} "
                "ORDER BY (untrusted_source = 1 AND approval_status = 'none') DESC, ts DESC "
                "LIMIT 1"
            )
            parameters = {"id": target_id}
        try:
            rows = store.query(sql, parameters).rows
        except StoreError as exc:
            log.warning("no alert context for %s %s: %s", target, target_id, exc)
            return None
        if not rows:
            return None
        row = rows[0]
        return AlertContext(
            agent=row[0],
            user=row[1],
            session=row[2],
            tool=row[3],
            arguments=row[4],
            resource_ids=tuple(row[5]),
            source_refs=tuple(row[6]),
            source_kinds=tuple(row[7]),
            source_trust=tuple(row[8]),
            approval_status=row[9],
            credential_id=row[10],
            trace_id=row[11],
            span_id=row[12],
            ts=row[13],
        )

    return load


def forensics_link(
    dashboard_url: str | None, target: str, target_id: str, context: AlertContext | None
) -> str | None:
    """The Session forensics deep link (``/session?session=`` or ``?trace=``)."""
    if not dashboard_url:
        return None
    base = dashboard_url.rstrip("/") + "/session"
    session = target_id if target == "session" else (context.session if context else "")
    if session:
        return f"{base}?session={quote(session, safe='')}"
    if context and context.trace_id:
        return f"{base}?trace={quote(context.trace_id, safe='')}"
    return None
