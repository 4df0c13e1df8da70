"""Fixtures shared by every framework's tests: a fresh tracer provider with the
integration state reset around each test, and :class:`Spans`, the finished spans.

Each framework folder's conftest adds only its ``spans`` fixture, which switches its one
integration on (:func:`instrumented`), plus what that framework needs (no network).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentaudit.instrumentation import _state, configure, instrument, uninstrument
from agentaudit.schema import attributes as A


class Spans:
    """The spans a test emitted, with helpers to find them."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def of(self, operation: str) -> list[ReadableSpan]:
        return [
            s for s in self.all() if (s.attributes or {}).get(A.GEN_AI_OPERATION_NAME) == operation
        ]

    def tools(self, name: str | None = None) -> list[ReadableSpan]:
        return [
            s
            for s in self.of(A.OPERATION_EXECUTE_TOOL)
            if name is None or (s.attributes or {}).get(A.GEN_AI_TOOL_NAME) == name
        ]

    def tool(self, name: str) -> ReadableSpan:
        """The one tool span of ``name`` (fails when there are none or several)."""
        found = self.tools(name)
        assert len(found) == 1, f"expected one span of tool {name}, got {len(found)}"
        return found[0]

    def attributes(self, name: str) -> dict[str, object]:
        """The attributes of the one tool span of ``name``."""
        return dict(self.tool(name).attributes or {})


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[TracerProvider]:
    for name in ("AGENTAUDIT_CONFIG", "AGENTAUDIT_HASH_KEY", "AGENTAUDIT_DISABLED_INTEGRATIONS"):
        monkeypatch.delenv(name, raising=False)
    configure(reset=True)
    _state.registry().clear()
    tracer_provider = TracerProvider()
    yield tracer_provider
    uninstrument()
    tracer_provider.shutdown()
    configure(reset=True)
    _state.registry().clear()


def instrumented(provider: TracerProvider, integration: str) -> Spans:
    """Collect ``provider``'s spans in memory with ``integration`` (only) switched on."""
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider, integrations=[integration])
    return Spans(exporter)


def instrument_unsupported(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    *,
    integration: str,
    distribution: str,
    version: str,
    provider: TracerProvider | None = None,
) -> None:
    """Call ``instrument()`` twice while ``distribution`` reports an unsupported
    ``version``, and assert the integration logged exactly one warning about it."""
    from agentaudit.instrumentation import _version_check

    _version_check.reset_warnings()
    monkeypatch.setattr(_version_check.metadata, "version", lambda name: version)
    with caplog.at_level(logging.WARNING, logger="agentaudit.instrumentation"):
        instrument(tracer_provider=provider, integrations=[integration])
        instrument(tracer_provider=provider, integrations=[integration])
    _version_check.reset_warnings()
    warnings = [r.getMessage() for r in caplog.records if distribution in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "outside the supported range" in warnings[0]


@contextmanager
def quarantined(tool: str, agent: str = "mail-assistant") -> Iterator[None]:
    """While open, every call of ``tool`` is refused as if ``agent`` were quarantined."""
    from agentaudit.instrumentation import AgentQuarantined, add_before_tool_call

    def refuse(info: Any) -> None:
        if info.tool == tool:
            raise AgentQuarantined(agent, "exfiltration suspected")

    remove = add_before_tool_call(refuse)
    try:
        yield
    finally:
        remove()


GUARD_TOKEN = "agent-token"


@pytest.fixture
def admin() -> Iterator[Any]:
    """The admin API double (real HTTP on loopback) the quarantine guard reads."""
    from tests.instrumentation.admin_double import AdminDouble

    with AdminDouble(token=GUARD_TOKEN) as double:
        yield double


@pytest.fixture
def guard(admin: Any) -> Iterator[Any]:
    """The real quarantine guard as a ``before_tool_call`` hook, polling on demand
    (``guard.refresh_all()`` is what its poller does every 2 s)."""
    from agentaudit.instrumentation._quarantine import GuardSettings, QuarantineGuard
    from agentaudit.instrumentation._runtime import add_before_tool_call

    guard = QuarantineGuard(GuardSettings(api_url=admin.url, token=GUARD_TOKEN), poll=False)
    remove = add_before_tool_call(guard)
    yield guard
    remove()
    guard.close()
