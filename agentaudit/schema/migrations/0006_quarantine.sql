-- Quarantine state per agent (collector/quarantine.py): one version row per change, the
-- newest `updated_at` wins. `state` is `quarantined` or `released`; `since` is when the
-- current quarantine began. Who and why are here and, with per-backend results, in
-- `revocations` (`revocation_id` joins them). What the runtime polls: GET /v1/quarantine.
CREATE TABLE IF NOT EXISTS agentaudit.quarantine
(
    agent_id       String,
    updated_at     DateTime64(6, 'UTC'),
    state          LowCardinality(String),
    since          DateTime64(6, 'UTC'),
    reason         String,
    actor          String,
    revocation_id  String
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY agent_id;
