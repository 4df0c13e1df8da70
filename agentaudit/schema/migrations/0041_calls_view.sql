-- One row per tool call (agentaudit.schema.calls): every tool_calls row except a tool
-- server's row that is folded into its caller's row - same trace, its parent span is
-- that client row, same tool, tool_call_id and arguments hash, one server row per
-- client row at most. A folded server row's own facts come along as server_* columns
-- (its service, the resources it touched, its MCP session, its outcome); a server row
-- with no such client row (an uninstrumented caller, or a claim that matches nothing)
-- stays a call of its own, so no span can hide a call by claiming to be a duplicate.
-- Both sides stay in tool_calls; count calls here: SELECT count() FROM agentaudit.calls.
CREATE VIEW IF NOT EXISTS agentaudit.calls AS
SELECT
    c.*,
    s.s_service AS server_service,
    s.s_span_id AS server_span_id,
    s.s_resource_ids AS server_resource_ids,
    s.s_conversation_id AS server_conversation_id,
    s.s_status AS server_status,
    s.s_error_type AS server_error_type
FROM agentaudit.tool_calls AS c
LEFT JOIN
(
    SELECT
        trace_id AS s_trace_id,
        parent_span_id AS s_parent_span_id,
        span_id AS s_span_id,
        service_name AS s_service,
        resource_ids AS s_resource_ids,
        conversation_id AS s_conversation_id,
        status AS s_status,
        error_type AS s_error_type
    FROM agentaudit.tool_calls
    WHERE call_side = 'server' AND (trace_id, span_id) IN
    (
        SELECT trace_id, min(span_id) FROM agentaudit.tool_calls
        WHERE call_side = 'server'
          AND (trace_id, parent_span_id, tool_name, tool_call_id, arguments_hash) IN
          (
              SELECT trace_id, span_id, tool_name, tool_call_id, arguments_hash
              FROM agentaudit.tool_calls
              WHERE call_side = 'client' AND arguments_hash != ''
          )
        GROUP BY trace_id, parent_span_id
    )
) AS s ON c.trace_id = s.s_trace_id AND c.span_id = s.s_parent_span_id
WHERE c.call_side != 'server' OR (c.trace_id, c.span_id) NOT IN
(
    SELECT trace_id, min(span_id) FROM agentaudit.tool_calls
    WHERE call_side = 'server'
      AND (trace_id, parent_span_id, tool_name, tool_call_id, arguments_hash) IN
      (
          SELECT trace_id, span_id, tool_name, tool_call_id, arguments_hash
          FROM agentaudit.tool_calls
          WHERE call_side = 'client' AND arguments_hash != ''
      )
    GROUP BY trace_id, parent_span_id
);
