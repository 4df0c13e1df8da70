"""The settings of the agentaudit processes: one typed, frozen :class:`Config`.

Every setting is declared once in :data:`SETTINGS`, and that declaration is its
command-line flag (``--grpc-port``), its environment variable (``AGENTAUDIT_GRPC_PORT``)
and its key in the TOML config file (``grpc_port``, at the top level). Precedence: flag,
then environment, then file, then default. A bad value fails at start-up with a
:class:`~agentaudit.errors.ConfigError` naming where it came from. Secrets (tokens) have
no flag: a command line is visible to every local user.

Tables of the config file that belong to one component (``[redaction]``,
``[revocation]``, ``[broker]``, ``[dashboard.users]``, ``[instrumentation]``) are kept
verbatim in :attr:`Config.sections`; each component reads its own table once with
:class:`~agentaudit.config.values.Section`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentaudit.config import values as v
from agentaudit.config.dsn import Dsn, embedded_dsn, parse_dsn
from agentaudit.errors import ConfigError

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BATCH_SECONDS",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_STATE_DIR",
    "DEFAULT_STORE_DIR",
    "DEFAULT_WAL_MAX_BYTES",
    "DEFAULT_WAL_SEGMENT_BYTES",
    "LOOPBACK_HOSTS",
    "SETTINGS",
    "Config",
    "Setting",
    "load_config",
]

DEFAULT_STATE_DIR = Path(".agentaudit")
DEFAULT_STORE_DIR = DEFAULT_STATE_DIR / "store"
DEFAULT_API_URL = "http://127.0.0.1:4320"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

DEFAULT_BATCH_ROWS = 20_000
DEFAULT_BATCH_SECONDS = 0.5
"""The writer stores a batch at this many spans, or after this long, whichever is first.

ClickHouse wants few, large inserts: each insert becomes a part that background merges
rewrite, so 5,000-span batches cost 10-20% more CPU per span than 20,000-span ones
(``python -m bench ingest``). Under light load the time bound keeps rows fresh.
"""
DEFAULT_WAL_MAX_BYTES = 1 << 30
DEFAULT_WAL_SEGMENT_BYTES = 16 << 20
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""The cap on one export request after decompression, on both receivers."""


@dataclass(frozen=True)
class Setting:
    """One setting: its parser, and how the command line offers it.

    ``group`` says which commands take the flag (``store``: every command that opens a
    store; ``server``: ``up`` and ``collector``; ``dashboard``: ``up`` and
    ``dashboard``; ``catalog``: ``lint``, ``card``, ``catalog``, ``up``, ``collector``
    and ``dashboard``; ``migrate``: ``migrate``; ``env``: no flag, environment and file
    only).
    """

    name: str
    parse: v.Parser
    group: str
    help: str
    metavar: str | None = None
    flag: str | None = None

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return v.env_name(self.name)

    @property
    def is_switch(self) -> bool:
        """A flag without a value (``--no-dashboard``)."""
        return self.parse is v.parse_bool


def _whole(value: Any, origin: str) -> int:
    return v.parse_positive_int(value, origin)


AUTO = "auto"


def auto_workers() -> int:
    """Receiving processes when ``workers`` is not set (or ``auto``): 2 on Linux where this
    process may use two cores or more, else 1.

    Two because that is what was measured (``python -m bench ingest``, 2 cores): two
    receiving processes ingest ~45% more than one and meet the p99 export-latency target
    one process misses, and beyond two the store-owning process (one interpreter for the
    writer) is the limit, not receiving. Linux only: elsewhere SO_REUSEPORT does not
    spread connections over the processes that share a port.
    """
    if not sys.platform.startswith("linux"):
        return 1
    return 2 if len(os.sched_getaffinity(0)) >= 2 else 1


def _workers(value: Any, origin: str) -> int:
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return auto_workers()
    return _whole(value, origin)


