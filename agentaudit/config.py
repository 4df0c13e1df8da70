"""Configuration of the agentaudit processes: one typed, frozen object.

Every setting comes, in order of precedence, from a command-line flag, an environment
variable (``AGENTAUDIT_<NAME>``), the TOML config file (``--config`` /
``AGENTAUDIT_CONFIG``, top-level keys named like the settings) or the default. A bad
value fails at start-up with a :class:`~agentaudit.errors.ConfigError` naming where the
value came from. Sections of the config file that belong to other components
(``[redaction]``, ``[dashboard.users]``, ...) are kept verbatim in :attr:`Config.sections`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from agentaudit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_STORE_DIR",
    "Config",
    "embedded_dsn",
    "load_config",
    "parse_dsn",
]

DEFAULT_STORE_DIR = Path(".agentaudit") / "store"
DEFAULT_API_URL = "http://127.0.0.1:4320"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Dsn:
    """A parsed storage DSN: ``chdb:///abs/dir`` or ``http(s)://user:pass@host:port/db``."""

    scheme: str
    path: Path | None
    raw: str

    @property
    def embedded(self) -> bool:
        return self.scheme == "chdb"


def embedded_dsn(store_dir: Path) -> str:
    """The DSN of an embedded store in ``store_dir`` (always an absolute path).

    The path is percent-encoded, so a ``#``, ``?`` or ``%`` in a directory name survives
    :func:`parse_dsn` instead of cutting the path short.
    """
    return "chdb://" + quote(str(store_dir.resolve()))


def parse_dsn(raw: str, *, origin: str = "--clickhouse") -> Dsn:
    """Validate a storage DSN; raise ConfigError naming ``origin`` when it is malformed."""
    parts = urlsplit(raw)
    if parts.scheme == "chdb":
        # chdb://./x parses "." as a host (a database name to chdb), not a path.
        if parts.netloc or not parts.path.startswith("/"):
            raise ConfigError(
                f"{origin}: {raw!r} is not an embedded-store DSN with an absolute path; "
                "write chdb:///absolute/path/to/dir (three slashes) or use --store DIR"
            )
        return Dsn("chdb", Path(unquote(parts.path)), raw)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ConfigError(
                f"{origin}: {raw!r} has no host; write http(s)://user:pass@host:8123/agentaudit"
            )
        try:
            parts.port  # noqa: B018 - raises ValueError on a non-numeric port
        except ValueError as exc:
            raise ConfigError(f"{origin}: {raw!r} has an invalid port: {exc}") from None
        return Dsn(parts.scheme, None, raw)
    raise ConfigError(
        f"{origin}: {raw!r} is not a supported DSN; use chdb:///absolute/dir (embedded) "
        "or http(s)://user:pass@host:8123/agentaudit (ClickHouse server)"
    )


def _not_whole(value: Any) -> bool:
    """TOML gives real types: a bool or a fractional float is not an integer setting."""
    return isinstance(value, bool) or (isinstance(value, float) and not value.is_integer())


