-- What a registered token proves (`agentaudit agents add [--tool-server]`): `agent` (its
-- spans are the agent's own records) or `tool_server` (a tool server's records of the
-- calls it ran, which name their callers). Rows written before this migration are agents.
ALTER TABLE agentaudit.agents
    ADD COLUMN IF NOT EXISTS kind LowCardinality(String) DEFAULT 'agent';
