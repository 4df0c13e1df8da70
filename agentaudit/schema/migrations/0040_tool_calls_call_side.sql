-- Which side of a call a row records (agentaudit.schema.calls): `client` (the caller's
-- record of a call a tool server ran: the MCP client's span, or the framework tool span
-- it forwarded), `server` (the tool server's record of it), `local` (the tool ran in
-- the caller's process); '' on rows written before this migration. Both sides of an
-- MCP call are kept, linked by trace, parent span and `tool_call_id`; readers counting
-- calls fold a server row into its client row (view `agentaudit.calls`, migration 0041).
-- The set index lets the fold's lookups of server rows skip granules that hold none.
ALTER TABLE agentaudit.tool_calls
    ADD COLUMN IF NOT EXISTS call_side LowCardinality(String) DEFAULT '';
ALTER TABLE agentaudit.tool_calls
    ADD INDEX IF NOT EXISTS idx_call_side call_side TYPE set(8) GRANULARITY 4;
ALTER TABLE agentaudit.tool_calls MATERIALIZE INDEX idx_call_side;
