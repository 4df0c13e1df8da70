-- Per-agent baselines of the detector (agentaudit/detector): one version row per save,
-- the newest `updated_at` per agent wins. `baseline` is JSON (docs/detector.md lists its
-- keys: calls, first_ts, last_ts, learning, tools, transitions, resources_per_tool,
-- fanout, cadence, hours, scopes, provenance, argument_keys, reference). `watermark` is
-- the received_at (ns) of the newest call the saved baseline includes.
CREATE TABLE IF NOT EXISTS agentaudit.detector_baselines
(
    agent_id    String,
    updated_at  DateTime64(3, 'UTC'),
    watermark   Int64,
    baseline    String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY agent_id;
