"""Secure by default: the agent and responder tokens, generated on first start.

With no ``AGENTAUDIT_TOKEN`` / ``AGENTAUDIT_ADMIN_TOKEN`` configured, the first start of
``agentaudit up`` (or ``collector``) generates both, each in a file of the state
directory (``agent.token``, ``admin.token``; mode 0600, created exclusively so a file an
attacker planted first is an error, not a token), and every later start reads them back.
Local clients find them there: ``agentaudit sql`` and the dashboard use the responder
token, the demo agents the agent token. Only ``--insecure-no-auth`` runs without tokens.

Invariants: a token value is never logged or printed (only the file's path); the two
tokens always differ (a responder token handed to an agent would let it lift its own
quarantine); a token file that is not private to its owner is refused.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import stat
from pathlib import Path

from agentaudit.config._config import Config
from agentaudit.errors import ConfigError

__all__ = [
    "ADMIN_TOKEN_FILE",
    "AGENT_TOKEN_FILE",
    "ensure_tokens",
    "new_token",
    "read_token_file",
    "responder_token",
]

AGENT_TOKEN_FILE = "agent.token"  # noqa: S105 - a file name
ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 - a file name
_MIN_TOKEN_CHARS = 32


def new_token(prefix: str) -> str:
    """A fresh 256-bit token; the prefix names its kind (secret scanners match it)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def read_token_file(path: Path) -> str | None:
    """The token in ``path``; None when there is no such file; ConfigError when it is
    readable by others or too short to be one of ours."""
    try:
        info = path.stat()
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the token file {path} is readable by other users; run: chmod 600 {path}"
        )
    if len(text) < _MIN_TOKEN_CHARS:
        raise ConfigError(f"the token file {path} does not hold a token; delete it to renew")
    return text


def _create(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"the token file {path} appeared while it was being created") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the token file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _token(configured: str | None, path: Path, prefix: str, created: list[Path]) -> str:
    if configured:
        return configured
    existing = read_token_file(path)
    if existing is not None:
        return existing
    token = new_token(prefix)
    _create(path, token)
    created.append(path)
    return token


def ensure_tokens(config: Config) -> tuple[Config, list[Path]]:
    """``config`` with both tokens set (configured, read from, or generated into the
    state directory), and the token files created now.

    Open mode (``insecure_no_auth``) is returned unchanged: no token, no file.
    """
    if config.insecure_no_auth:
        return config, []
    created: list[Path] = []
    state = config.state_dir
    agent = _token(config.token, state / AGENT_TOKEN_FILE, "aa_agent", created)
    admin = _token(config.admin_token, state / ADMIN_TOKEN_FILE, "aa_admin", created)
    if agent == admin:
        raise ConfigError(
            "AGENTAUDIT_TOKEN and AGENTAUDIT_ADMIN_TOKEN are the same: an agent holding it "
            "could revoke, release and query; give responders a token of their own"
        )
    return dataclasses.replace(config, token=agent, admin_token=admin), created


def responder_token(config: Config) -> str | None:
    """The responder token a local CLI uses: configured (``AGENTAUDIT_ADMIN_TOKEN``), else
    the one ``up`` generated into the state directory, else None."""
    return config.admin_token or read_token_file(config.state_dir / ADMIN_TOKEN_FILE)
