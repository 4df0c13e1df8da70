"""Parsing helpers shared by every settings reader: values, environment names, TOML.

Each parser takes the raw value (a flag's string, an environment variable, a TOML value)
and ``origin`` (the flag, variable or file key it came from) and returns the typed value
or raises :class:`~agentaudit.errors.ConfigError` naming ``origin``. TOML gives real types,
so a boolean or a fractional float is never accepted where a whole number is expected.

Used by :mod:`agentaudit.config` (the processes' settings), the instrumentation's
fail-open settings and the components that own a section of the config file
(:class:`Section`). Standard library only: an agent process imports this.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentaudit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ENV_PREFIX",
    "Parser",
    "Section",
    "env_name",
    "parse_bool",
    "parse_names",
    "parse_optional_path",
    "parse_optional_text",
    "parse_path",
    "parse_port",
    "parse_positive_float",
    "parse_positive_int",
    "parse_since",
    "parse_text",
    "read_toml",
]

ENV_PREFIX = "AGENTAUDIT_"
Parser = Callable[[Any, str], Any]
"""``parse(raw, origin) -> value``; raises ConfigError naming ``origin``."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def env_name(setting: str) -> str:
    """The environment variable of a setting: ``grpc_port`` -> ``AGENTAUDIT_GRPC_PORT``."""
    return ENV_PREFIX + setting.upper()


def _not_whole(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, float) and not value.is_integer())


def parse_bool(value: Any, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{origin}: {value!r} is not a boolean (use true or false)")


def parse_port(value: Any, origin: str) -> int:
    if _not_whole(value):
        raise ConfigError(f"{origin}: {value!r} is not a port number")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: {value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{origin}: {port} is outside the port range 0-65535")
    return port


def _positive(kind: Callable[[Any], float], value: Any, origin: str, *, whole: bool) -> Any:
    if isinstance(value, bool) or (whole and _not_whole(value)):
        raise ConfigError(f"{origin}: {value!r} is not a whole number")
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{origin}: {value!r} is not a number") from None
    if not 0 < number < math.inf:  # also refuses nan
        raise ConfigError(f"{origin}: {value!r} must be a finite number greater than zero")
    return number


def parse_positive_int(value: Any, origin: str) -> int:
    return int(_positive(int, value, origin, whole=True))


def parse_positive_float(value: Any, origin: str) -> float:
    return float(_positive(float, value, origin, whole=False))


def parse_text(value: Any, origin: str) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(f"{origin}: {value!r} is not a string")
    return str(value)


def parse_optional_text(value: Any, origin: str) -> str | None:
    return parse_text(value, origin) or None


def parse_path(value: Any, origin: str) -> Path:
    return Path(parse_text(value, origin)).expanduser().resolve()


def parse_optional_path(value: Any, origin: str) -> Path | None:
    return parse_path(value, origin) if value not in (None, "") else None


def parse_names(value: Any, origin: str) -> frozenset[str]:
    """A comma-separated string or a list, as lowercase names without blanks."""
    if isinstance(value, str):
        return frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(part).strip().lower() for part in value if str(part).strip())
    raise ConfigError(f"{origin}: {value!r} is not a comma-separated list")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_since(text: str, *, now: float | None = None, origin: str = "--since") -> int:
    """``30d`` / ``12h`` / ``90m`` / ``2w`` ago, or a date (``2026-11-01``, UTC unless it
    says otherwise), as nanoseconds since the epoch; ConfigError naming ``origin``."""
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        return int((now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]) * 1e9)
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{origin} {text!r}: give a duration (30d, 12h, 90m, 2w) or a date (2026-11-01)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp() * 1e9)


def read_toml(path: Path, origin: str) -> dict[str, Any]:
    """The TOML document at ``path``; ConfigError names ``origin`` and what is wrong."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except FileNotFoundError:
        raise ConfigError(f"{origin}: config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{origin}: config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{origin}: config file {path} cannot be read: {exc.strerror}") from None


class Section:
    """Typed reads from one table of the config file, with errors naming ``where``.

    Unknown keys are errors: a typo in security configuration must not pass silently.
    """

    def __init__(self, data: object, where: str, allowed: set[str]) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"config file {where} must be a table")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(
                f"config file {where}: unknown key {unknown[0]!r} "
                f"(known: {', '.join(sorted(allowed))})"
            )
        self.data: Mapping[str, Any] = data
        self.where = where

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"config file {self.where}.{key} must be a non-empty string")
        return value

    def url(self, key: str, *, required: bool) -> str | None:
        value = self.text(key)
        if value is None:
            if required:
                raise ConfigError(f"config file {self.where}.{key} is required")
            return None
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"config file {self.where}.{key}: {value!r} is not an http(s) URL")
        return value

    def number(self, key: str, default: float, *, integer: bool = False) -> Any:
        value = self.data.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value < math.inf  # TOML has inf and nan; neither is a setting
        ):
            raise ConfigError(
                f"config file {self.where}.{key} must be a finite, non-negative number"
            )
        if integer and not isinstance(value, int):
            raise ConfigError(f"config file {self.where}.{key} must be an integer")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"config file {self.where}.{key} must be true or false")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"config file {self.where}.{key} must be a list of strings")
        return tuple(value)
