"""Receive-only worker processes (``--workers N``): more than one core for ingest.

process (the worker's own ``main``: receivers, redaction, its own WAL; never the store)
and pool (the store-owning side: spawn, supervise, drain each worker's WAL).
"""
