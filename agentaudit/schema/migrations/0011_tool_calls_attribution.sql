-- Who sent each tool call, as the collector established it (never read from the span):
-- `authenticated_agent` is the registered agent whose token sent the span ('' for the
-- shared agent token and for open mode); `authentication` says how the sender proved
-- itself (`agent_token`, `shared_token`, `none` in open mode; '' on rows written before
-- this migration); `agent_mismatch` = 1 when the span claims another agent id than the
-- token's. `approval_verified` = 1 when the span carried a signed approval the collector
-- verified for exactly this action; `approval_grant_id` names that approval.
ALTER TABLE agentaudit.tool_calls
    ADD COLUMN IF NOT EXISTS authenticated_agent LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS authentication LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS agent_mismatch UInt8 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS approval_verified UInt8 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS approval_grant_id String DEFAULT '';
ALTER TABLE agentaudit.tool_calls
    ADD INDEX IF NOT EXISTS idx_mismatch agent_mismatch TYPE minmax GRANULARITY 4;
