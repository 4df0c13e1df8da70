"""Adding the audit capability to every agent run, and taking it out again.

Pydantic AI has no process-wide list of capabilities, so the integration adds the audit
capability where each run collects its per-run capabilities; agents created before
``instrument()`` are covered too. Two seams, picked by what the installed release has:

* ``Agent._bind_run_capabilities`` (2.28 and later): every run (``run``, ``iter``,
  streaming) *and* every realtime session binds its per-run capabilities there; realtime
  sessions (new in 2.28) do not go through ``Agent.iter``, so ``iter`` alone would miss
  them.
* the public ``capabilities=`` argument of ``Agent.iter`` (1.107 up to 2.27, which have no
  ``_bind_run_capabilities``): every run of those releases (``run``, ``run_sync``,
  ``run_stream``, ``run_stream_events``, the UI and A2A adapters, wrapper agents) goes
  through ``Agent.iter``, which merges that argument into the run's capabilities.

Every target is resolved before anything is patched: a release with neither seam (or
without the capability hooks) leaves the integration off with one warning.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.pydantic_ai.package import _supported

__all__ = ["install", "installed", "seam", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")

_BIND = "_bind_run_capabilities"
_ITER = "iter"
_HOOKS = ("wrap_model_request", "wrap_tool_execute", "for_run")


class _Installed:
    lock = threading.Lock()
    original: ClassVar[Any] = None
    owner: ClassVar[Any] = None
    seam: ClassVar[str | None] = None


def installed() -> bool:
    return _Installed.original is not None


def seam() -> str | None:
    """The ``Agent`` attribute the integration wrapped (None when not installed)."""
    return _Installed.seam


def _takes_capabilities(method: Any) -> bool:
    try:
        return "capabilities" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def _has_hooks() -> bool:
    try:
        from pydantic_ai.capabilities import AbstractCapability
    except ImportError:
        return False
    return all(callable(getattr(AbstractCapability, hook, None)) for hook in _HOOKS)


def _with_audit(capabilities: Sequence[Any] | None, audit: type) -> list[Any]:
    found = list(capabilities or ())
    if not any(isinstance(capability, audit) for capability in found):
        found.append(audit())
    return found


def install(installed_version: str | None = None) -> bool:
    """Add the capability to every run (idempotent). False when unsupported."""
    with _Installed.lock:
        if _Installed.original is not None:
            return True
        if not check_supported(_supported, installed_version):
            return False
        from pydantic_ai import Agent

        name: str | None = None
        if callable(Agent.__dict__.get(_BIND)):
            name = _BIND
        elif callable(Agent.__dict__.get(_ITER)) and _takes_capabilities(Agent.__dict__[_ITER]):
            name = _ITER
        if name is None or not _has_hooks():
            log.warning(
                "agentaudit: this pydantic-ai has neither Agent.%s nor Agent.%s(capabilities=), "
                "or lacks the capability hooks %s; its integration stays off",
                _BIND,
                _ITER,
                ", ".join(_HOOKS),
            )
            return False
        from agentaudit.instrumentation.pydantic_ai._capability import AuditCapability

        original = Agent.__dict__[name]
        patched: Any
        if name == _BIND:

            def _bind_run_capabilities(self: Any, extra_capabilities: list[Any]) -> Any:
                return original(self, _with_audit(extra_capabilities, AuditCapability))

            patched = _bind_run_capabilities
        else:

            def iter(self: Any, *args: Any, **kwargs: Any) -> Any:
                kwargs["capabilities"] = _with_audit(kwargs.get("capabilities"), AuditCapability)
                return original(self, *args, **kwargs)

            patched = iter
        patched.__wrapped__ = original
        patched.__doc__ = original.__doc__
        setattr(Agent, name, patched)
        _Installed.original = original
        _Installed.owner = Agent
        _Installed.seam = name
        return True


def uninstall() -> None:
    """Put the original method back."""
    with _Installed.lock:
        if _Installed.original is not None and _Installed.seam is not None:
            setattr(_Installed.owner, _Installed.seam, _Installed.original)
        _Installed.original = None
        _Installed.owner = None
        _Installed.seam = None
