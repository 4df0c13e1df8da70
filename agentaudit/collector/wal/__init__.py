"""The write-ahead log: acknowledged spans, redacted, durable until they are stored.

log.Wal (segments, checkpoint, replay), codec (the span batch format of a record),
follower.WalFollower (the store-owning process reading a worker's WAL).
"""
