"""Saved forensic queries of the SQL console (data only)."""

# ruff: noqa: S608 - constant SQL text, shown to the user and run read-only

from __future__ import annotations

from typing import Final

from agentaudit.schema import attributes as A

__all__ = ["EXAMPLES"]

EXAMPLES: Final[dict[str, str]] = {
    "Unapproved calls prompted by untrusted content (last 24 h)": """\
SELECT ts, agent_id, user_id, session_id, tool_name, source_refs, resource_ids
FROM agentaudit.tool_calls
WHERE ts >= now() - INTERVAL 1 DAY AND untrusted_source = 1 AND approval_status = 'none'
ORDER BY ts DESC
LIMIT 100""",
    "Everything one agent did in the last hour": """\
SELECT ts, tool_name, user_id, session_id, status, resource_ids
FROM agentaudit.tool_calls
WHERE agent_id = 'mail-assistant' AND ts >= now() - INTERVAL 1 HOUR
ORDER BY ts""",
    "Who touched a resource": """\
SELECT ts, agent_id, user_id, tool_name, credential_id, approval_status
FROM agentaudit.tool_calls
WHERE has(resource_ids, 'email:outbound/attacker@evil.example')
ORDER BY ts DESC
LIMIT 100""",
    "Calls made with one credential": """\
SELECT ts, agent_id, tool_name, credential_scopes, credential_expires_at
FROM agentaudit.tool_calls
WHERE credential_id = 'cred-mail-7f3a'
ORDER BY ts DESC
LIMIT 100""",
    "Which sources steered tool calls": """\
SELECT ref, kind, count() AS calls, groupUniqArray(10)(tool_name) AS tools
FROM agentaudit.tool_calls
ARRAY JOIN source_refs AS ref, source_kinds AS kind, source_trust AS trust
WHERE trust = 'untrusted' AND ts >= now() - INTERVAL 7 DAY
GROUP BY ref, kind
ORDER BY calls DESC
LIMIT 50""",
    "Model calls (chat spans) per model": f"""\
SELECT SpanAttributes['{A.GEN_AI_REQUEST_MODEL}'] AS model, count() AS calls
FROM agentaudit.otel_traces
WHERE SpanAttributes['{A.GEN_AI_OPERATION_NAME}'] = '{A.OPERATION_CHAT}'
GROUP BY model
ORDER BY calls DESC""",
    "Revocation history": """\
SELECT requested_at, target, target_id, reason, requested_by, status
FROM agentaudit.revocations FINAL
ORDER BY requested_at DESC""",
}
