"""The root of agentaudit's error hierarchy.

Every error a user can cause (a bad flag, a busy port, a locked store) derives from
:class:`AgentAuditError`; the CLI prints its message as one line and exits with its
``exit_code``, without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["AgentAuditError", "ConfigError"]


class AgentAuditError(Exception):
    """An error with a message that names the problem and the fix."""

    exit_code: int = 1


class ConfigError(AgentAuditError):
    """A configuration value (flag, environment variable or config file) is invalid."""

    exit_code = 2
