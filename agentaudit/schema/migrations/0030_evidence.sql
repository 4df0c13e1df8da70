-- Evidence that holds up (docs/evidence.md): every audit table chained, retention with
-- legal holds, erasure records.
--
-- `_written_at`: when the store received the row, set by ClickHouse itself at insert
-- (MATERIALIZED: no writer sends it, `SELECT *` does not show it, one value per insert
-- statement). The sealer (agentaudit.store.evidence.seal) chains the rows of every audit
-- table by it, and retention (TTL) counts from it. Rows written before this migration
-- get its time (MATERIALIZE COLUMN). A new audit table declares the same column.
-- cleanup_delay_period and max_cleanup_delay_period: removed parts leave the disk within
-- seconds, not minutes (the cleanup never backs off; an erasure must not leave the old
-- bytes behind for long).
ALTER TABLE agentaudit.tool_calls
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.tool_calls MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.tool_calls
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.otel_traces
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.otel_traces MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.otel_traces
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.revocations
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.revocations MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.revocations
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.quarantine
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.quarantine MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.quarantine
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.denylist
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.denylist MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.denylist
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.agents
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.agents MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.agents
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.approvals
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.approvals MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.approvals
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.findings
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.findings MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.findings
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.detector_baselines
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.detector_baselines
    MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.detector_baselines
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
ALTER TABLE agentaudit.card_signoffs
    ADD COLUMN IF NOT EXISTS _written_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
ALTER TABLE agentaudit.card_signoffs MATERIALIZE COLUMN _written_at SETTINGS mutations_sync = 2;
ALTER TABLE agentaudit.card_signoffs
    MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;

-- tool_calls links of format v3 name the columns they cover (every physical column of
-- tool_calls when the link was written), so a column added later is covered from then on.
ALTER TABLE agentaudit.audit_chain
    ADD COLUMN IF NOT EXISTS columns Array(LowCardinality(String)) DEFAULT [];

-- The seal chain over every other audit table: one link per (seal, table) for the rows
-- written in (since_us, until_us]; its entries are the units it covers: for a plain
-- MergeTree table one entry per insert (all rows with one `_written_at`: count and
-- digest), for a ReplacingMergeTree table one entry per row (its hash, sorting key and
-- version), so a merge that drops an old version is told apart from a deletion.
-- `uid` ties a link to its entries (entries of an attempt that never got its link are
-- ignored). One chain per collector state directory (`chain_id`).
CREATE TABLE IF NOT EXISTS agentaudit.audit_seals
(
    chain_id      LowCardinality(String),
    seq           UInt64,
    uid           String,
    table         LowCardinality(String),
    kind          LowCardinality(String),
    since_us      Int64,
    until_us      Int64,
    row_count     UInt64,
    entry_count   UInt64,
    rows_hash     String,
    columns       Array(LowCardinality(String)),
    prev_hash     String,
    chain_hash    String,
    signature     String,
    format        LowCardinality(String),
    sealed_at     DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (chain_id, seq)
SETTINGS non_replicated_deduplication_window = 10000;
CREATE TABLE IF NOT EXISTS agentaudit.audit_seal_entries
(
    chain_id      LowCardinality(String),
    seq           UInt64,
    uid           String,
    table         LowCardinality(String),
    written_us    Int64,
    row_count     UInt64,
    row_hash      String,
    key           String,
    row_version   String
)
ENGINE = MergeTree
ORDER BY (chain_id, seq, table, written_us)
SETTINGS non_replicated_deduplication_window = 10000;

-- Legal holds (agentaudit hold, POST /v1/holds): one row when placed, one when released.
-- kind: session, agent, user (value = the id) or time (from_us..to_us, event time).
-- While placed, the retention TTL of every table keeps the rows it covers.
CREATE TABLE IF NOT EXISTS agentaudit.legal_holds
(
    hold_id      String,
    action       LowCardinality(String),
    at           DateTime64(3, 'UTC'),
    actor        String,
    reason       String,
    kind         LowCardinality(String),
    value        String,
    from_us      Int64,
    to_us        Int64,
    _written_at  DateTime64(6, 'UTC') MATERIALIZED now64(6)
)
ENGINE = MergeTree
ORDER BY (hold_id, at)
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
-- What a hold keeps, per unit (tool_calls: batch id; MergeTree table: `_written_at` in
-- microseconds; ReplacingMergeTree table: the row hash): the held rows' count and digest
-- over `columns`, so rows kept past retention stay verifiable.
CREATE TABLE IF NOT EXISTS agentaudit.hold_units
(
    hold_id      String,
    table        LowCardinality(String),
    unit         String,
    row_count    UInt64,
    rows_hash    String,
    columns      Array(LowCardinality(String)),
    until_us     Int64,
    _written_at  DateTime64(6, 'UTC') MATERIALIZED now64(6)
)
ENGINE = MergeTree
ORDER BY (hold_id, table, unit)
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;

-- Retention in force: one row per change (the table's TTL in seconds, 0 = kept forever,
-- and the holds it spares). `agentaudit verify` reads expiry against this history.
CREATE TABLE IF NOT EXISTS agentaudit.retention_policies
(
    table        LowCardinality(String),
    seconds      UInt64,
    hold_ids     Array(String),
    set_at       DateTime64(3, 'UTC'),
    actor        String,
    _written_at  DateTime64(6, 'UTC') MATERIALIZED now64(6)
)
ENGINE = MergeTree
ORDER BY (table, set_at)
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;

-- Erasures (GDPR Art. 17; agentaudit erase, POST /v1/erasures): who, when, why - never
-- whose. `replacement` is what the subject's identifiers became. Per unit changed, its
-- digest before and after (tool_calls: batch id; MergeTree table: `_written_at`;
-- ReplacingMergeTree table: the row hash before, or '' for a row the erasure wrote),
-- so verify proves every other byte of the unit untouched since it was chained.
CREATE TABLE IF NOT EXISTS agentaudit.erasures
(
    erasure_id   String,
    at           DateTime64(3, 'UTC'),
    actor        String,
    reason       String,
    replacement  String,
    terms        UInt32,
    rows_changed UInt64,
    tables       Array(LowCardinality(String)),
    _written_at  DateTime64(6, 'UTC') MATERIALIZED now64(6)
)
ENGINE = MergeTree
ORDER BY (at, erasure_id)
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
CREATE TABLE IF NOT EXISTS agentaudit.erasure_units
(
    erasure_id    String,
    seq           UInt32,
    table         LowCardinality(String),
    unit          String,
    before_hash   String,
    after_hash    String,
    before_count  UInt64,
    after_count   UInt64,
    columns       Array(LowCardinality(String)),
    _written_at   DateTime64(6, 'UTC') MATERIALIZED now64(6)
)
ENGINE = MergeTree
ORDER BY (erasure_id, seq)
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
        max_cleanup_delay_period = 1;
