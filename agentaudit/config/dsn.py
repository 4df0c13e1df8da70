"""Storage DSNs: ``chdb:///abs/dir`` (embedded) or ``http(s)://user:pass@host:8123/db``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from agentaudit.errors import ConfigError

__all__ = ["Dsn", "embedded_dsn", "parse_dsn", "safe_dsn"]


@dataclass(frozen=True)
class Dsn:
    """A parsed storage DSN; ``path`` is the absolute store directory of an embedded one."""

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


def safe_dsn(dsn: Dsn) -> str:
    """The DSN without its password, for messages and logs."""
    parts = urlsplit(dsn.raw)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn.raw
