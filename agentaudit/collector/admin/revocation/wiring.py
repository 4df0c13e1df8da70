"""One call that assembles the revocation path over a Store, for the admin process.

``build_revocation_path(store, config.sections, default_key_file=...)`` returns the
broker (signing key loaded or created, deny-list persisted in ClickHouse), the
quarantine registry (persisted), the configured backends and the service;
``routes(path.gate(authenticator))`` are what the admin app mounts.
The store's migrations must have been applied first (0006 and 0007 add the tables).

With ``catalog=`` (the ``catalog`` setting: an identity-card catalog, docs/catalog.md)
the catalog is the broker's tool table: per (agent, tool) the broker mints at most the
tool's ``min_scopes`` and nothing for a tool not on the agent's card
(:class:`~agentaudit.catalog.CatalogScopePolicy`); ``[broker.tools]`` and
``unknown_tools`` are then not used. The file is loaded here (a bad one fails start-up
naming its line) and re-read when it changes.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from agentaudit.broker import Broker, DenyList, SigningKey
from agentaudit.catalog.enforcement import CatalogFile, CatalogScopePolicy
from agentaudit.collector.admin.gate import Gate
from agentaudit.collector.admin.revocation.api import revocation_routes
from agentaudit.collector.admin.revocation.config import (
    build_backends,
    load_broker_settings,
    load_revocation_settings,
)
from agentaudit.collector.admin.revocation.context import tool_call_context
from agentaudit.collector.admin.revocation.quarantine import (
    ClickHouseQuarantineStore,
    QuarantineRegistry,
)
from agentaudit.collector.admin.revocation.records import ClickHouseDenyListStore, RevocationLog
from agentaudit.collector.admin.revocation.service import RevocationService
from agentaudit.collector.identity.principals import Authenticator, Principal
from agentaudit.store import Store, StoreError

log = logging.getLogger(__name__)

BLOCK_SLACK_SECONDS = 60.0
"""How far a blocked call may lie outside the quarantine it claims (the runtime polls
every few seconds and may act on a state up to three polls old)."""

__all__ = ["RevocationPath", "build_revocation_path"]


@dataclass
class RevocationPath:
    """The assembled parts; ``close`` stops the fan-out pool. ``catalog``: the
    identity-card catalog the broker enforces (None: ``[broker.tools]``), for the other
    parts of the process that read it (the detector's ``off_card``)."""

    service: RevocationService
    broker: Broker
    quarantine: QuarantineRegistry
    catalog: CatalogFile | None = None

    def was_blocked(self, agent: str, user: str, session: str, ts_ns: int) -> bool:
        """Whether a call by them starting at ``ts_ns`` would have been refused: the agent
        was quarantined then (its current or latest quarantine, give or take
        :data:`BLOCK_SLACK_SECONDS` for the runtime's polling), or the agent, user or
        session is on the deny-list now. What corroborates a span's ``blocked`` claim."""
        started = ts_ns / 1e9
        state = self.quarantine.state(agent) if agent else None
        if state is not None:
            ended = math.inf if state.quarantined else state.updated_at
            if state.since - BLOCK_SLACK_SECONDS <= started <= ended + BLOCK_SLACK_SECONDS:
                return True
        snapshot = self.broker.denylist.snapshot()
        return any(
            snapshot.blocks(kind, value)
            for kind, value in (("agent", agent), ("user", user), ("session", session))
            if value
        )

    def gate(self, authenticator: Authenticator) -> Gate:
        """The admin API's gate, recording refused attempts in ``agentaudit.revocations``."""

        async def record(
            principal: Principal, action: str, target: str, target_id: str, detail: str
        ) -> str | None:
            try:
                recorded: str = await run_in_threadpool(
                    self.service.record_refused,
                    action=action,
                    target=target,
                    target_id=target_id,
                    requested_by=principal.label,
                    detail=detail,
                )
            except StoreError:
                log.exception("could not record the refused attempt")
                return None
            return recorded

        return Gate(authenticator, record)

    def routes(self, gate: Gate) -> list[Route]:
        return revocation_routes(service=self.service, broker=self.broker, gate=gate)

    def close(self) -> None:
        self.service.close()


def build_revocation_path(
    store: Store,
    sections: Mapping[str, Any],
    *,
    default_key_file: Path | None = None,
    catalog: Path | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> RevocationPath:
    """Build everything from the config file's ``[revocation]`` and ``[broker]`` sections.

    Without a ``key_file`` (configured or default) the broker signs with an in-memory
    key: credentials then die with the process, and several collectors would not share
    a key — configure ``[broker] key_file`` in server mode. ``catalog``: the module
    docstring.
    """
    environ = os.environ if environ is None else environ
    revocation = load_revocation_settings(sections, environ)
    broker_settings = load_broker_settings(sections, default_key_file=default_key_file)
    key = (
        SigningKey.load_or_create(broker_settings.key_file)
        if broker_settings.key_file is not None
        else SigningKey.generate()
    )
    catalog_file = CatalogFile(catalog) if catalog is not None else None
    if catalog_file is not None and broker_settings.tool_scopes:
        log.warning(
            "broker: the catalog %s is the broker's tool table; [broker.tools] (%s) is not used",
            catalog,
            ", ".join(sorted(broker_settings.tool_scopes)),
        )
    broker = Broker(
        key=key,
        issuer=broker_settings.issuer,
        default_ttl=broker_settings.default_ttl,
        max_ttl=broker_settings.max_ttl,
        tool_scopes=broker_settings.tool_scopes,
        unknown_tools=broker_settings.unknown_tools,
        scope_policy=CatalogScopePolicy(catalog_file) if catalog_file is not None else None,
        denylist=DenyList(
            ClickHouseDenyListStore(store), clock=clock, max_ttl=broker_settings.max_ttl
        ),
        clock=clock,
    )
    quarantine = QuarantineRegistry(ClickHouseQuarantineStore(store), clock=clock)
    service = RevocationService(
        RevocationLog(store),
        build_backends(revocation, broker=broker, sleep=sleep, clock=clock),
        quarantine=quarantine,
        context=tool_call_context(store),
        dashboard_url=revocation.dashboard_url,
        clock=clock,
    )
    return RevocationPath(
        service=service, broker=broker, quarantine=quarantine, catalog=catalog_file
    )