def _optional_url(value: Any, origin: str) -> str | None:
    text = v.parse_optional_text(value, origin)
    if text and not text.startswith(("http://", "https://")):
        raise ConfigError(f"{origin}: {text!r} is not an http(s) URL")
    return text or None


DETECTOR_MODES = ("auto", "on", "off")


def _detector_mode(value: Any, origin: str) -> str:
    text = v.parse_text(value, origin).strip().lower()
    if text not in DETECTOR_MODES:
        raise ConfigError(f"{origin}: {value!r} is not one of {', '.join(DETECTOR_MODES)}")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting("store", v.parse_optional_path, "store", "embedded store directory "
            "(default ./.agentaudit/store)", "DIR"),
    Setting("clickhouse_url", v.parse_text, "store",
            "chdb:///abs/dir or http(s)://user:pass@host:8123/agentaudit", "DSN", "--clickhouse"),
    Setting("reader_clickhouse_url", v.parse_optional_text, "store",
            "server mode: the read-only ClickHouse user investigator SQL runs as "
            "(docs/sql.md); default: the store's user with readonly=2", "DSN",
            "--reader-clickhouse"),
    Setting("config", v.parse_optional_path, "store", "TOML config file", "FILE"),
    Setting("cluster", v.parse_optional_text, "migrate", "a ClickHouse cluster: create "
            "Replicated tables ON CLUSTER and Distributed tables over them (docs/server.md)",
            "NAME"),
    Setting("wal_dir", v.parse_optional_path, "server",
            "write-ahead log directory (default beside the store)", "DIR"),
    Setting("host", v.parse_text, "bind", "address to bind (default 127.0.0.1)"),
    Setting("grpc_port", v.parse_port, "server", "OTLP/gRPC port (default 4317)", "N"),
    Setting("http_port", v.parse_port, "server", "OTLP/HTTP port (default 4318)", "N"),
    Setting("api_port", v.parse_port, "server", "admin API port (default 4320)", "N"),
    Setting("dashboard_port", v.parse_port, "dashboard", "dashboard port (default 8501)", "N"),
    Setting("no_dashboard", v.parse_bool, "server", "do not serve the dashboard"),
    Setting("workers", _workers, "server", "receiving processes: N, or auto (the default: 2 "
            "on Linux with two cores or more, else 1). With N > 1, N worker processes "
            "receive, decode and redact (SO_REUSEPORT, one WAL each) while this process "
            "only stores", "N|auto"),
    Setting("wal_max_bytes", _whole, "server",
            "WAL disk cap; past it clients get retryable backpressure (default 1 GiB)", "N"),
    Setting("wal_segment_bytes", _whole, "server", "size of one WAL segment file "
            "(default 16 MiB)", "N"),
    Setting("no_fsync", v.parse_bool, "server", "UNSAFE: acknowledge exports without fsync "
            "(a power loss can lose acknowledged spans); for benchmarks"),
    Setting("max_request_bytes", _whole, "server",
            "largest export request after decompression (default 64 MiB)", "N"),
    Setting("decode_budget_bytes", _whole, "server", "memory for export requests being read, "
            "inflated and decoded, all together; past it clients get retryable backpressure "
            "(default 256 MiB)", "N"),
    Setting("max_pending_spans", _whole, "server", "spans the writer may fall behind before "
            "clients get retryable backpressure (default 2,000,000)", "N"),
    Setting("batch_rows", _whole, "server", "writer batch: spans per insert (default 20,000)",
            "N"),
    Setting("batch_seconds", v.parse_positive_float, "server",
            "writer batch: seconds of waiting before a partial batch is stored (default 0.5)",
            "S"),
    Setting("tls_cert", v.parse_optional_path, "server", "PEM certificate: serve TLS", "FILE"),
    Setting("tls_key", v.parse_optional_path, "server", "PEM private key for --tls-cert", "FILE"),
    Setting("chain_key_file", v.parse_optional_path, "chain",
            "HMAC key that signs the audit chain links", "FILE"),
    Setting("digest_dir", v.parse_optional_path, "server", "where the signed digests of the "
            "chain heads are written (default <state dir>/digests; docs/evidence.md)", "DIR"),
    Setting("digest_interval", v.parse_positive_float, "server", "seconds between signed "
            "digests (default 3600; one is also written at shutdown)", "S"),
    Setting("digest_webhook", _optional_url, "server", "also POST each signed digest to this "
            "http(s) URL (best effort; the directory copy is authoritative)", "URL"),
    Setting("refuse_agent_mismatch", v.parse_bool, "server", "refuse spans whose agent id is "
            "not the agent whose own token sent them (default: store them, flagged "
            "agent_mismatch = 1)"),
    Setting("detector_mode", _detector_mode, "server", "run the detector beside this collector "
            "(a process it starts and supervises): auto (default: with the embedded store), "
            "on, off (with a ClickHouse server run it once only: here, or as "
            "`agentaudit detect --follow`)",
            "auto|on|off"),
    Setting("insecure_no_auth", v.parse_bool, "server", "INSECURE: run without tokens; any "
            "local process (an agent too) can query, revoke and lift a quarantine. Loopback "
            "only. Without it, missing tokens are generated into the state directory"),
    Setting("catalog", v.parse_optional_path, "catalog", "the agents' identity-card catalog "
            "(TOML: owners, tools, minimum scopes, credentials; docs/catalog.md)", "FILE"),
    Setting("token", v.parse_optional_text, "env", "agents' token: OTLP export, quarantine reads"),
    Setting("admin_token", v.parse_optional_text, "env",
            "responders' token: revocations, releases, queries"),
    Setting("api_url", v.parse_text, "env", "a running process's admin API"),
)  # fmt: skip
_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    """Settings of ``agentaudit up`` / ``collector`` / ``dashboard`` / ``sql`` / ``verify``.

    Invariants: ``clickhouse_url`` is always a valid DSN; when it is embedded,
    ``store`` is the absolute directory it names; ``wal_dir`` is always set;
    ``tls_cert`` and ``tls_key`` are both set or both unset; ``chain_key`` holds the
    contents of ``chain_key_file``.
    """

    clickhouse_url: str = ""
    store: Path | None = None
    reader_clickhouse_url: str | None = field(default=None, repr=False)
    config: Path | None = None
    cluster: str | None = None
    wal_dir: Path | None = None
    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    api_port: int = 4320
    dashboard_port: int = 8501
    no_dashboard: bool = False
    workers: int = 1  # built in code: one process; load_config defaults to auto_workers()
    wal_max_bytes: int = DEFAULT_WAL_MAX_BYTES
    wal_segment_bytes: int = DEFAULT_WAL_SEGMENT_BYTES
    no_fsync: bool = False
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    decode_budget_bytes: int = 256 * 1024 * 1024
    max_pending_spans: int = 2_000_000
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_seconds: float = DEFAULT_BATCH_SECONDS
    tls_cert: Path | None = None
    tls_key: Path | None = None
    chain_key_file: Path | None = None
    digest_dir: Path | None = None
    digest_interval: float = 3600.0
    digest_webhook: str | None = None
    refuse_agent_mismatch: bool = False
    detector_mode: str = "auto"
    insecure_no_auth: bool = False
    catalog: Path | None = None
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    chain_key: bytes | None = field(default=None, repr=False)
    sections: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def dsn(self) -> Dsn:
        return parse_dsn(self.clickhouse_url)

    @property
    def embedded(self) -> bool:
        return self.dsn.embedded

    @property
    def store_dir(self) -> Path | None:
        return self.dsn.path

    @property
    def state_dir(self) -> Path:
        """Where keys and generated tokens live: the WAL directory's parent."""
        assert self.wal_dir is not None
        return self.wal_dir.parent

    @property
    def loopback_only(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    @property
    def fsync(self) -> bool:
        return not self.no_fsync

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def runs_detector(self) -> bool:
        """Whether ``up``/``collector`` runs the detector in its own process."""
        return self.detector_mode == "on" or (self.detector_mode == "auto" and self.embedded)


def _raw_values(
    flags: Mapping[str, Any], environ: Mapping[str, str], file_data: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each setting's parsed value and its origin, by precedence flag > env > file."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for setting in SETTINGS:
        name = setting.name
        if name == "config":
            continue
        if name in flags:
            raw, origin = flags[name], setting.option
        elif setting.env in environ:
            raw, origin = environ[setting.env], setting.env
        elif name in file_data:
            raw, origin = file_data[name], f"config file key {name!r}"
        else:
            continue
        origins[name] = origin
        try:
            values[name] = setting.parse(raw, origin)
        except ValueError:
            raise ConfigError(f"{origin}: {raw!r} is not a valid value") from None
    return values, origins


def _read_chain_key(path: Path, origin: str) -> bytes:
    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read {path}: {exc.strerror}") from None


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the Config from flags (None means "not given"), environment and file."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    unknown_flags = sorted(set(flags) - set(_BY_NAME))
    if unknown_flags:
        raise TypeError(f"load_config: unknown setting(s) {unknown_flags}")
    environ = os.environ if environ is None else environ

    config_setting = _BY_NAME["config"]
    config_origin = config_setting.option if "config" in flags else config_setting.env
    config_raw = flags.get("config", environ.get(config_setting.env))
    file_data: dict[str, Any] = {}
    config_path = None
    if config_raw:
        config_path = v.parse_path(config_raw, config_origin)
        file_data = v.read_toml(config_path, config_origin)
    if "collector" in file_data:
        raise ConfigError(
            "config file: the [collector] table is gone; its keys (workers, wal_max_bytes, "
            "tls_cert, ...) are top-level settings now, like host and grpc_port"
        )
    sections = {k: val for k, val in file_data.items() if isinstance(val, dict)}
    for key in file_data:
        if key not in _BY_NAME and key not in sections:
            raise ConfigError(f"config file: unknown setting {key!r}")

    values, origins = _raw_values(flags, environ, file_data)
    values.setdefault("workers", auto_workers())
    if config_path is not None:
        values["config"] = config_path
    if values.get("store") and values.get("clickhouse_url"):
        raise ConfigError(
            "give either --store DIR or --clickhouse DSN, not both (the store is set by "
            f"{origins['store']}, the DSN by {origins['clickhouse_url']})"
        )
    if values.get("clickhouse_url"):
        dsn = parse_dsn(values["clickhouse_url"], origin=origins["clickhouse_url"])
        if dsn.path is not None:
            values.setdefault("wal_dir", dsn.path.parent / "wal")  # beside an embedded store
    else:
        store = values.get("store") or DEFAULT_STORE_DIR.resolve()
        values["store"] = store
        values["clickhouse_url"] = embedded_dsn(store)
    if values.get("reader_clickhouse_url"):
        origin = origins["reader_clickhouse_url"]
        if parse_dsn(values["reader_clickhouse_url"], origin=origin).embedded:
            raise ConfigError(
                f"{origin}: the read-only reader is a ClickHouse server user "
                "(http(s)://user:pass@host:8123/agentaudit); the embedded store has "
                "read-only handles of its own"
            )
    if values.get("wal_dir") is None:
        base = values.get("store")
        values["wal_dir"] = (base.parent if base else DEFAULT_STATE_DIR.resolve()) / "wal"
    if (values.get("tls_cert") is None) != (values.get("tls_key") is None):
        raise ConfigError("give both --tls-cert and --tls-key (TLS needs both), or neither")
    if values.get("token") and values.get("token") == values.get("admin_token"):
        raise ConfigError(
            f"{origins['token']} and {origins['admin_token']} are the same: an agent holding "
            "it could revoke, release and query; give responders a token of their own"
        )
    if values.get("chain_key_file") is not None:
        values["chain_key"] = _read_chain_key(values["chain_key_file"], origins["chain_key_file"])
    return Config(sections=sections, **values)
