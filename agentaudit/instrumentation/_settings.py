"""Settings of the instrumentation: one frozen object from environment, file and code.

Precedence: :func:`configure` keyword arguments, then ``AGENTAUDIT_*`` environment
variables, then the ``[instrumentation]`` section of the TOML file named by
``AGENTAUDIT_CONFIG``, then the defaults. Per-tool settings live in
``[instrumentation.tools.<tool name>]`` (``trust``, ``resource``, ``capture_results``).

Fail-open: a bad value read from the environment or the file at start-up is logged and
replaced by its default (the agent keeps running); a bad value given to :func:`configure`
raises :class:`~agentaudit.errors.ConfigError` naming it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from agentaudit.config.values import env_name as _env_name
from agentaudit.config.values import parse_bool as _bool
from agentaudit.config.values import parse_names as _names
from agentaudit.config.values import parse_positive_int as _positive_int
from agentaudit.config.values import read_toml
from agentaudit.errors import ConfigError
from agentaudit.schema import attributes as A

__all__ = ["Redactor", "Settings", "ToolSettings", "configure", "load_settings", "settings"]

log = logging.getLogger("agentaudit.instrumentation")

Redactor = Callable[[str, str, Any], Any]
"""``redact(tool_name, "arguments" | "result", value) -> value``: runs in-process before
anything is hashed, captured or exported; what it removes never leaves the process."""

TRUST_LEVELS = frozenset({A.TRUST_UNTRUSTED, A.TRUST_USER, A.TRUST_TRUSTED})
DEFAULT_REDACT_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "authorization",
        "client_secret",
        "private_key",
    }
)
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class ToolSettings:
    """Per-tool settings from ``[instrumentation.tools.<name>]``."""

    trust: str | None = None
    """Trust of this tool's results as sources (default ``untrusted``)."""
    resource: str | None = None
    """An argument name, or a ``str.format`` template over the arguments."""
    capture_results: bool | None = None
    jit: bool = False
    """Mint a just-in-time credential before each call (see ``_jit``)."""
    scopes: tuple[str, ...] | None = None
    """The scopes this tool needs (for just-in-time credentials)."""


@dataclass(frozen=True)
class Settings:
    """What the instrumentation captures and how it hashes; immutable once built."""

    capture_arguments: bool = True
    capture_results: bool = False
    max_argument_bytes: int = 16_384
    max_result_bytes: int = 16_384
    hash_key: bytes | None = field(default=None, repr=False)
    redact: Redactor | None = None
    redact_keys: frozenset[str] = DEFAULT_REDACT_KEYS
    max_sources_per_session: int = 256
    max_source_bytes_per_session: int = 8 * 1024 * 1024
    max_sessions: int = 1024
    min_substring_match: int = 16
    disabled_integrations: frozenset[str] = frozenset()
    tools: Mapping[str, ToolSettings] = field(default_factory=dict)

    def tool(self, name: str) -> ToolSettings:
        return self.tools.get(name, _NO_TOOL_SETTINGS)


_NO_TOOL_SETTINGS = ToolSettings()


def _key(value: Any, origin: str) -> bytes | None:
    if value in (None, ""):
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ConfigError(f"{origin}: the hash key must be a string")


def _trust(value: Any, origin: str) -> str:
    if value not in TRUST_LEVELS:
        raise ConfigError(f"{origin}: {value!r} is not one of {sorted(TRUST_LEVELS)}")
    return str(value)


