-- The credential broker's deny-list (agentaudit.broker DenyList), so revocations survive
-- restarts. kind: credential (value = jti / accessor), agent, user or session. A
-- credential entry refuses that id until `until`; a principal entry refuses credentials
-- issued at or before `since`, and blocks new ones until `lifted_at` is set.
-- One version row per change; the newest `updated_at` per (kind, value) wins.
CREATE TABLE IF NOT EXISTS agentaudit.denylist
(
    kind           LowCardinality(String),
    value          String,
    since          DateTime64(6, 'UTC'),
    until          Nullable(DateTime64(6, 'UTC')),
    lifted_at      Nullable(DateTime64(6, 'UTC')),
    reason         String,
    revocation_id  String,
    updated_at     DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (kind, value);

-- Revocations and releases share one audit table: `action` tells them apart.
-- Status: pending, done, partial, failed, or refused (an agent token presented to a
-- responder endpoint; recorded, nothing done).
ALTER TABLE agentaudit.revocations
    ADD COLUMN IF NOT EXISTS action LowCardinality(String) DEFAULT 'revoke' AFTER updated_at;
