"""Ingest: everything a span goes through before its export is acknowledged.

receiver_grpc / receiver_http (authenticate, decode with otlp_decode into
model.SpanRecord) -> pipeline (validate, redaction, append to the WAL) -> acknowledge.
What happens after the acknowledgement lives in :mod:`agentaudit.collector.wal` and
:mod:`agentaudit.collector.writer`.
"""
