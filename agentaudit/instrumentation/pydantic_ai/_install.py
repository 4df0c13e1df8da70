"""Adding the audit capability to every agent run, and taking it out again.

Pydantic AI has no process-wide list of capabilities; every run (``run``, ``iter``,
streaming, realtime) binds its per-run capabilities through
``Agent._bind_run_capabilities``, so the integration appends the audit capability there:
agents created before ``instrument()`` are covered too. If the method is missing (a
future release), the integration stays off with one warning.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.pydantic_ai.package import _supported

__all__ = ["install", "installed", "uninstall"]

log = logging.getLogger("agentaudit.instrumentation")

_SEAM = "_bind_run_capabilities"


class _Installed:
    lock = threading.Lock()
    original: ClassVar[Any] = None
    owner: ClassVar[Any] = None


def installed() -> bool:
    return _Installed.original is not None


def install(installed_version: str | None = None) -> bool:
    """Add the capability to every run (idempotent). False when unsupported."""
    with _Installed.lock:
        if _Installed.original is not None:
            return True
        if not check_supported(_supported, installed_version):
            return False
        from pydantic_ai import Agent

        try:
            from pydantic_ai.capabilities import AbstractCapability
        except ImportError:
            AbstractCapability = None
        original = Agent.__dict__.get(_SEAM)
        hooks = ("wrap_model_request", "wrap_tool_execute", "for_run")
        if not callable(original) or not all(
            callable(getattr(AbstractCapability, hook, None)) for hook in hooks
        ):
            log.warning(
                "agentaudit: this pydantic-ai lacks Agent.%s or the capability hooks %s; "
                "its integration stays off",
                _SEAM,
                ", ".join(hooks),
            )
            return False
        from agentaudit.instrumentation.pydantic_ai._capability import AuditCapability

        def _bind_run_capabilities(self: Any, extra_capabilities: list[Any]) -> Any:
            if not any(isinstance(c, AuditCapability) for c in extra_capabilities):
                extra_capabilities = [*extra_capabilities, AuditCapability()]
            return original(self, extra_capabilities)

        _bind_run_capabilities.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(Agent, _SEAM, _bind_run_capabilities)
        _Installed.original = original
        _Installed.owner = Agent
        return True


def uninstall() -> None:
    """Put the original method back."""
    with _Installed.lock:
        if _Installed.original is not None:
            setattr(_Installed.owner, _SEAM, _Installed.original)
            _Installed.original = None
            _Installed.owner = None
