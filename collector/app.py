"""Compose the collector: store, writer, receivers and admin API, in one lifecycle.

Start order: check the bind policy, open the store (and lock it, when embedded), apply
migrations, start the writer, bind every listener (so a busy port fails before anything
serves), then start serving. Stop order is the reverse, and it is what makes a clean
shutdown lose nothing: receivers stop accepting first (in-flight exports finish), then
the writer drains everything it was handed, then the admin API stops, then the store
closes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from agentaudit.collector.admin_api import build_admin_app
from agentaudit.collector.http_server import HttpServer
from agentaudit.collector.migrations import apply_migrations
from agentaudit.collector.receiver_grpc import GrpcReceiver
from agentaudit.collector.spans import SpanRecord
from agentaudit.collector.store import Store
from agentaudit.collector.writer import Writer
from agentaudit.config import Config
from agentaudit.errors import ConfigError

__all__ = ["Collector", "check_bind_policy"]

log = logging.getLogger(__name__)


def check_bind_policy(config: Config) -> None:
    """Refuse a non-loopback bind unless both tokens are configured (DESIGN §5)."""
    if config.loopback_only:
        return
    missing = [
        name
        for name, value in (
            ("AGENTAUDIT_TOKEN", config.token),
            ("AGENTAUDIT_ADMIN_TOKEN", config.admin_token),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"refusing to listen on {config.host} without authentication: set "
            f"{' and '.join(missing)}, or bind loopback with --host 127.0.0.1"
        )


class Collector:
    """The running collector. Use :meth:`start` / :meth:`stop`, or ``with``."""

    def __init__(self, config: Config, *, store: Store | None = None) -> None:
        self.config = config
        self._given_store = store
        self.store: Store | None = store
        self.writer: Writer | None = None
        self.grpc: GrpcReceiver | None = None
        self.admin: HttpServer | None = None
        self.started_at = 0.0
        self.spans_received = 0

    def accept(self, spans: list[SpanRecord]) -> None:
        """The pipeline every receiver feeds: hand decoded spans to the writer."""
        assert self.writer is not None
        self.spans_received += len(spans)
        self.writer.enqueue(spans)

    def health(self) -> dict[str, Any]:
        writer = self.writer
        return {
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "spans_received": self.spans_received,
            "spans_written": writer.stats.spans_written if writer else 0,
            "tool_calls_written": writer.stats.tool_calls_written if writer else 0,
            "pending": writer.pending if writer else 0,
            "store_errors": writer.stats.store_errors if writer else 0,
        }

    def start(self) -> None:
        config = self.config
        check_bind_policy(config)
        if self.store is None:
            self.store = Store.open(config.clickhouse_url)
        try:
            apply_migrations(self.store)
            self.writer = Writer(
                self.store, batch_rows=config.batch_rows, batch_seconds=config.batch_seconds
            )
            self.grpc = GrpcReceiver(
                self.accept, host=config.host, port=config.grpc_port, token=config.token
            )
            self.admin = HttpServer(
                build_admin_app(self.store, admin_token=config.admin_token, health=self.health),
                host=config.host,
                port=config.api_port,
                what="the admin API",
                flag="--api-port",
            )
        except BaseException:
            self._close_store()
            raise
        self.started_at = time.time()
        self.writer.start()
        self.grpc.start()
        self.admin.start()

    def stop(self) -> None:
        if self.grpc is not None:
            self.grpc.stop()
        if self.writer is not None:
            self.writer.stop()
        if self.admin is not None:
            self.admin.stop()
        self._close_store()
        log.info("collector stopped: %s", self.health())

    def _close_store(self) -> None:
        if self.store is not None and self._given_store is None:
            self.store.close()

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
