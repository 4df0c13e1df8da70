"""Shared conventions of agentaudit: attribute names, ClickHouse migrations, rule packs.

Both sides of the pipeline import from here, so a name is spelled once: the
instrumentation writes these attributes, the collector reads them.
"""
