"""The HMAC key behind keyed-hash pseudonyms, and where it comes from.

Resolution order (first found wins), only when some active rule uses ``hash``:

1. ``[redaction] key_file = "/path"``: the file's bytes (surrounding whitespace stripped);
2. ``[redaction] key = "..."`` (discouraged: the key then sits in the config file);
3. the ``AGENTAUDIT_REDACTION_KEY`` environment variable;
4. ``<state_dir>/redaction.key``: read, or created with 32 random bytes (hex, mode 0600)
   on first start, so pseudonyms stay stable across restarts of one deployment;
5. no state directory: a random in-memory key, with a warning (pseudonyms then join
   rows only within one process lifetime).

A key shorter than 16 bytes is refused. The key is never logged.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from agentaudit.errors import ConfigError

__all__ = ["KEY_ENV", "KEY_FILE_NAME", "MIN_KEY_BYTES", "resolve_key"]

KEY_ENV = "AGENTAUDIT_REDACTION_KEY"
KEY_FILE_NAME = "redaction.key"
MIN_KEY_BYTES = 16

log = logging.getLogger(__name__)


def _checked(key: bytes, origin: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{origin}: the redaction key must be at least {MIN_KEY_BYTES} bytes "
            f"(got {len(key)}); generate one with: python -c 'import secrets; "
            "print(secrets.token_hex(32))'"
        )
    return key


def _read(path: Path, origin: str) -> bytes:
    try:
        return _checked(path.read_bytes().strip(), origin)
    except FileNotFoundError:
        raise ConfigError(f"{origin}: {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read {path}: {exc.strerror}") from None


def _persisted(state_dir: Path) -> bytes:
    path = state_dir / KEY_FILE_NAME
    origin = f"redaction key file {path}"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path, origin)
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot create it: {exc.strerror}") from None
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.info("created a new redaction key at %s", path)
    return key


def resolve_key(
    *,
    key: str | None,
    key_file: Path | None,
    state_dir: Path | None,
    environ: Mapping[str, str],
) -> bytes:
    """The HMAC key, following the resolution order in the module docstring."""
    if key_file is not None:
        return _read(key_file, "[redaction] key_file")
    if key is not None:
        return _checked(key.encode(), "[redaction] key")
    if environ.get(KEY_ENV):
        return _checked(environ[KEY_ENV].encode(), KEY_ENV)
    if state_dir is not None:
        return _persisted(state_dir)
    log.warning(
        "no redaction key configured (set [redaction] key_file or %s): using a random "
        "in-memory key, so hashed values join rows only until this process stops",
        KEY_ENV,
    )
    return secrets.token_bytes(32)
