"""Fixtures: a fresh tracer provider + in-memory exporter, the CrewAI integration on.

CrewAI's own telemetry and tracing are switched off by its documented variables before it
is imported (never ``OTEL_SDK_DISABLED``, which would switch off the audit too): no network."""

from __future__ import annotations

import os

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.frameworks.conftest import Spans, instrumented

os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_DISABLE_TRACKING"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"


@pytest.fixture
def spans(provider: TracerProvider) -> Spans:
    return instrumented(provider, "crewai")
