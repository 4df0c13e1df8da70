"""What ``lint``, ``card`` and ``catalog`` share: the catalog file and where observed use
is read.

Observed use (tool calls, the agent registry, findings, sign-offs) is read, in order:
``--api URL`` (a running process, with the responder token); ``--store DIR`` /
``--clickhouse DSN`` (or ``AGENTAUDIT_STORE`` / ``AGENTAUDIT_CLICKHOUSE_URL``: a store no
process holds). With none of them, ``card`` and ``catalog suggest`` use the admin API at
``AGENTAUDIT_API_URL`` when a process answers there, else the default store if it
exists; ``lint`` reads the catalog alone (so it runs in CI with no store).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentaudit.catalog.observed import ApiSource, Source, StoreSource
from agentaudit.client import AdminClient
from agentaudit.config import Config, safe_dsn
from agentaudit.config.tokens import responder_token
from agentaudit.errors import ConfigError

__all__ = ["Where", "add_where_flags", "catalog_path", "open_where"]

CATALOG_HINT = "give --catalog FILE, or set AGENTAUDIT_CATALOG (or `catalog` in the config file)"


@dataclass
class Where:
    """An open place to read observed use: a source, and the store or client behind it."""

    source: Source
    label: str
    store: Any = None
    client: AdminClient | None = None


def add_where_flags(
    parser: argparse.ArgumentParser, add_store_flags: Callable[[argparse.ArgumentParser], Any]
) -> None:
    where = add_store_flags(parser)
    where.add_argument("--api", metavar="URL", help="admin API of a running process")


def catalog_path(args: argparse.Namespace, config: Config) -> Path:
    path = getattr(args, "catalog", None)
    found = Path(path) if path else config.catalog
    if found is None:
        raise ConfigError(f"no catalog: {CATALOG_HINT}")
    return found


def _explicit_store(args: argparse.Namespace) -> bool:
    return bool(
        args.store
        or args.clickhouse_url
        or os.environ.get("AGENTAUDIT_STORE")
        or os.environ.get("AGENTAUDIT_CLICKHOUSE_URL")
    )


@contextmanager
def _store(config: Config) -> Iterator[Where]:
    from agentaudit.store import Store
    from agentaudit.store.migrations import apply_migrations

    with Store.open(config.clickhouse_url) as store:
        apply_migrations(store)
        yield Where(StoreSource(store), f"store {safe_dsn(config.dsn)}", store=store)


def _api(url: str | None, config: Config) -> Where:
    client = AdminClient.for_responder(url, token=responder_token(config))
    return Where(ApiSource(client), f"admin API {client.url}", client=client)


@contextmanager
def open_where(
    args: argparse.Namespace, config: Config, *, required: bool
) -> Iterator[Where | None]:
    """The place observed use is read from (module docstring), open for the block; None
    when ``required`` is False and none was named."""
    if args.api:
        yield _api(args.api, config)
        return
    if _explicit_store(args):
        with _store(config) as where:
            yield where
        return
    if not required:
        yield None
        return
    api = _api(None, config)
    if api.client is not None and api.client.healthy():
        yield api
        return
    if config.store_dir is not None and config.store_dir.is_dir():
        with _store(config) as where:
            yield where
        return
    raise ConfigError(
        "no audit data to read: no process answers at AGENTAUDIT_API_URL and the store "
        f"{config.store_dir} does not exist; give --api URL, --store DIR or --clickhouse DSN"
    )
