"""``instrument()`` / ``uninstrument()``, tracer-provider setup, and the OTel entry points.

Framework integrations are modules ``agentaudit.instrumentation.<name>`` exposing
``instrument() -> None`` and ``uninstrument() -> None``; :data:`INTEGRATIONS` maps each
to the framework module whose import triggers it. ``instrument()`` registers a
post-import hook per framework (import order does not matter), skipping the names in
``AGENTAUDIT_DISABLED_INTEGRATIONS``; calling it again changes nothing.
``uninstrument()`` undoes exactly what was done: it uninstruments the integrations that
ran, removes pending hooks, and turns ``audited_tool`` wrappers into plain pass-through.

For ``opentelemetry-instrument``, :class:`AgentAuditInstrumentor` (entry point
``agentaudit``) sets up the provider when the app has none, and each framework package
defines one subclass (``agentaudit.instrumentation.langchain.LangChainInstrumentor``,
entry point ``agentaudit_langchain``, ...) that instruments that framework only and
declares its requirements, so ``opentelemetry-instrument`` skips it when the framework
is absent or out of range and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` can name each.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Collection, Mapping
from types import ModuleType
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import ProxyTracerProvider, TracerProvider

from agentaudit.instrumentation import _hooks, _refusals, _state
from agentaudit.instrumentation._export import AuditSpanProcessor, build_exporter
from agentaudit.instrumentation._settings import settings

__all__ = [
    "INTEGRATIONS",
    "AgentAuditInstrumentor",
    "created_tracer_provider",
    "ensure_tracer_provider",
    "install_revocation_hooks",
    "instrument",
    "instrumented_integrations",
    "integration_status",
    "register_integration",
    "uninstrument",
]

log = logging.getLogger("agentaudit.instrumentation")

INTEGRATIONS: dict[str, str] = {
    "langchain": "langchain_core",
    "mcp": "mcp",
    "openai_agents": "agents",
    "pydantic_ai": "pydantic_ai",
    "llama_index": "llama_index.core",
    "crewai": "crewai",
    "smolagents": "smolagents",
    "google_adk": "google.adk",
    "strands": "strands",
    "agno": "agno",
    "autogen": "autogen_agentchat",
}
"""Integration name -> the framework module whose import triggers it."""

_MODULES: dict[str, str] = {}
"""Integration name -> its module, for integrations registered outside this package."""


def register_integration(name: str, *, framework_module: str, integration_module: str) -> None:
    """Add an integration: ``integration_module`` (with ``instrument()`` and
    ``uninstrument()``) runs when ``framework_module`` is imported. For plug-ins."""
    with _lock:
        INTEGRATIONS[name] = framework_module
        _MODULES[name] = integration_module


class _Instrumentation:
    """What instrument() did, so uninstrument() can undo exactly that."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.instrumented = False
        self.active: dict[str, ModuleType] = {}
        self.watched: set[str] = set()
        self.created_provider: TracerProvider | None = None
        self.guard_installed = False
        self.jit_installed = False
        self.announced = False


