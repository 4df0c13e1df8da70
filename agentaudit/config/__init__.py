"""Configuration: the processes' one settings object, DSNs, and shared parsing helpers.

* :class:`Config` / :func:`load_config` — every setting of ``up``, ``collector``,
  ``dashboard``, ``sql`` and ``verify``; flag = environment variable = file key.
* :mod:`~agentaudit.config.dsn` — storage DSNs (embedded chdb or a ClickHouse server).
* :mod:`~agentaudit.config.values` — the value parsers, environment names, TOML reading
  and :class:`~agentaudit.config.values.Section` shared with the instrumentation and
  the components that own a table of the config file.

Standard library only: the instrumentation imports this in agent processes.
"""

from __future__ import annotations

from agentaudit.config._config import (
    DEFAULT_API_URL,
    DEFAULT_BATCH_ROWS,
    DEFAULT_BATCH_SECONDS,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_STATE_DIR,
    DEFAULT_STORE_DIR,
    DEFAULT_WAL_MAX_BYTES,
    DEFAULT_WAL_SEGMENT_BYTES,
    LOOPBACK_HOSTS,
    SETTINGS,
    Config,
    Setting,
    load_config,
)
from agentaudit.config.dsn import Dsn, embedded_dsn, parse_dsn, safe_dsn

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BATCH_SECONDS",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_STATE_DIR",
    "DEFAULT_STORE_DIR",
    "DEFAULT_WAL_MAX_BYTES",
    "DEFAULT_WAL_SEGMENT_BYTES",
    "LOOPBACK_HOSTS",
    "SETTINGS",
    "Config",
    "Dsn",
    "Setting",
    "embedded_dsn",
    "load_config",
    "parse_dsn",
    "safe_dsn",
]
