"""The agentaudit collector: receive OTLP spans, make them durable, store them, and serve
the admin API. Rooms by concern (see README.md beside this file)::

    ingest/   receivers -> otlp_decode -> pipeline (validate, stamp, redaction/) -> WAL -> ack
    wal/      the write-ahead log, its record codec, the follower of a worker's log
    writer/   batches -> normalise -> arrow_tables -> agentaudit.store
    workers/  receive-only worker processes (--workers N) and their pool
    identity/ principals and tokens, the agent registry, signed approvals
    admin/    the admin API behind one gate: SQL, agents, approvals, revocation/
    serving/  HTTP plumbing shared by the OTLP/HTTP receiver and the admin API

Importing this package is cheap: the heavy dependencies (chdb, clickhouse-connect, grpcio,
pyarrow) load only with the modules that use them, which need
``pip install 'agentaudit[collector]'``.
"""
