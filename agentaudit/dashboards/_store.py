"""The standalone dashboard's store: opened from the environment once per process."""

from __future__ import annotations

import os

import streamlit as st

from agentaudit.errors import ConfigError
from agentaudit.store import Store

__all__ = ["env_store"]

DSN_VARIABLE = "AGENTAUDIT_CLICKHOUSE_URL"
READER_VARIABLE = "AGENTAUDIT_READER_CLICKHOUSE_URL"


@st.cache_resource(show_spinner=False)
def env_store() -> Store:
    """Open the store named by ``AGENTAUDIT_CLICKHOUSE_URL`` (shared by all sessions)."""
    dsn = os.environ.get(DSN_VARIABLE, "")
    if not dsn:
        raise ConfigError(
            f"{DSN_VARIABLE} is not set; start the dashboard with "
            "`agentaudit dashboard --clickhouse DSN` or inside `agentaudit up`"
        )
    return Store.open(dsn, reader_dsn=os.environ.get(READER_VARIABLE) or None)
