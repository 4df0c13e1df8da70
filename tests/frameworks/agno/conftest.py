"""Fixtures: a fresh tracer provider + in-memory exporter, the Agno integration on.

Agno's own usage telemetry is switched off (``AGNO_TELEMETRY=false``, its documented
switch), so nothing leaves the machine.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.frameworks.conftest import Spans, instrumented


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGNO_TELEMETRY", "false")


@pytest.fixture
def spans(provider: TracerProvider) -> Spans:
    return instrumented(provider, "agno")
