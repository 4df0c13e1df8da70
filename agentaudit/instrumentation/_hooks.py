"""Post-import hooks: run a callback when a module finishes importing, whenever that is.

``when_imported(name, callback)`` runs ``callback(module)`` now if ``name`` is already
imported, otherwise right after its first import completes (a ``sys.meta_path`` finder
wraps the module's loader for that one import). This is what makes ``import
agentaudit.auto`` independent of import order. A failing callback is logged, never
raised into the importing code. :func:`remove_all` takes the finder out again.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["pending", "remove_all", "when_imported"]

log = logging.getLogger("agentaudit.instrumentation")

Callback = Callable[[ModuleType], None]

_lock = threading.RLock()
_callbacks: dict[str, list[Callback]] = {}
_busy = threading.local()


def _run(name: str, module: ModuleType) -> None:
    with _lock:
        callbacks = _callbacks.pop(name, [])
        if not _callbacks:
            _uninstall_finder()
    for callback in callbacks:
        try:
            callback(module)
        except Exception:
            log.warning("agentaudit: post-import hook for %s failed", name, exc_info=True)


class _Loader(importlib.abc.Loader):
    """Delegates to the real loader, then runs the hooks of the module."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._loader, attribute)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        # Restore the real loader so the module looks exactly as if imported normally.
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        _run(self._name, module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _callbacks:
            return None
        busy: set[str] = getattr(_busy, "names", None) or set()
        if fullname in busy:
            return None
        _busy.names = busy | {fullname}
        try:
            for finder in list(sys.meta_path):
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            _busy.names = busy
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, fullname)
        return spec


_finder = _Finder()


def _install_finder() -> None:
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def _uninstall_finder() -> None:
    while _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def when_imported(name: str, callback: Callback) -> None:
    """Run ``callback(module)`` once ``name`` is imported (now, if it already is)."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _callbacks.setdefault(name, []).append(callback)
            _install_finder()
            return
    try:
        callback(module)
    except Exception:
        log.warning("agentaudit: post-import hook for %s failed", name, exc_info=True)


def pending() -> list[str]:
    """Module names with hooks still waiting for their import."""
    with _lock:
        return sorted(_callbacks)


def remove_all() -> None:
    """Forget every waiting hook and take the finder out of ``sys.meta_path``."""
    with _lock:
        _callbacks.clear()
        _uninstall_finder()
