"""``agentaudit dashboard`` and ``agentaudit hash-password``."""

from __future__ import annotations

import os
import sys

from agentaudit.config import Config
from agentaudit.errors import AgentAuditError, ExitCode

__all__ = ["run_dashboard", "run_hash_password"]


def run_dashboard(config: Config) -> int:
    from agentaudit.dashboards.server import serve

    os.environ["AGENTAUDIT_CLICKHOUSE_URL"] = config.clickhouse_url
    serve(host=config.host, port=config.dashboard_port, config=config)
    return ExitCode.OK


def run_hash_password() -> int:
    import getpass

    from agentaudit.dashboards.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise AgentAuditError("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise AgentAuditError("choose a password of at least 8 characters")
    print(hash_password(password))
    return ExitCode.OK
