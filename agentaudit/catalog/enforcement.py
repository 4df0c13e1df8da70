"""The catalog as the enforcement points read it: a file that follows edits, and the
broker's scope policy.

* :class:`CatalogFile` holds the catalog of a long-running process (the collector's
  broker and detector). It is loaded at start-up, where a bad file fails naming its
  line (``CatalogError``, exit 2). Afterwards it is re-read when the file's size or
  modification time changes (checked at most every ``check_seconds``); an edit that
  does not load is logged and the last catalog that did stays in force, so a typo
  saved by an owner never switches enforcement off.
* :class:`CatalogScopePolicy` is :class:`agentaudit.broker.ScopePolicy` over a
  catalog: the scopes the broker may mint for (agent, tool). The answer is the tool's
  ``min_scopes``: ``granted_scopes`` describe the real, standing credential the tool
  resolves to (what an incident could reach), and the broker mints *per call*, so it
  mints the least the action needs. A tool whose card writes down no ``min_scopes`` may
  be granted no scope; a tool not on the agent's card (or an agent with no card) gets
  None: the broker refuses any scope for it, as it refuses a tool it has no entry for.
  Agents are looked up by canonical id (``Mail-Assistant`` is ``mail-assistant``);
  scopes are compared as written, as tool servers compare the minted ``scope`` claim.

Standard library only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from agentaudit.catalog.loader import CatalogError, load_catalog
from agentaudit.catalog.model import Catalog

__all__ = ["CHECK_SECONDS", "CatalogFile", "CatalogScopePolicy", "CatalogSource"]

log = logging.getLogger(__name__)

CHECK_SECONDS: Final = 2.0
"""How often, at most, a :class:`CatalogFile` looks at its file's size and mtime."""

CatalogSource = Callable[[], Catalog]
"""What enforcement reads: a call that returns the catalog in force now
(:meth:`CatalogFile.current`, or ``lambda: catalog`` for a fixed one)."""


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


class CatalogFile:
    """A catalog file, loaded now and re-read when it changes (module docstring).

    Raises :class:`~agentaudit.catalog.CatalogError` from the constructor when the file
    cannot be loaded; :meth:`current` never raises.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        check_seconds: float = CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp = _stamp(self.path)
        self._catalog = load_catalog(self.path)
        self._checked = clock()
        self.error = ""
        """Why the newest edit was not loaded ("" when the file in force is the file)."""

    def __call__(self) -> Catalog:
        return self.current()

    def current(self) -> Catalog:
        """The catalog in force: the file as it is now, or the last version that loaded."""
        now = self._clock()
        if now - self._checked < self._check_seconds:
            return self._catalog
        with self._lock:
            if now - self._checked < self._check_seconds:
                return self._catalog
            self._checked = now
            stamp = _stamp(self.path)
            if stamp is not None and stamp != self._stamp:
                self._reload(stamp)
            return self._catalog

    def _reload(self, stamp: tuple[int, int]) -> None:
        self._stamp = stamp
        try:
            self._catalog = load_catalog(self.path)
        except CatalogError as exc:
            self.error = str(exc)
            log.error(
                "catalog %s changed but does not load; the previous version stays in force: %s",
                self.path,
                exc,
            )
            return
        self.error = ""
        log.info("catalog %s reloaded (%d agents)", self.path, len(self._catalog.agents))


class CatalogScopePolicy:
    """The broker's scope policy from a catalog (module docstring)."""

    def __init__(self, source: CatalogSource | Catalog) -> None:
        self._source: CatalogSource = (lambda: source) if isinstance(source, Catalog) else source

    def allowed_scopes(self, agent: str, tool: str) -> tuple[str, ...] | None:
        """The scopes ``agent`` may be minted for ``tool``: its ``min_scopes`` (``()``
        when not written down); None when the tool is not on the agent's card."""
        entry = self._source().agent(agent)
        found = entry.tool(tool) if entry is not None else None
        if found is None:
            return None
        return found.min_scopes or ()

    def describe(self) -> str:
        return f"catalog {self._source().path}"

    def __repr__(self) -> str:
        return f"CatalogScopePolicy({self.describe()})"
