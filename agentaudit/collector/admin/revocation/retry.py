"""Bounded retries with exponential backoff, clock-free (``sleep`` is injectable)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentaudit.collector.admin.revocation.model import BackendResult

__all__ = ["Attempt", "RetryPolicy", "with_retries"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the n-th retry waits ``base_delay * factor**(n-1)``."""

    attempts: int = 3
    base_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("retry attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.factor < 1:
            raise ValueError("retry delays must be non-negative and the factor at least 1")

    def delay(self, retry: int) -> float:
        return float(min(self.max_delay, self.base_delay * self.factor ** (retry - 1)))


@dataclass(frozen=True)
class Attempt:
    """One try: ``retry`` says whether a failure is worth trying again."""

    ok: bool
    detail: str
    retry: bool = False
    response: Mapping[str, Any] = field(default_factory=dict)


def with_retries(
    backend: str,
    operation: Callable[[], Attempt],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    *,
    what: str = "revocation backend",
) -> BackendResult:
    """Run ``operation`` until it succeeds, fails for good, or attempts run out.

    An exception from ``operation`` is a retryable failure: a backend bug or an
    unreachable peer must show up as a failed result, never break the fan-out.
    ``what`` names the kind of ``backend`` in the log (e.g. ``detector alert sink``).
    """
    errors: list[str] = []
    attempt = Attempt(False, "not attempted")
    number = 0
    for number in range(1, policy.attempts + 1):
        try:
            attempt = operation()
        except Exception as exc:
            attempt = Attempt(False, f"{type(exc).__name__}: {exc}", retry=True)
        if attempt.ok or not attempt.retry or number == policy.attempts:
            break
        errors.append(attempt.detail)
        log.warning("%s %s failed (attempt %d): %s", what, backend, number, attempt.detail)
        sleep(policy.delay(number))
    return BackendResult(
        backend, attempt.ok, number, attempt.detail, attempt.response, tuple(errors)
    )
