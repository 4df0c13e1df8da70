-- Identity-card sign-offs (`agentaudit card sign AGENT --by NAME`, agentaudit/catalog):
-- one row per sign-off, never updated. `card_hash` is `sha256:<hex>` of `card`, the
-- RFC 8785 canonical JSON of the card's signed content (agent, owner, description, audit
-- destination, revocation path, tools); `signed_by` is the person who attests to it,
-- `recorded_by` the principal that wrote the row (the responder token's label, or `cli`
-- for a store no process held). Tamper evidence per agent: `entry_hash` is SHA-256 over
-- the row's fields and `prev_hash`, the previous sign-off's `entry_hash` of the same
-- agent ('' for the first); agentaudit.catalog.verify_signoffs walks it.
CREATE TABLE IF NOT EXISTS agentaudit.card_signoffs
(
    agent        String,
    signed_at    DateTime64(3, 'UTC'),
    signed_by    String,
    card_hash    String,
    card         String CODEC(ZSTD(3)),
    catalog      String,
    recorded_by  String,
    prev_hash    String,
    entry_hash   String
)
ENGINE = MergeTree
ORDER BY (agent, signed_at);
