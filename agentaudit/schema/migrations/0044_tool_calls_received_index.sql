-- Investigate's window over the receipt time (`time=received`): a call's `ts` is the
-- agent's claim, `received_at` the collector's clock. Each insert writes a part of one
-- narrow receipt range, and in merged parts (sorted by agent, then ts) an honest call's
-- receipt follows its ts, so a minmax index prunes a receipt window much as the sort key
-- prunes a claimed one. Parts written before this migration are read whole until merged.
ALTER TABLE agentaudit.tool_calls
    ADD INDEX IF NOT EXISTS idx_received received_at TYPE minmax GRANULARITY 1;
