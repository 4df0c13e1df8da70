-- The agent registry (`agentaudit agents add`): one version row per change, the newest
-- `updated_at` per `name` wins. `name` is the agent's canonical id (NFKC, case-folded,
-- printable ASCII); `token_digest` is the SHA-256 of its export token, which is never
-- stored; `token_hint` is the token's first characters, for telling tokens apart.
-- `state` is `active` or `revoked` (a revoked agent's token is refused everywhere).
CREATE TABLE IF NOT EXISTS agentaudit.agents
(
    name          String,
    updated_at    DateTime64(6, 'UTC'),
    state         LowCardinality(String),
    owner         String,
    description   String,
    token_digest  String,
    token_hint    String,
    created_at    DateTime64(6, 'UTC'),
    actor         String,
    reason        String
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY name;
