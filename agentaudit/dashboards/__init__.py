"""The Streamlit forensics dashboards over the audit store.

Seams: inside ``agentaudit up`` the dashboard runs in the same process as the collector
(chdb allows one process per store directory), so ``up`` calls :func:`register_store`
before starting the server and every page reads through that store. Standalone
(``agentaudit dashboard --clickhouse DSN``) nothing is registered and :func:`get_store`
opens ``AGENTAUDIT_CLICKHOUSE_URL`` once per process (``st.cache_resource``).
:func:`register_config` hands the server's :class:`~agentaudit.config.Config` to the app
the same way (auth users); without it the app loads the config from the environment.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentaudit.config import Config
    from agentaudit.store import Store

__all__ = [
    "get_config",
    "get_store",
    "register_config",
    "register_store",
    "registered_store",
]

_lock = threading.Lock()
_registry: dict[str, Any] = {"store": None, "config": None}


def register_store(store: Store | None) -> None:
    """Make ``store`` the store every page reads (process-global); None unregisters."""
    with _lock:
        _registry["store"] = store


def registered_store() -> Store | None:
    store: Store | None = _registry["store"]
    return store


def register_config(config: Config | None) -> None:
    """Make ``config`` the configuration the app reads its users from; None unregisters."""
    with _lock:
        _registry["config"] = config


def get_config() -> Config:
    """The registered config, else the one the environment describes."""
    config: Config | None = _registry["config"]
    if config is not None:
        return config
    from agentaudit.config import load_config

    return load_config()


def get_store() -> Store:
    """The registered store, else the one ``AGENTAUDIT_CLICKHOUSE_URL`` names (opened once)."""
    store = registered_store()
    if store is not None:
        return store
    from agentaudit.dashboards._store import env_store

    return env_store()
