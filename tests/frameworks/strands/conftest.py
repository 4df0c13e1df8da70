"""Fixtures: a fresh tracer provider + in-memory exporter, the Strands integration on."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.frameworks.conftest import Spans, instrumented


@pytest.fixture
def spans(provider: TracerProvider) -> Spans:
    return instrumented(provider, "strands")
