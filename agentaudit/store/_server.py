"""What differs on a ClickHouse server: client options, the schema's layout, its settings.

Seam: :meth:`agentaudit.store.Store.open` asks this module how to build a server client
and what every statement of that client carries; the embedded store needs none of it.
docs/server.md explains each point for operators.

* **TLS from the scheme.** ``https://`` means TLS whatever the port; certificate options
  ride in the DSN's query (``?ca_cert=/path/ca.pem``, ``verify=false``, ``client_cert=``,
  ``client_cert_key=``), which clickhouse-connect reads.
* **No HTTP session.** clickhouse-connect gives an HTTP client a session id by default, and
  a server runs one query per session at a time (``SESSION_IS_LOCKED``); a store's client
  is shared by the writer, the detector and the admin API's threads, so server clients
  run without a session and every setting travels with its query.
* **Synchronous, deduplicated inserts.** ``async_insert = 0`` (a profile may turn async
  inserts on: the server would answer before the rows are in a part, and a deduplication
  token would need ``async_insert_deduplicate``; the collector's WAL is the buffer
  already) and ``insert_deduplicate = 1`` (a token is only honoured with it).
* **Layout.** ``single``: the tables of ``agentaudit`` are MergeTree tables.
  ``cluster``: ``agentaudit migrate --cluster NAME`` put Replicated tables in
  ``agentaudit_local`` on every node and, under the contract names in ``agentaudit``,
  Distributed tables over them; every reader (dashboards, ``agentaudit sql``, the
  detector, ``verify``) keeps reading ``agentaudit.<table>`` and so reads the whole
  cluster, and every writer writes through the Distributed tables. Detected at open from
  ``system.tables``: nothing to configure.
* **Cluster writes** are synchronous (``distributed_foreground_insert = 1``: the insert
  returns once every shard has its part, so the WAL checkpoint means what it says; the
  shard's insert carries the query's settings, the deduplication token included, and the
  split by the sharding key is deterministic, so a retried batch is deduplicated on every
  shard) and wait for every replica of the shard (``insert_quorum`` = replicas per shard:
  the audit chain hashes a batch's rows right after the insert, through the Distributed
  table, and any replica may answer that read).
* **Cluster reads** turn a JOIN or ``IN`` between two Distributed tables into a global one
  (``distributed_product_mode = 'global'``): correct for any sharding, where the default
  refuses the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from agentaudit.config.dsn import Dsn

__all__ = [
    "DATABASE",
    "LOCAL_DATABASE",
    "Layout",
    "client_options",
    "detect_layout",
    "server_root_dsn",
]

DATABASE: Final = "agentaudit"
LOCAL_DATABASE: Final = "agentaudit_local"
"""Where a cluster keeps the Replicated tables the Distributed ones in ``agentaudit`` read."""

SERVER_WRITE_SETTINGS: Final = {"async_insert": 0, "insert_deduplicate": 1}
_DISTRIBUTED_RE = re.compile(r"^Distributed\(\s*'((?:[^'\\]|\\.)*)'")


def client_options(dsn: Dsn) -> dict[str, Any]:
    """Extra ``clickhouse_connect.get_client`` arguments for ``dsn``'s client.

    ``interface`` is the DSN's scheme: clickhouse-connect takes TLS from the port (8443,
    443) rather than from ``https://``, so ``https://host:9443`` would otherwise be sent
    as plain HTTP.
    """
    if dsn.embedded:
        return {}
    return {"autogenerate_session_id": False, "interface": dsn.scheme}


def server_root_dsn(dsn: Dsn) -> str:
    """``dsn`` without its database path (a client of the server before the database exists)."""
    parts = urlsplit(dsn.raw)
    return urlunsplit(parts._replace(path=""))


@dataclass(frozen=True)
class Layout:
    """Where the audit tables live on the server, and what statements carry for it.

    ``cluster`` is None for one server (or the embedded store); ``replicas`` is the number
    of replicas of the smallest shard.
    """

    cluster: str | None = None
    replicas: int = 1
    server: bool = False

    @property
    def clustered(self) -> bool:
        return self.cluster is not None

    def write_settings(self) -> dict[str, Any]:
        """Settings of every statement of the store's own client (server only)."""
        if not self.server:
            return {}
        settings: dict[str, Any] = dict(SERVER_WRITE_SETTINGS)
        if self.clustered:
            settings["distributed_foreground_insert"] = 1
            if self.replicas > 1:
                settings["insert_quorum"] = self.replicas
        return settings

    def read_settings(self) -> dict[str, Any]:
        """Settings every read of the audit tables needs (cluster only)."""
        return {"distributed_product_mode": "global"} if self.clustered else {}

    def ddl_target(self, table: str) -> str:
        """What an ``ALTER TABLE`` of a table's storage (TTL, settings, mutations) names.

        ``agentaudit.<table>`` on one server; on a cluster the Replicated table on every
        node, ``agentaudit_local.<table> ON CLUSTER '<name>'`` (the Distributed table has
        no storage to alter).
        """
        if self.cluster is None:
            return f"{DATABASE}.`{table}`"
        return f"{LOCAL_DATABASE}.`{table}` ON CLUSTER '{self.cluster}'"


def detect_layout(client: Any) -> Layout:
    """The layout of the server ``client`` talks to (one query, two on a cluster)."""
    rows = client.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} "
        "AND name = 'tool_calls'",
        parameters={"db": DATABASE},
    ).result_rows
    match = _DISTRIBUTED_RE.match(str(rows[0][0])) if rows else None
    if match is None:
        return Layout(server=True)
    cluster = match.group(1).replace("\\'", "'")
    replicas = client.query(
        "SELECT min(replicas) FROM (SELECT shard_num, count() AS replicas "
        "FROM system.clusters WHERE cluster = {c:String} GROUP BY shard_num)",
        parameters={"c": cluster},
    ).result_rows
    count = int(replicas[0][0]) if replicas and replicas[0][0] else 1
    return Layout(cluster=cluster, replicas=max(count, 1), server=True)
