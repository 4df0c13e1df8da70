"""``import agentaudit.auto``: audit every tool call of this process.

* Honours the standard ``OTEL_*`` variables (exporter, protocol, endpoint, headers,
  service name, ``OTEL_SDK_DISABLED``) and ``AGENTAUDIT_TOKEN`` (sent as a bearer token
  unless ``OTEL_EXPORTER_OTLP_HEADERS`` sets an Authorization already).
* Creates a tracer provider only when the application has none; never replaces one.
* Instruments installed frameworks through post-import hooks, so it may be imported
  before or after them; ``AGENTAUDIT_DISABLED_INTEGRATIONS`` (comma-separated) skips some.
* Idempotent: importing it again (or calling :func:`setup` again) changes nothing.
* Fail-open: a problem is logged, never raised into the application.
"""

from __future__ import annotations

import logging

from opentelemetry.trace import TracerProvider

from agentaudit.instrumentation import ensure_tracer_provider, instrument

__all__ = ["setup", "tracer_provider"]

tracer_provider: TracerProvider | None = None
"""The provider this module created, or None when the application brought its own."""


def setup() -> TracerProvider | None:
    """What importing this module does; safe to call again."""
    global tracer_provider  # noqa: PLW0603 - the module attribute is the public result
    try:
        tracer_provider = ensure_tracer_provider()
        instrument()
    except Exception:
        logging.getLogger("agentaudit.instrumentation").warning(
            "agentaudit: automatic instrumentation failed; the app runs unaudited",
            exc_info=True,
        )
    return tracer_provider


setup()
