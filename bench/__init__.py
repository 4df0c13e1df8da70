"""Benchmarks of agentaudit. Run all with ``make bench`` (``python -m bench``)."""
