"""What ``hold`` and ``erase`` share: the admin API of a running process, else the store."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from agentaudit.client import AdminClient
from agentaudit.config import Config
from agentaudit.config.tokens import responder_token

if TYPE_CHECKING:
    from agentaudit.collector.evidence import EvidenceService

__all__ = ["direct_evidence", "responder_client"]


def responder_client(args: argparse.Namespace, config: Config) -> AdminClient | None:
    """The admin API to use, or None to open the store directly."""
    token = responder_token(config)
    if args.api:
        return AdminClient.for_responder(args.api, token=token)
    if args.store or args.clickhouse_url:
        return None
    client = AdminClient.for_responder(token=token)
    return client if client.healthy() else None


@contextlib.contextmanager
def direct_evidence(config: Config, *, actor: str) -> Iterator[EvidenceService]:
    """The evidence service of a store no process holds (migrated first, like the other
    commands that write to a stopped store); nothing else writes meanwhile."""
    from agentaudit.collector.evidence import EvidenceService
    from agentaudit.store import Store
    from agentaudit.store.migrations import apply_migrations

    with Store.open(config.clickhouse_url) as store:
        apply_migrations(store)
        yield EvidenceService.from_config(store, config, actor=actor, offline=True)
