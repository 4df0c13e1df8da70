"""The writer: durable spans into ClickHouse rows.

writer.Writer (batches, deduplication tokens, retries, the audit-chain link) ->
normalise (spans into the rows of ``otel_traces`` and the tool-call tables) -> arrow_tables
(rows into Arrow tables, column by column; their schemas in table_schemas) ->
:class:`agentaudit.store.Store`.
"""
