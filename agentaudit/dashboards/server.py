"""Run the dashboard's Streamlit server in the calling thread.

:func:`serve` blocks the calling (main) thread until SIGINT or SIGTERM, then restores
the signal handlers it replaced and returns, so ``agentaudit up`` can stop its other
components afterwards. It refuses a non-loopback bind when no dashboard users are
configured (DESIGN §5): an open forensics console on a network is an incident.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from agentaudit.config import LOOPBACK_HOSTS, Config
from agentaudit.dashboards import register_config
from agentaudit.dashboards.auth import hash_password, load_users, verify_password
from agentaudit.errors import ConfigError

__all__ = ["APP_PATH", "flag_options", "hash_password", "serve", "verify_password"]

APP_PATH = Path(__file__).resolve().parent / "app.py"
_SIGNALS = tuple(
    s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGQUIT", None)) if s is not None
)


def flag_options(*, host: str, port: int) -> dict[str, Any]:
    """Streamlit options of a dashboard server (the ``streamlit run`` flag spelling)."""
    return {
        "server_address": host,
        "server_port": port,
        "server_headless": True,
        "server_fileWatcherType": "none",
        "server_runOnSave": False,
        "server_enableXsrfProtection": True,
        "server_enableCORS": True,
        "browser_gatherUsageStats": False,
        "browser_serverAddress": host,
        "browser_serverPort": port,
        "client_toolbarMode": "viewer",
        "global_developmentMode": False,
        "logger_level": "warning",
        "theme_base": "light",
    }


def check_bind(host: str, config: Config) -> None:
    """Raise ConfigError when ``host`` is not loopback and no dashboard user exists."""
    if host in LOOPBACK_HOSTS:
        return
    if not load_users(config.sections):
        raise ConfigError(
            f"refusing to serve the dashboard on {host} without authentication; set "
            "AGENTAUDIT_DASHBOARD_PASSWORD or add users under [dashboard.users] in the "
            "config file (hashes from `agentaudit hash-password`), or bind 127.0.0.1"
        )


def serve(*, host: str, port: int, config: Config) -> None:
    """Serve the dashboard on ``host:port`` until SIGINT/SIGTERM; main thread only."""
    check_bind(host, config)
    from streamlit import config as st_config
    from streamlit.web import bootstrap

    register_config(config)
    options = flag_options(host=host, port=port)
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    st_config._main_script_path = str(APP_PATH)
    bootstrap.load_config_options(flag_options=options)
    try:
        bootstrap.run(str(APP_PATH), False, [], options)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
