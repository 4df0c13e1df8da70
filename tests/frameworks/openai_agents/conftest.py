"""Fixtures: a fresh tracer provider + in-memory exporter, the OpenAI Agents integration on.

The SDK's own trace export (to the OpenAI backend) is replaced by no processors, so
nothing leaves the machine; the SDK's tracing itself stays enabled.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.frameworks.conftest import Spans, instrumented


@pytest.fixture(autouse=True)
def _no_sdk_export() -> None:
    from agents import set_trace_processors

    set_trace_processors([])


@pytest.fixture
def spans(provider: TracerProvider) -> Spans:
    return instrumented(provider, "openai_agents")
