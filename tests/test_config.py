"""agentaudit.config: precedence, environment names, bad values, DSN parsing."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from agentaudit.config import (
    DEFAULT_STORE_DIR,
    Config,
    embedded_dsn,
    load_config,
    parse_dsn,
)
from agentaudit.errors import ConfigError

pytestmark = pytest.mark.usefixtures("clean_env")


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- precedence ------------------------------------------------------------------------


def test_defaults_with_nothing_given() -> None:
    config = load_config({}, {})
    assert config.grpc_port == 4317
    assert config.http_port == 4318
    assert config.api_port == 4320
    assert config.dashboard_port == 8501
    assert config.host == "127.0.0.1"
    assert config.no_dashboard is False
    assert config.token is None
    assert config.admin_token is None
    assert config.embedded
    assert config.loopback_only


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "a.toml", "grpc_port = 1111\nhttp_port = 2222\napi_port = 3333\n")
    env = {
        "AGENTAUDIT_CONFIG": str(cfg),
        "AGENTAUDIT_GRPC_PORT": "4444",
        "AGENTAUDIT_HTTP_PORT": "5555",
    }
    config = load_config({"grpc_port": 6666}, env)
    assert config.grpc_port == 6666  # flag over env and file
    assert config.http_port == 5555  # env over file
    assert config.api_port == 3333  # file over default
    assert config.dashboard_port == 8501  # default
    assert config.config == cfg.resolve()


def test_flag_none_means_not_given() -> None:
    config = load_config({"grpc_port": None}, {"AGENTAUDIT_GRPC_PORT": "4444"})
    assert config.grpc_port == 4444


def test_config_flag_beats_config_env(tmp_path: Path) -> None:
    by_flag = write_toml(tmp_path / "flag.toml", "api_port = 1\n")
    by_env = write_toml(tmp_path / "env.toml", "api_port = 2\n")
    config = load_config({"config": str(by_flag)}, {"AGENTAUDIT_CONFIG": str(by_env)})
    assert config.api_port == 1


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("host", "0.0.0.0", "0.0.0.0"),
        ("grpc_port", "1", 1),
        ("http_port", "2", 2),
        ("api_port", "3", 3),
        ("dashboard_port", "4", 4),
        ("no_dashboard", "true", True),
        ("token", "agent-secret", "agent-secret"),
        ("admin_token", "admin-secret", "admin-secret"),
        ("api_url", "http://10.0.0.1:4320", "http://10.0.0.1:4320"),
        ("batch_rows", "7", 7),
        ("batch_seconds", "0.5", 0.5),
    ],
)
def test_every_setting_has_an_agentaudit_env_var(name: str, raw: str, expected: object) -> None:
    config = load_config({}, {f"AGENTAUDIT_{name.upper()}": raw})
    assert getattr(config, name) == expected


def test_store_and_wal_dir_env_vars(tmp_path: Path) -> None:
    env = {"AGENTAUDIT_STORE": str(tmp_path / "s"), "AGENTAUDIT_WAL_DIR": str(tmp_path / "w")}
    config = load_config({}, env)
    assert config.store == tmp_path / "s"
    assert config.store_dir == tmp_path / "s"
    assert config.wal_dir == tmp_path / "w"


def test_clickhouse_url_env_var() -> None:
    config = load_config({}, {"AGENTAUDIT_CLICKHOUSE_URL": "http://u:p@db.example:8123/agentaudit"})
    assert config.clickhouse_url == "http://u:p@db.example:8123/agentaudit"
    assert not config.embedded
    assert config.store_dir is None


def test_every_config_field_is_settable_from_the_environment() -> None:
    """No setting is left without an environment variable (the CLI promises one per flag)."""
    from agentaudit.config import SETTINGS

    names = {f.name for f in fields(Config)} - {"sections", "chain_key"}
    assert names == {s.name for s in SETTINGS}


def test_file_keys_and_sections_are_read(tmp_path: Path) -> None:
    cfg = write_toml(
        tmp_path / "c.toml",
        'host = "0.0.0.0"\nno_dashboard = true\n[redaction]\nmode = "mask"\n'
        '[dashboard.users.alice]\nrole = "viewer"\n',
    )
    config = load_config({"config": str(cfg)}, {})
    assert config.host == "0.0.0.0"
    assert config.no_dashboard is True
    assert not config.loopback_only
    assert config.sections["redaction"] == {"mode": "mask"}
    assert config.sections["dashboard"]["users"]["alice"]["role"] == "viewer"


# --- bad values name their source ------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "env", "needle"),
    [
        ({"grpc_port": "http"}, {}, "--grpc-port"),
        ({}, {"AGENTAUDIT_GRPC_PORT": "abc"}, "AGENTAUDIT_GRPC_PORT"),
        ({}, {"AGENTAUDIT_API_PORT": "70000"}, "AGENTAUDIT_API_PORT"),
        ({}, {"AGENTAUDIT_HTTP_PORT": "-1"}, "AGENTAUDIT_HTTP_PORT"),
        ({}, {"AGENTAUDIT_NO_DASHBOARD": "maybe"}, "AGENTAUDIT_NO_DASHBOARD"),
        ({}, {"AGENTAUDIT_BATCH_ROWS": "0"}, "AGENTAUDIT_BATCH_ROWS"),
        ({}, {"AGENTAUDIT_BATCH_ROWS": "1.5"}, "AGENTAUDIT_BATCH_ROWS"),
        ({}, {"AGENTAUDIT_BATCH_SECONDS": "-2"}, "AGENTAUDIT_BATCH_SECONDS"),
        ({}, {"AGENTAUDIT_CLICKHOUSE_URL": "ftp://x"}, "ftp://x"),
    ],
)
def test_bad_values_name_their_source(
    flags: dict[str, object], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(flags, env)


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("grpc_port = true", "grpc_port"),
        ("api_port = 4320.5", "api_port"),
        ("batch_rows = 2.5", "batch_rows"),
        ("batch_rows = false", "batch_rows"),
        ("batch_seconds = nan", "batch_seconds"),
        ("batch_seconds = inf", "batch_seconds"),
        ("batch_seconds = 0.0", "batch_seconds"),
    ],
)
def test_toml_values_of_the_wrong_kind_are_refused(tmp_path: Path, toml: str, needle: str) -> None:
    cfg = write_toml(tmp_path / "c.toml", toml + "\n")
    with pytest.raises(ConfigError, match=f"config file key '{needle}'"):
        load_config({"config": str(cfg)}, {})


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e999"])
def test_non_finite_batch_seconds_env_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="AGENTAUDIT_BATCH_SECONDS"):
        load_config({}, {"AGENTAUDIT_BATCH_SECONDS": raw})


def test_whole_float_port_in_file_is_accepted(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "c.toml", "api_port = 4321.0\nbatch_rows = 10.0\n")
    config = load_config({"config": str(cfg)}, {})
    assert config.api_port == 4321
    assert config.batch_rows == 10


def test_bad_port_in_file_names_the_key(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "c.toml", 'grpc_port = "four"\n')
    with pytest.raises(ConfigError, match="config file key 'grpc_port'"):
        load_config({"config": str(cfg)}, {})


def test_bad_bool_in_file_names_the_key(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "c.toml", 'no_dashboard = "perhaps"\n')
    with pytest.raises(ConfigError, match="no_dashboard"):
        load_config({"config": str(cfg)}, {})


def test_non_string_host_in_file_is_refused(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "c.toml", "host = [1, 2]\n")
    with pytest.raises(ConfigError, match="'host'"):
        load_config({"config": str(cfg)}, {})


def test_unknown_file_key_is_refused(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "c.toml", "grcp_port = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'grcp_port'"):
        load_config({"config": str(cfg)}, {})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "broken.toml", "grpc_port = = 1\n")
    with pytest.raises(ConfigError, match=r"broken\.toml is not valid TOML"):
        load_config({"config": str(cfg)}, {})


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "latin1.toml"
    cfg.write_bytes(b'host = "h\xf4te"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml is not valid TOML"):
        load_config({"config": str(cfg)}, {})


def test_dsn_flag_error_names_the_flag_as_typed() -> None:
    with pytest.raises(ConfigError, match=r"^--clickhouse: 'ftp://x'"):
        load_config({"clickhouse_url": "ftp://x"}, {})


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml does not exist"):
        load_config({}, {"AGENTAUDIT_CONFIG": str(tmp_path / "nope.toml")})


def test_directory_as_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config({"config": str(tmp_path)}, {})


def test_store_and_clickhouse_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--store.*--clickhouse"):
        load_config({"store": str(tmp_path), "clickhouse_url": "chdb:///tmp/x"}, {})


def test_store_and_dsn_from_different_sources_name_both(tmp_path: Path) -> None:
    env = {"AGENTAUDIT_CLICKHOUSE_URL": "http://db.example:8123/agentaudit"}
    with pytest.raises(ConfigError) as caught:
        load_config({"store": str(tmp_path)}, env)
    message = str(caught.value)
    assert "--store" in message
    assert "AGENTAUDIT_CLICKHOUSE_URL" in message


# --- DSN parsing -----------------------------------------------------------------------


def test_relative_chdb_dsn_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_dsn("chdb://./x")
    message = str(caught.value)
    assert "chdb:///absolute/path" in message
    assert "--store" in message


@pytest.mark.parametrize("raw", ["chdb://", "chdb:relative/dir", "chdb://host/abs"])
def test_other_malformed_chdb_dsns_are_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="absolute path"):
        parse_dsn(raw)


def test_absolute_chdb_dsn_is_accepted() -> None:
    dsn = parse_dsn("chdb:///var/lib/agentaudit/store")
    assert dsn.embedded
    assert dsn.path == Path("/var/lib/agentaudit/store")


@pytest.mark.parametrize(
    "raw",
    [
        "http://localhost",
        "http://db.example:8123",
        "https://user:pass@db.example:8443/agentaudit",
        "http://[::1]:8123/agentaudit",
    ],
)
def test_http_dsns_are_accepted(raw: str) -> None:
    dsn = parse_dsn(raw)
    assert not dsn.embedded
    assert dsn.path is None
    assert dsn.raw == raw


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("http://", "has no host"),
        ("https:///agentaudit", "has no host"),
        ("http://db.example:port/x", "invalid port"),
        ("http://db.example:99999/x", "invalid port"),
        ("ftp://db.example", "not a supported DSN"),
        ("db.example:8123", "not a supported DSN"),
        ("", "not a supported DSN"),
    ],
)
def test_bad_dsns_are_refused(raw: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_dsn(raw, origin="AGENTAUDIT_CLICKHOUSE_URL")


def test_dsn_error_names_the_origin() -> None:
    with pytest.raises(ConfigError, match=r"^AGENTAUDIT_CLICKHOUSE_URL: "):
        parse_dsn("ftp://x", origin="AGENTAUDIT_CLICKHOUSE_URL")


def test_malformed_dsn_fails_at_load_time() -> None:
    with pytest.raises(ConfigError, match="absolute"):
        load_config({"clickhouse_url": "chdb://./x"}, {})


# --- store and WAL locations -----------------------------------------------------------


def test_default_store_is_absolute() -> None:
    config = load_config({}, {})
    assert config.store is not None
    assert config.store.is_absolute()
    assert config.store == DEFAULT_STORE_DIR.resolve()
    assert config.clickhouse_url == embedded_dsn(config.store)
    assert config.store_dir == config.store


def test_relative_store_flag_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config({"store": "rel/store"}, {})
    assert config.store == tmp_path / "rel" / "store"
    assert config.clickhouse_url == f"chdb://{tmp_path}/rel/store"


def test_wal_dir_defaults_beside_the_store(tmp_path: Path) -> None:
    config = load_config({"store": str(tmp_path / "data" / "store")}, {})
    assert config.wal_dir == tmp_path / "data" / "wal"


def test_wal_dir_defaults_beside_the_default_store() -> None:
    config = load_config({}, {})
    assert config.wal_dir == DEFAULT_STORE_DIR.parent.resolve() / "wal"


def test_wal_dir_defaults_beside_an_embedded_dsn(tmp_path: Path) -> None:
    config = load_config({"clickhouse_url": f"chdb://{tmp_path}/data/store"}, {})
    assert config.store_dir == tmp_path / "data" / "store"
    assert config.wal_dir == tmp_path / "data" / "wal"


def test_explicit_wal_dir_wins(tmp_path: Path) -> None:
    config = load_config({"store": str(tmp_path / "s"), "wal_dir": str(tmp_path / "elsewhere")}, {})
    assert config.wal_dir == tmp_path / "elsewhere"


@pytest.mark.parametrize("name", ["st#ore", "st?ore", "st ore", "st%20ore"])
def test_store_paths_with_url_characters_round_trip(tmp_path: Path, name: str) -> None:
    config = load_config({"store": str(tmp_path / name)}, {})
    assert config.store_dir == tmp_path / name


def test_config_is_frozen_and_hides_tokens() -> None:
    config = load_config(
        {}, {"AGENTAUDIT_TOKEN": "s3cret-agent", "AGENTAUDIT_ADMIN_TOKEN": "s3cret-admin"}
    )
    with pytest.raises(AttributeError):
        config.grpc_port = 1  # type: ignore[misc]
    assert "s3cret" not in repr(config)
