-- Revocation requests and their outcome, one version per state change (the newest
-- `updated_at` wins). Every revocation and release is itself audited here.
CREATE TABLE IF NOT EXISTS agentaudit.revocations
(
    id            String,
    requested_at  DateTime64(3, 'UTC'),
    updated_at    DateTime64(3, 'UTC'),
    target        LowCardinality(String),
    target_id     String,
    reason        String,
    requested_by  String,
    status        LowCardinality(String),
    results       Map(LowCardinality(String), String)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;
