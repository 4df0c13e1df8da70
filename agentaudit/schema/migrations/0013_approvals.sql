-- Approvals granted through the admin API (POST /v1/approvals): one row per grant,
-- written before the grant is handed out. The grant (a signed JWS) is not stored: its id
-- is, and tool_calls.approval_grant_id names it on the call it verified for.
CREATE TABLE IF NOT EXISTS agentaudit.approvals
(
    grant_id        String,
    issued_at       DateTime('UTC'),
    expires_at      DateTime('UTC'),
    approver        String,
    granted_by      String,
    agent_id        String,
    tool_name       String,
    arguments_hash  String,
    resource_ids    Array(String),
    user_id         String,
    session_id      String,
    reason          String
)
ENGINE = ReplacingMergeTree
ORDER BY grant_id;
