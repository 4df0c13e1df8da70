"""Errors of the collector's processes (start-up and serving)."""

from __future__ import annotations

from agentaudit.errors import AgentAuditError, ExitCode

__all__ = ["Backpressure", "BindError", "CollectorError"]


class CollectorError(AgentAuditError):
    """The collector cannot start or serve."""

    exit_code = ExitCode.STORE


class BindError(CollectorError):
    """A listening port could not be bound."""

    exit_code = ExitCode.PORT_BUSY

    def __init__(self, what: str, host: str, port: int, flag: str) -> None:
        super().__init__(
            f"cannot listen for {what} on {host}:{port}: the address is in use or not "
            f"available; stop the other process or choose another port with {flag}"
        )


class Backpressure(CollectorError):
    """The pipeline is saturated; the client should retry later."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
