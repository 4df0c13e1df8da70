-- Detector findings (agentaudit/detector): one row per finding, then one version row per
-- triage change (the newest `updated_at` per `finding_id` wins). `evidence` is JSON:
-- observed vs baseline figures, the triggering calls (trace/span ids) and their untrusted
-- sources. `action` is what the policy did (`alert`, `quarantine`, `revoke_credential`,
-- `none`); `revocation_id` joins `revocations` when it acted. `state` is the triage state
-- (`open`, `acknowledged`, `false_positive`, `escalated`), changed by responders only.
-- `group_key` groups the findings of one ongoing incident (agent, rule, session).
CREATE TABLE IF NOT EXISTS agentaudit.findings
(
    ts              DateTime64(3, 'UTC'),
    finding_id      String,
    updated_at      DateTime64(3, 'UTC'),
    agent_id        LowCardinality(String),
    user_id         String,
    session_id      String,
    trace_id        String,
    span_id         String,
    tool_name       LowCardinality(String),
    rule            LowCardinality(String),
    severity        LowCardinality(String),
    score           Float64,
    summary         String,
    evidence        String CODEC(ZSTD(3)),
    action          LowCardinality(String),
    revocation_id   String,
    group_key       String,
    state           LowCardinality(String),
    triaged_by      String,
    triage_reason   String,

    INDEX idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_rule    rule       TYPE set(64)            GRANULARITY 4
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (agent_id, finding_id);