def _port(value: Any, origin: str) -> int:
    if _not_whole(value):
        raise ConfigError(f"{origin}: {value!r} is not a port number")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: {value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{origin}: {port} is outside the port range 0-65535")
    return port


def _bool(value: Any, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{origin}: {value!r} is not a boolean (use true or false)")


def _text(value: Any, origin: str) -> str:
    if not isinstance(value, str | int | float):
        raise ConfigError(f"{origin}: {value!r} is not a string")
    return str(value)


def _optional_text(value: Any, origin: str) -> str | None:
    text = _text(value, origin)
    return text or None


def _path(value: Any, origin: str) -> Path:
    return Path(_text(value, origin)).expanduser().resolve()


def _optional_path(value: Any, origin: str) -> Path | None:
    return _path(value, origin) if value not in (None, "") else None


def _positive(kind: Callable[[Any], float], value: Any, origin: str, *, whole: bool = False) -> Any:
    if isinstance(value, bool) or (whole and _not_whole(value)):
        raise ConfigError(f"{origin}: {value!r} is not a whole number")
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{origin}: {value!r} is not a number") from None
    if not 0 < number < math.inf:  # also refuses nan
        raise ConfigError(f"{origin}: {value!r} must be a finite number greater than zero")
    return number


_Parser = Callable[[Any, str], Any]


DEFAULT_BATCH_ROWS = 20_000
DEFAULT_BATCH_SECONDS = 0.5
"""The writer stores a batch at this many spans, or after this long, whichever is first.

ClickHouse wants few, large inserts: each insert becomes a part that background merges
rewrite, so 5,000-span batches cost 10-20% more CPU per span than 20,000-span ones
(``python -m bench ingest``). Under light load the time bound keeps rows fresh.
"""


@dataclass(frozen=True)
class Config:
    """Settings of ``agentaudit up`` / ``collector`` / ``dashboard`` / ``sql``.

    Invariant: ``clickhouse_url`` is always a valid DSN; when it is embedded,
    ``store_dir`` is the absolute directory it names.
    """

    clickhouse_url: str = ""
    store: Path | None = None
    wal_dir: Path | None = None
    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    api_port: int = 4320
    dashboard_port: int = 8501
    no_dashboard: bool = False
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_seconds: float = DEFAULT_BATCH_SECONDS
    workers: int | None = None
    wal_max_bytes: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    chain_key_file: Path | None = None
    config: Path | None = None
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
    def loopback_only(self) -> bool:
        return self.host in LOOPBACK_HOSTS


_PARSERS: dict[str, _Parser] = {
    "clickhouse_url": _text,
    "store": _optional_path,
    "wal_dir": _optional_path,
    "host": _text,
    "grpc_port": _port,
    "http_port": _port,
    "api_port": _port,
    "dashboard_port": _port,
    "no_dashboard": _bool,
    "token": _optional_text,
    "admin_token": _optional_text,
    "api_url": _text,
    "batch_rows": lambda v, o: _positive(int, v, o, whole=True),
    "batch_seconds": lambda v, o: _positive(float, v, o),
    "workers": lambda v, o: _positive(int, v, o, whole=True),
    "wal_max_bytes": lambda v, o: _positive(int, v, o, whole=True),
    "tls_cert": _optional_path,
    "tls_key": _optional_path,
    "chain_key_file": _optional_path,
    "config": _optional_path,
}


_FLAGS = {"clickhouse_url": "--clickhouse"}
"""Settings whose command-line flag is not ``--<name-with-dashes>``."""


def _env_name(name: str) -> str:
    return "AGENTAUDIT_" + name.upper()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the Config from flags (None means "not given"), environment and file."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}

    config_origin = "--config" if "config" in flags else _env_name("config")
    config_raw = flags.get("config", environ.get(_env_name("config")))
    file_data: dict[str, Any] = {}
    if config_raw:
        config_path = _path(config_raw, config_origin)
        file_data = _read_file(config_path)
        values["config"] = config_path

    known = {f.name for f in fields(Config)} - {"sections", "config"}
    sections = {k: v for k, v in file_data.items() if isinstance(v, dict)}
    for key in file_data:
        if key not in known and key not in sections:
            raise ConfigError(f"config file: unknown setting {key!r}")

    for name in known:
        env_name = "AGENTAUDIT_CLICKHOUSE_URL" if name == "clickhouse_url" else _env_name(name)
        if name in flags:
            raw, origin = flags[name], _FLAGS.get(name, "--" + name.replace("_", "-"))
        elif env_name in environ:
            raw, origin = environ[env_name], env_name
        elif name in file_data:
            raw, origin = file_data[name], f"config file key {name!r}"
        else:
            continue
        origins[name] = origin
        try:
            values[name] = _PARSERS[name](raw, origin)
        except ValueError:
            raise ConfigError(f"{origin}: {raw!r} is not a valid value") from None

    if values.get("store") and values.get("clickhouse_url"):
        raise ConfigError(
            "give either --store DIR or --clickhouse DSN, not both (the store is set by "
            f"{origins['store']}, the DSN by {origins['clickhouse_url']})"
        )
    if values.get("clickhouse_url"):
        dsn = parse_dsn(values["clickhouse_url"], origin=origins["clickhouse_url"])
        if dsn.path is not None and values.get("wal_dir") is None:
            values["wal_dir"] = dsn.path.parent / "wal"  # beside an embedded store
    else:
        store = values.get("store") or DEFAULT_STORE_DIR.resolve()
        values["store"] = store
        values["clickhouse_url"] = embedded_dsn(store)
    if values.get("wal_dir") is None:
        base = values.get("store")
        values["wal_dir"] = (base.parent if base else DEFAULT_STORE_DIR.parent.resolve()) / "wal"
    return Config(sections=sections, **values)
