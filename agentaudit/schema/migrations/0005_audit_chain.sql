-- Tamper evidence: one link per written tool_calls batch (collector/chain.py).
-- rows_hash is SHA-256 over the batch's canonical rows (format `v1`); chain_hash links
-- each batch to the previous one of the same chain (one chain per WAL directory);
-- signature is an optional HMAC-SHA256 of chain_hash. `agentaudit verify` recomputes all
-- of it from the rows. The writer inserts each link with a deduplication token, so a
-- replayed batch never adds a second link.
CREATE TABLE IF NOT EXISTS agentaudit.audit_chain
(
    chain_id     LowCardinality(String),
    seq          UInt64,
    batch_id     String,
    row_count    UInt64,
    rows_hash    String,
    prev_hash    String,
    chain_hash   String,
    signature    String,
    format       LowCardinality(String),
    written_at   DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (chain_id, seq)
SETTINGS non_replicated_deduplication_window = 10000;
