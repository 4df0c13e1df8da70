"""Process-wide state of the instrumentation: tracer, source registry, on/off switch.

Also the fail-open error reporter: instrumentation errors are logged (rate-limited so a
broken exporter cannot flood the agent's logs) and never raised into the agent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.trace import ProxyTracer, Tracer, TracerProvider

from agentaudit.instrumentation._settings import Settings, on_change, settings
from agentaudit.instrumentation._sources import SourceRegistry

__all__ = [
    "SCOPE_NAME",
    "enabled",
    "registry",
    "report_error",
    "set_enabled",
    "set_tracer_provider",
    "tracer",
]

log = logging.getLogger("agentaudit.instrumentation")

SCOPE_NAME = "agentaudit"
SCOPE_VERSION = "0.1.0"


class _Process:
    """The mutable process-wide state, in one place."""

    def __init__(self) -> None:
        self.provider: TracerProvider | None = None
        self.tracer: Tracer | None = None
        self.enabled = True
        self.registry: SourceRegistry | None = None
        self.errors = 0
        self.lock = threading.Lock()
        self.provider_factory: Callable[[], object] | None = None


_process = _Process()


def tracer() -> Tracer:
    """The tracer of the configured provider (the global one unless one was given)."""
    cached = _process.tracer
    if cached is None or isinstance(cached, ProxyTracer):
        return _refresh()
    return cached


def _refresh() -> Tracer:
    factory = _process.provider_factory
    if factory is not None and _process.provider is None:
        _process.provider_factory = None  # once, and never re-entered
        factory()
    fresh = trace.get_tracer(SCOPE_NAME, SCOPE_VERSION, tracer_provider=_process.provider)
    _process.tracer = fresh
    return fresh


def defer_tracer_provider(factory: Callable[[], object] | None) -> None:
    """Run ``factory`` (which may install a global provider) before the first audit span.

    Deferring to first use lets an application that configures its own provider after
    importing ``agentaudit.auto`` keep it.
    """
    _process.provider_factory = factory


def set_tracer_provider(provider: TracerProvider | None) -> None:
    """Use ``provider`` instead of the global tracer provider (None: the global one)."""
    _process.provider = provider
    _process.tracer = None  # resolved on first use, where failures are caught


def enabled() -> bool:
    return _process.enabled


def set_enabled(value: bool) -> None:
    _process.enabled = value


def _new_registry(current: Settings) -> SourceRegistry:
    return SourceRegistry(
        max_sources=current.max_sources_per_session,
        max_bytes=current.max_source_bytes_per_session,
        max_sessions=current.max_sessions,
        min_substring=current.min_substring_match,
    )


def registry() -> SourceRegistry:
    """The process's source registry (limits from the settings)."""
    current = _process.registry
    if current is None:
        with _process.lock:
            if _process.registry is None:
                _process.registry = _new_registry(settings())
            current = _process.registry
    return current


def _apply(new: Settings) -> None:
    current = registry()
    current.max_sources = new.max_sources_per_session
    current.max_bytes = new.max_source_bytes_per_session
    current.max_sessions = new.max_sessions
    current.min_substring = new.min_substring_match


on_change(_apply)


def report_error(message: str) -> None:
    """Log an instrumentation error with its traceback (first 10, then every 1000th)."""
    with _process.lock:
        _process.errors += 1
        count = _process.errors
    if count <= 10 or count % 1000 == 0:
        log.warning(
            "agentaudit: %s (instrumentation error #%d; the agent continues)",
            message,
            count,
            exc_info=True,
        )


def error_count() -> int:
    """How many instrumentation errors were swallowed so far."""
    return _process.errors
