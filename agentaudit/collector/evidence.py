"""The collector's evidence duties, in one place: seal, digest, retention, holds, erasure,
SIEM export (docs/evidence.md).

Lifecycle (composed in :mod:`agentaudit.collector.app`):

* :meth:`EvidenceService.open` — right after the store is migrated: apply the configured
  retention (TTLs, recorded), then seal what is not sealed yet (rows written before a
  crash, or by commands run on a stopped store);
* :meth:`EvidenceService.start` — when the collector serves: seal every
  :data:`~agentaudit.store.evidence.seal.SEAL_SECONDS` (then export, when ``[export]`` is
  configured) and write a signed digest every ``digest_interval`` seconds;
* :meth:`EvidenceService.stop` — last in teardown, after the receivers, the detector, the
  writer and the admin API have stopped: seal everything (up to now when this process owns
  an embedded store: nothing else can write), export, write the shutdown digest.

Holds and erasures (the admin API, or the CLI on a stopped store) go through it too, so a
TTL change, a hold's snapshot and the seal of an erasure record happen under one lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agentaudit.config import Config
from agentaudit.store import Store
from agentaudit.store.evidence.digests import DigestKey, DigestWriter
from agentaudit.store.evidence.erasure import ErasureReport, erase_subject
from agentaudit.store.evidence.holds import (
    Hold,
    list_holds,
    new_hold,
    record_hold_units,
    release_hold,
)
from agentaudit.store.evidence.retention import apply_retention, parse_retention
from agentaudit.store.evidence.seal import SEAL_GRACE_SECONDS, SEAL_SECONDS, Sealer, seal_chain_id

__all__ = ["EvidenceService", "subject_pseudonyms"]

log = logging.getLogger(__name__)


def subject_pseudonyms(
    redaction: Mapping[str, Any], state_dir: Path, identifiers: Iterable[str]
) -> list[str]:
    """The keyed pseudonyms the redactor gives ``identifiers`` under every hashing rule
    (``hmac:email:…``), so an erasure finds them wherever they were written."""
    from agentaudit.collector.ingest.redaction import Redactor

    redactor = Redactor.from_config(redaction, state_dir=state_dir)
    rules = [rule.name for rule in redactor.policy.rules if rule.action == "hash"]
    return sorted({redactor.pseudonym(value, rule) for value in identifiers for rule in rules})


class EvidenceService:
    """Seals, digests, retention, holds and erasures of one store (see the module doc)."""

    def __init__(
        self,
        store: Store,
        *,
        state_dir: Path,
        chain_key: bytes | None = None,
        digest_dir: Path | None = None,
        digest_interval: float = 3600.0,
        digest_webhook: str | None = None,
        retention: Mapping[str, int] | None = None,
        owns_store: bool = True,
        redaction: Mapping[str, Any] | None = None,
        exporter: Any = None,
        seal_seconds: float = SEAL_SECONDS,
        actor: str = "collector",
        offline: bool = False,
        erase_wait_seconds: float = 120.0,
    ) -> None:
        self._store = store
        self._erase_wait = erase_wait_seconds
        self.state_dir = state_dir
        self.sealer = Sealer(store, seal_chain_id(state_dir), key=chain_key)
        self._digest_dir = digest_dir or state_dir / "digests"
        self._digest_webhook = digest_webhook
        self._digest_writer: DigestWriter | None = None
        self._digest_interval = digest_interval
        self._retention = dict(retention) if retention is not None else None
        self._owns_store = owns_store
        self._redaction = dict(redaction or {})
        self.exporter = exporter
        self._seal_seconds = seal_seconds
        self._actor = actor
        self._offline = offline  # nothing else writes (a command on a stopped store)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_config(
        cls,
        store: Store,
        config: Config,
        *,
        exporter: Any = None,
        actor: str = "collector",
        offline: bool = False,
    ) -> EvidenceService:
        return cls(
            store,
            state_dir=config.state_dir,
            chain_key=config.chain_key,
            digest_dir=config.digest_dir,
            digest_interval=config.digest_interval,
            digest_webhook=config.digest_webhook,
            retention=parse_retention(config.sections.get("retention", {})),
            owns_store=config.embedded,
            redaction=config.sections.get("redaction", {}),
            exporter=exporter,
            actor=actor,
            offline=offline,
        )

    @classmethod
    def for_collector(cls, store: Store, config: Config) -> EvidenceService:
        """The service of ``up``/``collector``, with the ``[export]`` it configures."""
        from agentaudit.export import build_exporter

        exporter = build_exporter(
            store, config.sections, state_dir=config.state_dir,
            seal_chain=seal_chain_id(config.state_dir),
        )  # fmt: skip
        return cls.from_config(store, config, exporter=exporter)

    @property
    def digest_dir(self) -> Path:
        return self._digest_dir

    @property
    def _digests(self) -> DigestWriter:
        """The digest writer, made (with the key, on first start) when first needed."""
        if self._digest_writer is None:
            self._digest_writer = DigestWriter(
                self._store,
                self._digest_dir,
                DigestKey.load_or_create(self.state_dir),
                webhook=self._digest_webhook,
            )
        return self._digest_writer

    @property
    def _grace(self) -> float | None:
        """A seal's grace now: none when nothing else can be writing."""
        return 0.0 if self._offline else None

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Apply the configured retention, then seal what is not sealed yet (and make the
        digest key, so a bad key file fails at start-up)."""
        with self._lock:
            _ = self._digests
            if self._retention is not None:
                apply_retention(self._store, self._retention, actor=self._actor)
            self.sealer.seal(grace_seconds=self._grace)

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self._every, args=(self._seal_seconds, self._seal_and_export),
                name="agentaudit-sealer", daemon=True,
            ),
            threading.Thread(
                target=self._every, args=(self._digest_interval, self._interval_digest),
                name="agentaudit-digests", daemon=True,
            ),
        ]  # fmt: skip
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the periodic work; seal, export and write the shutdown digest."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30.0)
        self._threads = []
        try:
            with self._lock:
                self.sealer.seal(grace_seconds=0.0 if self._owns_store else None)
                self._export()
                path = self._digests.write("shutdown")
            log.info("evidence: shutdown digest %s", path)
        except Exception:
            log.exception("evidence: the shutdown seal or digest failed")
        finally:
            if self.exporter is not None:
                self.exporter.close()

    def _every(self, seconds: float, action: Any) -> None:
        while not self._stop.wait(seconds):
            try:
                action()
            except Exception:  # the next round tries again
                log.exception("evidence: %s failed", getattr(action, "__name__", "task"))

    def _seal_and_export(self) -> None:
        with self._lock:
            self.sealer.seal()
            self._export()

    def _interval_digest(self) -> None:
        self.digest("interval")

    def _export(self) -> None:
        if self.exporter is not None:
            try:
                self.exporter.run()
            except Exception as exc:  # delivered next round; the checkpoint did not move
                log.warning("evidence: SIEM export failed (retried next round): %s", exc)

    def seal(self) -> None:
        """Seal now (up to the store's clock when nothing else writes, else minus the
        grace)."""
        with self._lock:
            self.sealer.seal(grace_seconds=self._grace)

    def digest(self, reason: str) -> Path:
        """Seal, then write a signed digest now."""
        with self._lock:
            self.sealer.seal(grace_seconds=self._grace)
            return self._digests.write(reason)

    # -- holds and erasures ------------------------------------------------------------

    def holds(self) -> list[Hold]:
        return list_holds(self._store)

    def place_hold(
        self,
        *,
        kind: str,
        value: str = "",
        from_us: int = 0,
        to_us: int = 0,
        actor: str,
        reason: str,
    ) -> Hold:
        """Place a hold: record it, spare its rows in every TTL, snapshot what it keeps."""
        with self._lock:
            hold = new_hold(
                self._store, kind=kind, value=value, from_us=from_us, to_us=to_us,
                actor=actor, reason=reason,
            )  # fmt: skip
            apply_retention(self._store, None, actor=actor)
            now_us = time.time_ns() // 1000
            grace = 0 if self._offline else int(SEAL_GRACE_SECONDS * 1_000_000)
            record_hold_units(self._store, now_us - grace, [hold])
            self.sealer.seal(grace_seconds=self._grace)
            return hold

    def release_hold(self, hold_id: str, *, actor: str, reason: str) -> Hold:
        with self._lock:
            hold = release_hold(self._store, hold_id, actor=actor, reason=reason)
            apply_retention(self._store, None, actor=actor)
            self.sealer.seal(grace_seconds=self._grace)
            return hold

    def erase(
        self,
        subject: str,
        *,
        identifiers: Iterable[str] = (),
        actor: str,
        reason: str,
        wait_seconds: float | None = None,
    ) -> ErasureReport:
        """Erase one person (their user id and further identifiers, and the redaction
        pseudonyms of all of them); the erasure record is sealed before this returns.
        ``wait_seconds``: how long to wait for the old data parts to leave the disk
        (default: the service's ``erase_wait_seconds``)."""
        identifiers = [i for i in identifiers if i]
        pseudonyms = subject_pseudonyms(self._redaction, self.state_dir, [subject, *identifiers])
        with self._lock:
            self.sealer.seal(grace_seconds=self._grace)
            report = erase_subject(
                self._store, subject=subject, identifiers=identifiers, pseudonyms=pseudonyms,
                actor=actor, reason=reason,
                wait_seconds=self._erase_wait if wait_seconds is None else wait_seconds,
            )  # fmt: skip
            self.sealer.seal(grace_seconds=self._grace)
            return report
