"""The agentaudit collector: OTLP receivers, redaction, write-ahead log, batch writer,
ClickHouse store, admin API.

Importing this package is cheap: the heavy dependencies (chdb, clickhouse-connect,
grpcio, pyarrow) load only with the submodules that use them, which need
``pip install 'agentaudit[collector]'``.

The data path (each module one concern)::

    receiver_grpc / receiver_http  ->  (redact)  ->  (WAL)  ->  writer  ->  store
        decode OTLP into spans.SpanRecord     normalise -> arrow_batches -> insert_arrow
"""
