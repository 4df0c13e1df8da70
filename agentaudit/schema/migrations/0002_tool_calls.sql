-- One row per tool call, with typed provenance columns (DESIGN §4).
-- Ordering key: the first forensic question is "everything agent A did in a time range",
-- so rows sort by agent, then time. The other questions (by user, session, trace,
-- resource, credential, untrusted + unapproved) are served by skip indexes.
-- non_replicated_deduplication_window lets the writer's per-batch dedup token make a
-- replayed batch a no-op, so duplicates never appear, even without FINAL.
CREATE TABLE IF NOT EXISTS agentaudit.tool_calls
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

    INDEX idx_user        user_id         TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_session     session_id      TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_trace       trace_id        TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_resource    resource_ids    TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_credential  credential_id   TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_tool        tool_name       TYPE set(256)           GRANULARITY 4,
    INDEX idx_untrusted   untrusted_source TYPE minmax            GRANULARITY 4,
    INDEX idx_batch       batch_id        TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (agent_id, ts)
SETTINGS non_replicated_deduplication_window = 10000;
