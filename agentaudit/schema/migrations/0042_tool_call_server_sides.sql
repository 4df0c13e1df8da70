-- One row per tool call in tool_calls (agentaudit.schema.calls; issue #14): the tool
-- server's record of a call that an instrumented caller linked to its own record
-- (`call_side = 'server'` with a `tool_call_id` and a parent span, both sent in the
-- request `_meta`, and an arguments hash, which only our instrumentation computes and
-- without which no caller row can match) is written here, not to tool_calls. Every
-- other row (client, local, a server row an uninstrumented caller sent no link for,
-- rows written before this migration) stays in tool_calls, so
-- `SELECT count() FROM agentaudit.tool_calls` is the number of calls the agents made.
-- The columns, their order and types are tool_calls' (a test compares them): the writer
-- inserts the same rows, and the chain (sealed per insert by `_written_at`, like every
-- plain MergeTree audit table), holds, retention, erasure, digests and the SIEM export
-- read it as they read the other audit tables. A later migration that adds a column to
-- tool_calls adds it here too. The indexes are tool_calls' (no idx_call_side: every row
-- is a server's), and idx_received for the sweep of agentaudit.detector.unrecorded,
-- which reads the records in the order they were received. The link is the caller's
-- claim: view `agentaudit.calls` below counts a record here that matches no caller row
-- as a call of its own, and agentaudit.detector.unrecorded finds it.
CREATE TABLE IF NOT EXISTS agentaudit.tool_call_server_sides
(
    ts                     DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    duration_ns            UInt64,
    trace_id               String CODEC(ZSTD(1)),
    span_id                String CODEC(ZSTD(1)),
    parent_span_id         String CODEC(ZSTD(1)),
    service_name           LowCardinality(String),
    agent_id               LowCardinality(String),
    agent_name             LowCardinality(String),
    user_id                String,
    session_id             String,
    conversation_id        String,
    tool_name              LowCardinality(String),
    tool_call_id           String,
    tool_type              LowCardinality(String),
    framework              LowCardinality(String),
    arguments              String CODEC(ZSTD(3)),
    arguments_hash         String,
    result_hash            String,
    prompt_hash            String,
    source_refs            Array(String),
    source_kinds           Array(LowCardinality(String)),
    source_trust           Array(LowCardinality(String)),
    source_hashes          Array(String),
    untrusted_source       UInt8,
    resource_ids           Array(String),
    approval_status        LowCardinality(String),
    approver               String,
    credential_id          String,
    credential_scopes      Array(LowCardinality(String)),
    credential_expires_at  DateTime('UTC'),
    decision               LowCardinality(String),
    status                 LowCardinality(String),
    error_type             LowCardinality(String),
    attributes             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource_attributes    Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    redactions             Map(LowCardinality(String), UInt32),
    received_at            DateTime64(3, 'UTC'),
    batch_id               String,
    authenticated_agent    LowCardinality(String) DEFAULT '',
    authentication         LowCardinality(String) DEFAULT '',
    agent_mismatch         UInt8 DEFAULT 0,
    approval_verified      UInt8 DEFAULT 0,
    approval_grant_id      String DEFAULT '',
    _written_at            DateTime64(6, 'UTC') MATERIALIZED now64(6),
    call_side              LowCardinality(String) DEFAULT '',

    INDEX idx_user        user_id         TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_session     session_id      TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_trace       trace_id        TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_resource    resource_ids    TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_credential  credential_id   TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_tool        tool_name       TYPE set(256)           GRANULARITY 4,
    INDEX idx_batch       batch_id        TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_arguments_text lowerUTF8(arguments) TYPE ngrambf_v1(3, 65536, 3, 0) GRANULARITY 1,
    INDEX idx_mismatch    agent_mismatch  TYPE minmax             GRANULARITY 4,
    INDEX idx_received    received_at     TYPE minmax             GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (agent_id, ts)
SETTINGS non_replicated_deduplication_window = 10000, cleanup_delay_period = 1,
    cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 1;

-- One row per tool call, redefined over both tables (agentaudit.schema.calls):
-- * every tool_calls row, except a server row there that is folded into its client row
--   (rows written before this migration keep both sides in tool_calls: migration 0041's
--   fold, unchanged);
-- * joined with the server's record of that call, from tool_calls (older rows) or from
--   tool_call_server_sides: same trace, its parent span is the client row, same tool,
--   tool_call_id and non-empty arguments hash, the first (smallest span id) one per
--   client row. Its facts come along as server_* columns;
-- * and every tool_call_server_sides record that no client row took: a caller that
--   claimed to record the call and sent nothing, or a second record under one client
--   row. It stays a call of its own (server_* empty), so the view never loses a call.
DROP VIEW IF EXISTS agentaudit.calls;
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
    FROM
    (
        SELECT trace_id, parent_span_id, span_id, service_name, resource_ids,
            conversation_id, status, error_type
        FROM agentaudit.tool_calls WHERE call_side = 'server'
        UNION ALL
        SELECT trace_id, parent_span_id, span_id, service_name, resource_ids,
            conversation_id, status, error_type
        FROM agentaudit.tool_call_server_sides
    )
    WHERE (trace_id, span_id) IN
    (
        SELECT trace_id, min(span_id) FROM
        (
            SELECT trace_id, span_id, parent_span_id, tool_name, tool_call_id, arguments_hash
            FROM agentaudit.tool_calls WHERE call_side = 'server'
            UNION ALL
            SELECT trace_id, span_id, parent_span_id, tool_name, tool_call_id, arguments_hash
            FROM agentaudit.tool_call_server_sides
        )
        WHERE (trace_id, parent_span_id, tool_name, tool_call_id, arguments_hash) IN
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
    SELECT trace_id, min(span_id) FROM
    (
        SELECT trace_id, span_id, parent_span_id, tool_name, tool_call_id, arguments_hash
        FROM agentaudit.tool_calls WHERE call_side = 'server'
        UNION ALL
        SELECT trace_id, span_id, parent_span_id, tool_name, tool_call_id, arguments_hash
        FROM agentaudit.tool_call_server_sides
    )
    WHERE (trace_id, parent_span_id, tool_name, tool_call_id, arguments_hash) IN
    (
        SELECT trace_id, span_id, tool_name, tool_call_id, arguments_hash
        FROM agentaudit.tool_calls
        WHERE call_side = 'client' AND arguments_hash != ''
    )
    GROUP BY trace_id, parent_span_id
)
UNION ALL
SELECT
    o.*,
    '' AS server_service,
    '' AS server_span_id,
    CAST([], 'Array(String)') AS server_resource_ids,
    '' AS server_conversation_id,
    '' AS server_status,
    '' AS server_error_type
FROM agentaudit.tool_call_server_sides AS o
WHERE (o.trace_id, o.span_id) NOT IN
(
    SELECT trace_id, min(span_id) FROM
    (
        SELECT trace_id, span_id, parent_span_id, tool_name, tool_call_id, arguments_hash
        FROM agentaudit.tool_calls WHERE call_side = 'server'
        UNION ALL
        SELECT trace_id, span_id, parent_span_id, tool_name, tool_call_id, arguments_hash
        FROM agentaudit.tool_call_server_sides
    )
    WHERE (trace_id, parent_span_id, tool_name, tool_call_id, arguments_hash) IN
    (
        SELECT trace_id, span_id, tool_name, tool_call_id, arguments_hash
        FROM agentaudit.tool_calls
        WHERE call_side = 'client' AND arguments_hash != ''
    )
    GROUP BY trace_id, parent_span_id
);
