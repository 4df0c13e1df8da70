"""Ingest: everything a span goes through before its export is acknowledged.

receiver_grpc / receiver_http (authenticate before reading; payload + wire + budget:
read, inflate and decode within the process's memory budget; otlp_decode into
collector.model.SpanRecord) -> pipeline (validate, stamp the sender and verify approvals,
redaction, append to the WAL) -> acknowledge.
What happens after the acknowledgement lives in :mod:`agentaudit.collector.wal` and
:mod:`agentaudit.collector.writer`.
"""
