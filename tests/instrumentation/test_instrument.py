"""instrument()/uninstrument(): post-import hooks, idempotence, exact undo, switches."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentaudit
from agentaudit.instrumentation import _hooks, _instrumentor, configure, instrumented_integrations
from agentaudit.instrumentation._instrumentor import AgentAuditInstrumentor, register_integration
from agentaudit.instrumentation.langchain import LangChainInstrumentor
from agentaudit.schema import attributes as A

from .conftest import Spans

FRAMEWORK = """
def run(query):
    return "result for " + query
"""

INTEGRATION = """
import {framework} as framework
from agentaudit.instrumentation.runtime import tool_call

calls = {{"instrument": 0, "uninstrument": 0}}
_original = None


def instrument():
    global _original
    calls["instrument"] += 1
    _original = framework.run

    def run(query):
        with tool_call("fake_search", framework="fake", arguments={{"query": query}}) as call:
            call.result = _original(query)
            return call.result

    framework.run = run


def uninstrument():
    calls["uninstrument"] += 1
    framework.run = _original
"""


@dataclass
class Fake:
    name: str
    framework: str
    integration: str

    def framework_module(self) -> ModuleType:
        return importlib.import_module(self.framework)

    def integration_module(self) -> ModuleType:
        return sys.modules[self.integration]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    suffix = uuid.uuid4().hex[:8]
    fake = Fake(f"fake_{suffix}", f"fakefw_{suffix}", f"fakefw_integration_{suffix}")
    (tmp_path / f"{fake.framework}.py").write_text(FRAMEWORK)
    (tmp_path / f"{fake.integration}.py").write_text(INTEGRATION.format(framework=fake.framework))
    monkeypatch.syspath_prepend(str(tmp_path))
    register_integration(
        fake.name, framework_module=fake.framework, integration_module=fake.integration
    )
    yield fake
    _instrumentor.INTEGRATIONS.pop(fake.name, None)
    _instrumentor._MODULES.pop(fake.name, None)
    for module in (fake.framework, fake.integration):
        sys.modules.pop(module, None)


def test_framework_imported_after_instrument_is_patched(
    spans: Spans, provider: TracerProvider, fake: Fake
) -> None:
    agentaudit.instrument(tracer_provider=provider, integrations=[fake.name])
    assert fake.framework in _hooks.pending()
    module = fake.framework_module()  # the post-import hook fires here
    assert module.run("q") == "result for q"
    assert module.__loader__.__class__.__name__ != "_Loader"  # the real loader is restored
    span = spans.tool("fake_search")
    assert (span.attributes or {})[A.FRAMEWORK] == "fake"
    assert instrumented_integrations() == [fake.name]


def test_framework_imported_before_instrument_is_patched(
    spans: Spans, provider: TracerProvider, fake: Fake
) -> None:
    module = fake.framework_module()
    agentaudit.instrument(tracer_provider=provider, integrations=[fake.name])
    agentaudit.instrument(tracer_provider=provider, integrations=[fake.name])  # idempotent
    module.run("q")
    assert len(spans.tools()) == 1
    assert fake.integration_module().calls["instrument"] == 1


def test_uninstrument_restores_everything(
    spans: Spans, provider: TracerProvider, fake: Fake
) -> None:
    module = fake.framework_module()
    original = module.run

    @agentaudit.audited_tool
    def plain() -> str:
        return "ok"

    agentaudit.instrument(tracer_provider=provider, integrations=[fake.name, "langchain"])
    assert module.run is not original
    meta_path_before = [f for f in sys.meta_path if f.__class__.__name__ != "_Finder"]
    agentaudit.uninstrument()
    assert module.run is original
    assert fake.integration_module().calls == {"instrument": 1, "uninstrument": 1}
    assert _hooks.pending() == []
    assert sys.meta_path == meta_path_before
    assert instrumented_integrations() == []
    assert plain() == "ok"
    assert module.run("q") == "result for q"
    assert spans.tools() == []
    agentaudit.instrument(tracer_provider=provider, integrations=[fake.name])  # and back
    module.run("q")
    assert len(spans.tools()) == 1


def test_disabled_integrations_are_skipped(
    spans: Spans, provider: TracerProvider, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTAUDIT_DISABLED_INTEGRATIONS", f"langchain, {fake.name}")
    configure(reset=True)
    agentaudit.instrument(tracer_provider=provider)
    fake.framework_module().run("q")
    assert spans.tools() == []
    assert "langchain_core" not in _hooks.pending()
    assert "langchain" not in instrumented_integrations()
    assert fake.name not in instrumented_integrations()
    # The others are either waiting for their framework or already patched.
    assert "mcp" in _hooks.pending() or "mcp" in instrumented_integrations()


def test_unknown_integration_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown integration"):
        agentaudit.instrument(integrations=["nope"])


def test_entry_point_instrumentors(spans: Spans, provider: TracerProvider, fake: Fake) -> None:
    AgentAuditInstrumentor().instrument(tracer_provider=provider)
    assert _hooks.pending() == []  # the core entry point patches no framework
    LangChainInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    assert "langchain_core" in _hooks.pending() or "langchain" in instrumented_integrations()
    # opentelemetry-instrument checks these before calling it: the framework's own range
    assert LangChainInstrumentor().instrumentation_dependencies() == ("langchain-core >= 0.3, < 2",)
    assert AgentAuditInstrumentor().instrumentation_dependencies() == ()
    LangChainInstrumentor().uninstrument()
    assert _hooks.pending() == []