def _scopes(value: Any, origin: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ConfigError(f"{origin}: expected a list of scope strings")


def _tools(value: Any, origin: str) -> dict[str, ToolSettings]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{origin}: expected a table of tools")
    tools: dict[str, ToolSettings] = {}
    for name, table in value.items():
        where = f"{origin}.{name}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table")
        unknown = set(table) - {"trust", "resource", "capture_results", "jit", "scopes"}
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {sorted(unknown)}")
        tools[str(name)] = ToolSettings(
            trust=_trust(table["trust"], f"{where}.trust") if "trust" in table else None,
            resource=str(table["resource"]) if "resource" in table else None,
            capture_results=(
                _bool(table["capture_results"], f"{where}.capture_results")
                if "capture_results" in table
                else None
            ),
            jit=_bool(table["jit"], f"{where}.jit") if "jit" in table else False,
            scopes=_scopes(table["scopes"], f"{where}.scopes") if "scopes" in table else None,
        )
    return tools


def _redactor(value: Any, origin: str) -> Redactor | None:
    if value is None or callable(value):
        return value  # type: ignore[no-any-return]
    raise ConfigError(f"{origin}: the redaction hook must be callable")


_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "capture_arguments": _bool,
    "capture_results": _bool,
    "max_argument_bytes": _positive_int,
    "max_result_bytes": _positive_int,
    "hash_key": _key,
    "redact": _redactor,
    "redact_keys": _names,
    "max_sources_per_session": _positive_int,
    "max_source_bytes_per_session": _positive_int,
    "max_sessions": _positive_int,
    "min_substring_match": _positive_int,
    "disabled_integrations": _names,
    "tools": _tools,
}
_NOT_FROM_ENV = frozenset({"redact", "tools"})


def _file_section(environ: Mapping[str, str]) -> dict[str, Any]:
    path = environ.get("AGENTAUDIT_CONFIG")
    if not path:
        return {}
    data = read_toml(Path(path), f"AGENTAUDIT_CONFIG={path}")
    section = data.get("instrumentation", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [instrumentation] must be a table")
    return section


def load_settings(environ: Mapping[str, str] | None = None, *, strict: bool = False) -> Settings:
    """Settings from the environment and the config file.

    With ``strict`` a bad value raises ConfigError; otherwise it is logged and skipped.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    try:
        section = _file_section(environ)
    except ConfigError as exc:
        if strict:
            raise
        log.error("agentaudit: %s; using defaults", exc)
        section = {}
    known = {f.name for f in fields(Settings)}
    for key in set(section) - known:
        log.error("agentaudit: config file [instrumentation]: unknown setting %r ignored", key)
    for name in known:
        env = _env_name(name)
        if name not in _NOT_FROM_ENV and env in environ:
            raw, origin = environ[env], env
        elif name in section:
            raw, origin = section[name], f"[instrumentation] {name}"
        else:
            continue
        try:
            values[name] = _PARSERS[name](raw, origin)
        except ConfigError as exc:
            if strict:
                raise
            log.error("agentaudit: %s; using the default", exc)
    return Settings(**values)


class _Current:
    """The settings in force; replaced as a whole, read without a lock."""

    value: Settings | None = None
    lock = threading.Lock()
    listeners: ClassVar[list[Callable[[Settings], None]]] = []


def settings() -> Settings:
    """The settings in force (loaded from the environment on first use)."""
    current = _Current.value
    if current is None:
        return _reload()
    return current


def _reload() -> Settings:
    with _Current.lock:
        if _Current.value is None:
            _Current.value = load_settings()
        return _Current.value


def on_change(listener: Callable[[Settings], None]) -> None:
    """Call ``listener`` with the new settings whenever :func:`configure` changes them."""
    _Current.listeners.append(listener)


def configure(*, reset: bool = False, **changes: Any) -> Settings:
    """Change settings in code (fields of :class:`Settings`); returns the new settings.

    ``reset=True`` starts again from the environment and file before applying ``changes``.
    """
    unknown = set(changes) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"configure(): unknown setting(s) {sorted(unknown)}")
    parsed = {
        name: _PARSERS[name](value, f"configure({name}=...)") for name, value in changes.items()
    }
    with _Current.lock:
        base = load_settings() if reset or _Current.value is None else _Current.value
        new = _Current.value = replace(base, **parsed)
    for listener in list(_Current.listeners):
        listener(new)
    return new