_done = _Instrumentation()
_lock = _done.lock
_active = _done.active


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def ensure_tracer_provider(environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Create and install an SDK tracer provider from ``OTEL_*`` when the app has none.

    Never replaces the application's provider. Returns the provider created (also on
    repeated calls), or None when the app already had one or the SDK is disabled.
    """
    env = os.environ if environ is None else environ
    with _lock:
        if _done.created_provider is not None:
            return _done.created_provider
        if _truthy(env.get("OTEL_SDK_DISABLED")):
            return None
        if not isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

        provider = SdkTracerProvider(resource=Resource.create(_default_service(env)))
        exporter = build_exporter(env)
        if exporter is not None:
            provider.add_span_processor(AuditSpanProcessor(exporter, environ=env))
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:  # lost a race with the app
            provider.shutdown()
            return None
        _done.created_provider = provider
        return provider


def _default_service(env: Mapping[str, str]) -> dict[str, str]:
    """``service.name`` = the script's name when the user set none (instead of the OTel
    default ``unknown_service:python``): no ``OTEL_SERVICE_NAME`` and no ``service.name``
    in ``OTEL_RESOURCE_ATTRIBUTES``. ``python -m pkg.mod`` gives ``pkg.mod``."""
    if (env.get("OTEL_SERVICE_NAME") or "").strip():
        return {}
    for item in (env.get("OTEL_RESOURCE_ATTRIBUTES") or "").split(","):
        if item.split("=", 1)[0].strip() == "service.name":
            return {}
    import sys

    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None) if spec is not None else None
    if not name:
        script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
        name = script[:-3] if script.endswith(".py") else script
    name = name.removesuffix(".__main__")
    return {"service.name": name} if name and name not in ("-c", "-") else {}


def install_revocation_hooks() -> None:
    """Install the ``before_tool_call`` hooks of the revocation path: the quarantine guard
    (``_quarantine``) and just-in-time credentials for tools configured ``jit = true``
    (``_jit``; a no-op for other tools).

    What ``agentaudit.auto`` and the ``agentaudit`` entry point do; tests and code that
    call :func:`instrument` directly do not get them. ``AGENTAUDIT_QUARANTINE_CHECK=0``
    turns the guard off. Never raises.
    """
    try:
        from agentaudit.instrumentation import _jit, _quarantine

        with _lock:
            if _quarantine.install() is not None:
                _done.guard_installed = True
            if _jit.install() is not None:
                _done.jit_installed = True
    except Exception:
        log.warning("agentaudit: the quarantine guard is not installed", exc_info=True)


def created_tracer_provider() -> TracerProvider | None:
    """The provider :func:`ensure_tracer_provider` created, if it did."""
    return _done.created_provider


def _integration_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(_MODULES.get(name, f"agentaudit.instrumentation.{name}"))
    except ImportError:
        log.debug("agentaudit: no integration module for %s", name, exc_info=True)
        return None


def _activate(name: str) -> None:
    with _lock:
        if name in _active or not _done.instrumented:
            return
        module = _integration_module(name)
        if module is None or not callable(getattr(module, "instrument", None)):
            return
        try:
            module.instrument()
        except Exception:
            log.warning(
                "agentaudit: instrumenting %s failed; it stays uninstrumented", name, exc_info=True
            )
            return
        _active[name] = module


def integration_status(
    requested: Collection[str] | None = None, disabled: Collection[str] = ()
) -> dict[str, tuple[bool, str]]:
    """Per integration: (will be active, why), from distribution metadata only.

    Reasons: the installed version (on), ``not installed``, ``<dist> <version> outside
    <range>``, ``disabled by AGENTAUDIT_DISABLED_INTEGRATIONS``, ``not requested``.
    """
    from agentaudit.instrumentation._version_check import describe

    found: dict[str, tuple[bool, str]] = {}
    for name in INTEGRATIONS:
        if requested is not None and name not in requested:
            found[name] = (False, "not requested")
        elif name in disabled:
            found[name] = (False, "disabled by AGENTAUDIT_DISABLED_INTEGRATIONS")
        elif name in _MODULES:
            found[name] = (True, "plug-in")
        else:
            try:
                package = importlib.import_module(f"agentaudit.instrumentation.{name}.package")
                found[name] = describe(package._supported)
            except Exception:
                found[name] = (False, "no integration module")
    return found


def _startup_line(requested: Collection[str] | None, disabled: Collection[str]) -> None:
    """One INFO line: which integrations are on (when their framework is imported) and
    which are off, and why."""
    try:
        status = integration_status(requested, disabled)
        on = [f"{name} ({why})" for name, (ok, why) in status.items() if ok]
        off = [
            f"{name} ({why})"
            for name, (ok, why) in status.items()
            if not ok and why != "not requested"
        ]
        log.info(
            "agentaudit: integrations on: %s; off: %s",
            ", ".join(on) or "none",
            ", ".join(off) or "none",
        )
    except Exception:
        log.debug("agentaudit: the integration status line failed", exc_info=True)


def _watch(name: str) -> None:
    framework = INTEGRATIONS[name]
    _hooks.when_imported(framework, lambda _module: _activate(name))


def instrument(
    *,
    tracer_provider: TracerProvider | None = None,
    integrations: Collection[str] | None = None,
) -> None:
    """Turn auditing on and instrument installed frameworks (now or when imported).

    ``tracer_provider``: emit to this provider instead of the global one.
    ``integrations``: only these (default: all, minus AGENTAUDIT_DISABLED_INTEGRATIONS).
    Idempotent.
    """
    unknown = set(integrations or ()) - set(INTEGRATIONS)
    if unknown:
        raise ValueError(
            f"agentaudit: unknown integration(s) {sorted(unknown)}; have {sorted(INTEGRATIONS)}"
        )
    with _lock:
        if tracer_provider is not None:
            _state.set_tracer_provider(tracer_provider)
        _state.set_enabled(True)
        _done.instrumented = True
        disabled = settings().disabled_integrations
        added = False
        for name in integrations if integrations is not None else INTEGRATIONS:
            if name in disabled or name in _active or name in _done.watched:
                continue
            _done.watched.add(name)
            added = True
            _watch(name)
        if added or not _done.announced:
            _done.announced = True
            _startup_line(integrations, disabled)


def uninstrument() -> None:
    """Undo :func:`instrument`: integrations restored, hooks removed, auditing off."""
    with _lock:
        _hooks.remove_all()
        _done.watched.clear()
        if _done.guard_installed or _done.jit_installed:
            try:
                from agentaudit.instrumentation import _jit, _quarantine

                if _done.guard_installed:
                    _quarantine.uninstall()
                if _done.jit_installed:
                    _jit.uninstall()
            except Exception:
                log.warning("agentaudit: removing the revocation hooks failed", exc_info=True)
            _done.guard_installed = _done.jit_installed = False
        for name, module in list(_active.items()):
            try:
                module.uninstrument()
            except Exception:
                log.warning("agentaudit: uninstrumenting %s failed", name, exc_info=True)
            del _active[name]
        _done.instrumented = False
        _done.announced = False
        _refusals.memory().clear()
        _state.set_enabled(False)
        _state.set_tracer_provider(None)


def instrumented_integrations() -> list[str]:
    """Names of the integrations currently patched into their frameworks."""
    with _lock:
        return sorted(_active)


class AgentAuditInstrumentor:
    """Entry point ``agentaudit`` of the ``opentelemetry_instrumentor`` group.

    Sets up the tracer provider when the app has none and turns auditing on; frameworks
    are instrumented by their own entry points. Compatible with ``BaseInstrumentor``'s
    calling convention (``instrument(**kwargs)``) without depending on it.
    """

    _integrations: tuple[str, ...] = ()
    """The integrations this entry point instruments (none: the provider only)."""
    _instruments: tuple[str, ...] = ()
    """The framework requirements ``opentelemetry-instrument`` checks before calling it
    (each framework's ``package._instruments``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return self._instruments

    def instrument(self, **kwargs: Any) -> None:
        try:
            provider = kwargs.get("tracer_provider")
            if provider is None:
                ensure_tracer_provider()
            instrument(tracer_provider=provider, integrations=self._integrations)
            install_revocation_hooks()
        except Exception:
            log.warning("agentaudit: instrumentation failed; the app runs unaudited", exc_info=True)

    def uninstrument(self, **kwargs: Any) -> None:
        uninstrument()
