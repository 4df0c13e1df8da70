"""The startup line: which integrations are on, which are off, and why (one INFO line)."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from agentaudit.instrumentation import _version_check, configure, instrument


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "integrations on:" in r.getMessage()]


def test_one_line_names_each_integration_and_why(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AGENTAUDIT_DISABLED_INTEGRATIONS", "smolagents")
    configure(reset=True)
    real = _version_check.metadata.version

    def version(name: str) -> str:
        if name == "llama-index-core":
            return "0.13.0"
        if name == "crewai":
            raise _version_check.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(_version_check.metadata, "version", version)
    with caplog.at_level(logging.INFO, logger="agentaudit.instrumentation"):
        instrument(tracer_provider=provider)
        instrument(tracer_provider=provider)  # idempotent: no second line
    (line,) = _lines(caplog)
    on, off = line.split("; off: ")
    assert f"openai_agents (openai-agents {real('openai-agents')})" in on
    assert "llama_index (llama-index-core 0.13.0 outside >=0.14.20,<0.15)" in off
    assert "crewai (not installed)" in off
    assert "smolagents (disabled by AGENTAUDIT_DISABLED_INTEGRATIONS)" in off
