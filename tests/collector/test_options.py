"""Collector options: flags and environment override the config file's [collector]."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentaudit.collector.app import CollectorOptions
from agentaudit.config import load_config
from agentaudit.errors import ConfigError


def _config_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "agentaudit.toml"
    path.write_text(body)
    return path


def test_file_section_applies_when_nothing_overrides(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "[collector]\nworkers = 2\nwal_max_bytes = 4096\n")
    options = CollectorOptions.from_config(load_config({"config": str(path)}, environ={}))
    assert (options.workers, options.wal_max_bytes) == (2, 4096)


def test_flag_and_environment_override_the_file(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "[collector]\nworkers = 2\nwal_max_bytes = 4096\n")
    config = load_config(
        {"config": str(path), "workers": 3}, environ={"AGENTAUDIT_WAL_MAX_BYTES": "8192"}
    )
    options = CollectorOptions.from_config(config)
    assert (options.workers, options.wal_max_bytes) == (3, 8192)


def test_chain_key_file_flag_is_read(tmp_path: Path) -> None:
    key = tmp_path / "chain.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    options = CollectorOptions.from_config(load_config({"chain_key_file": str(key)}, environ={}))
    assert options.chain_key == b"0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"workers": 0}, "--workers"),
        ({"wal_max_bytes": -5}, "--wal-max-bytes"),
        ({"tls_cert": "/x/cert.pem"}, "tls_cert and tls_key"),
        ({"chain_key_file": "/nonexistent/key"}, "chain_key_file"),
    ],
)
def test_bad_values_name_their_source(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CollectorOptions.from_config(load_config(flags, environ={}))
