"""``import agentaudit.auto``: audit every tool call of this process.

* Honours the standard ``OTEL_*`` variables (exporter, protocol, endpoint, headers,
  service name, ``OTEL_SDK_DISABLED``) and ``AGENTAUDIT_TOKEN`` (sent as a bearer token
  unless ``OTEL_EXPORTER_OTLP_HEADERS`` sets an Authorization already).
* Creates a tracer provider only when the application has none; never replaces one. The
  decision is taken just before the first audit span, so an application that sets its own
  provider after this import (but before its first tool call) keeps it.
* Instruments installed frameworks through post-import hooks, so it may be imported
  before or after them; ``AGENTAUDIT_DISABLED_INTEGRATIONS`` (comma-separated) skips some.
* Installs the revocation hooks (``before_tool_call``): the quarantine guard (a quarantined
  agent's tool calls raise ``agentaudit.AgentQuarantined``; ``AGENTAUDIT_QUARANTINE_CHECK=0``
  skips it) and just-in-time credentials for tools configured ``jit = true``.
* Idempotent: importing it again (or calling :func:`setup` again) changes nothing.
* Fail-open: a problem is logged, never raised into the application.
"""

from __future__ import annotations

import logging

from opentelemetry.trace import TracerProvider

from agentaudit.instrumentation import _instrumentor, _state, instrument

__all__ = ["created_tracer_provider", "setup"]


def created_tracer_provider() -> TracerProvider | None:
    """The provider agentaudit created, or None (not yet, or the application has its own)."""
    return _instrumentor.created_tracer_provider()


def setup(*, eager: bool = False) -> None:
    """What importing this module does; safe to call again.

    ``eager=True`` decides about the tracer provider now instead of at the first span.
    """
    try:
        if eager:
            _instrumentor.ensure_tracer_provider()
        else:
            _state.defer_tracer_provider(_instrumentor.ensure_tracer_provider)
        instrument()
        _instrumentor.install_revocation_hooks()
    except Exception:
        logging.getLogger("agentaudit.instrumentation").warning(
            "agentaudit: automatic instrumentation failed; the app runs unaudited",
            exc_info=True,
        )


setup()
