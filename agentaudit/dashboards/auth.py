"""Dashboard accounts: scrypt password hashes, users from config, and role checks.

Two roles: ``viewer`` (every page but Revoke) and ``responder`` (everything). Users come
from the config file's ``[dashboard.users]`` table (``name = { role = "...",
password_hash = "scrypt$..." }``) and from ``AGENTAUDIT_DASHBOARD_PASSWORD``, which
creates a ``responder`` account named ``admin`` (or ``AGENTAUDIT_DASHBOARD_USER``).

Invariants: passwords are never stored or compared in clear; verification runs in
constant time over the derived key; a malformed hash or user entry is a ConfigError at
start-up, not a silent lock-out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.errors import ConfigError

__all__ = [
    "RESPONDER",
    "ROLES",
    "VIEWER",
    "User",
    "authenticate",
    "hash_password",
    "load_users",
    "verify_password",
]

VIEWER: Final = "viewer"
RESPONDER: Final = "responder"
ROLES: Final = (VIEWER, RESPONDER)
PASSWORD_VARIABLE: Final = "AGENTAUDIT_DASHBOARD_PASSWORD"  # noqa: S105 - a variable name
USER_VARIABLE: Final = "AGENTAUDIT_DASHBOARD_USER"
DEFAULT_ENV_USER: Final = "admin"

_SCHEME: Final = "scrypt"
_N: Final = 2**14
_R: Final = 8
_P: Final = 1
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32
_MAX_N: Final = 2**20


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str = ""

    @property
    def responder(self) -> bool:
        return self.role == RESPONDER


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$key`` with a random salt (base64url, no padding)."""
    if not password:
        raise ConfigError("refusing to hash an empty password")
    salt = secrets.token_bytes(_SALT_BYTES)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_KEY_BYTES)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ConfigError(
            "a dashboard password hash must look like scrypt$n$r$p$salt$hash; "
            "create one with `agentaudit hash-password`"
        )
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ConfigError("a dashboard password hash has a malformed field") from None
    if n < 2 or n > _MAX_N or n & (n - 1) or not 0 < r <= 32 or not 0 < p <= 16 or not key:
        raise ConfigError("a dashboard password hash has out-of-range scrypt parameters")
    return n, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded`` (constant-time comparison)."""
    n, r, p, salt, key = _parse_hash(encoded)
    candidate = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key), maxmem=256 * n * r + 2**20
    )
    return hmac.compare_digest(candidate, key)


def _config_users(sections: Mapping[str, Any]) -> dict[str, User]:
    dashboard = sections.get("dashboard", {})
    if not isinstance(dashboard, Mapping):
        raise ConfigError("config file: [dashboard] must be a table")
    table = dashboard.get("users", {})
    if not isinstance(table, Mapping):
        raise ConfigError("config file: [dashboard.users] must be a table of users")
    users: dict[str, User] = {}
    for name, entry in table.items():
        where = f"config file: [dashboard.users] {name!r}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a table with role and password_hash")
        role = entry.get("role")
        if role not in ROLES:
            raise ConfigError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
        encoded = entry.get("password_hash")
        if not isinstance(encoded, str):
            raise ConfigError(f"{where}: password_hash is missing")
        _parse_hash(encoded)
        users[str(name)] = User(str(name), str(role), encoded)
    return users


def load_users(
    sections: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, User]:
    """Every configured account, by name; empty when the dashboard has no auth."""
    environ = os.environ if environ is None else environ
    users = _config_users(sections)
    password = environ.get(PASSWORD_VARIABLE, "")
    if password:
        name = environ.get(USER_VARIABLE, "") or DEFAULT_ENV_USER
        users[name] = User(name, RESPONDER, hash_password(password))
    return users


def authenticate(users: Mapping[str, User], name: str, password: str) -> User | None:
    """The user when the name and password match, else None (same work either way)."""
    user = users.get(name)
    if user is None:
        # Spend the same time as a real check so names cannot be probed by timing.
        verify_password(password, _DUMMY_HASH)
        return None
    return user if verify_password(password, user.password_hash) else None


_DUMMY_HASH: Final = hash_password(secrets.token_hex(8))
