"""The collector's settings: one flag = one environment variable = one top-level file key."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from agentaudit.config import SETTINGS, load_config
from agentaudit.errors import ConfigError


def _config_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "agentaudit.toml"
    path.write_text(body)
    return path


def test_file_keys_apply_when_nothing_overrides(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "workers = 2\nwal_max_bytes = 4096\nno_fsync = true\n")
    config = load_config({"config": str(path)}, environ={})
    assert (config.workers, config.wal_max_bytes, config.fsync) == (2, 4096, False)


def test_flag_and_environment_override_the_file(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "workers = 2\nwal_max_bytes = 4096\n")
    config = load_config(
        {"config": str(path), "workers": 3}, environ={"AGENTAUDIT_WAL_MAX_BYTES": "8192"}
    )
    assert (config.workers, config.wal_max_bytes) == (3, 8192)


@pytest.mark.parametrize(
    ("platform", "cores", "expected"),
    [("linux", 1, 1), ("linux", 2, 2), ("linux", 16, 2), ("darwin", 8, 1), ("win32", 8, 1)],
)
def test_workers_default_to_two_on_linux_with_two_cores_or_more(
    monkeypatch: pytest.MonkeyPatch, platform: str, cores: int, expected: int
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert load_config({}, environ={}).workers == expected  # not set: auto
    assert load_config({"workers": "auto"}, environ={}).workers == expected
    assert load_config({}, environ={"AGENTAUDIT_WORKERS": " AUTO "}).workers == expected
    assert load_config({"workers": 1}, environ={}).workers == 1  # set: as given


def test_the_old_collector_table_is_refused_with_the_way_out(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "[collector]\nworkers = 2\n")
    with pytest.raises(ConfigError, match=r"\[collector\] table is gone.*top-level"):
        load_config({"config": str(path)}, environ={})


def test_chain_key_file_is_read(tmp_path: Path) -> None:
    key = tmp_path / "chain.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    config = load_config({"chain_key_file": str(key)}, environ={})
    assert config.chain_key == b"0123456789abcdef0123456789abcdef"
    assert "0123456789abcdef" not in repr(config)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"workers": 0}, "--workers"),
        ({"workers": "two"}, "--workers"),
        ({"workers": "auto2"}, "--workers"),
        ({"workers": ""}, "--workers"),
        ({"wal_max_bytes": -5}, "--wal-max-bytes"),
        ({"batch_seconds": "nan"}, "--batch-seconds"),
        ({"tls_cert": "/x/cert.pem"}, "--tls-cert and --tls-key"),
        ({"chain_key_file": "/nonexistent/key"}, "--chain-key-file"),
    ],
)
def test_bad_values_name_their_source(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(flags, environ={})


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="AGENTAUDIT_MAX_PENDING_SPANS"):
        load_config({}, environ={"AGENTAUDIT_MAX_PENDING_SPANS": "many"})


def test_every_setting_has_one_flag_one_variable_and_one_key() -> None:
    options = [s.option for s in SETTINGS]
    variables = [s.env for s in SETTINGS]
    assert len(set(options)) == len(options)
    assert len(set(variables)) == len(variables)
    assert variables == ["AGENTAUDIT_" + s.name.upper() for s in SETTINGS]


def test_every_setting_is_documented() -> None:
    """docs/configuration.md lists each setting's flag and environment variable."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in text]
    missing += [s.option for s in SETTINGS if s.group != "env" and f"`{s.option}`" not in text]
    assert not missing, f"undocumented settings: {missing}"
