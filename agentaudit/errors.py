"""The root of agentaudit's error hierarchy, and every exit code of its commands.

Every error a user can cause (a bad flag, a busy port, a locked store) derives from
:class:`AgentAuditError`; the CLI prints its message as one line and exits with its
``exit_code``, without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import enum

__all__ = ["AgentAuditError", "ConfigError", "ExitCode"]


class ExitCode(enum.IntEnum):
    """The exit codes of the ``agentaudit`` commands (one meaning each)."""

    OK = 0
    ERROR = 1
    """Any other failure named on stderr; for `agentaudit lint`, a problem of severity
    `high` was found (DESIGN §5: a CI gate reads any non-zero status as "stop")."""
    CONFIG = 2
    """A bad flag, environment variable or config file value (also argparse usage)."""
    STORE = 3
    """The store cannot be opened or used."""
    STORE_LOCKED = 4
    """Another process owns the embedded store directory."""
    PORT_BUSY = 5
    """A listening port could not be bound."""
    TAMPERED = 6
    """``verify`` found audit data changed after it was written."""
    UNAVAILABLE = 7
    """An optional dependency is missing, or a remote service (Vault, the admin API) is
    unreachable: retrying later or installing the extra may help."""
    REFUSED = 8
    """The admin API or the store refused the request (authentication, a confined query)."""
    INTERRUPTED = 130
    """Ctrl-C."""


class AgentAuditError(Exception):
    """An error with a message that names the problem and the fix."""

    exit_code: ExitCode = ExitCode.ERROR


class ConfigError(AgentAuditError):
    """A configuration value (flag, environment variable or config file) is invalid."""

    exit_code = ExitCode.CONFIG
