"""Password hashing, configured users, and the server's refusal to run open on a network."""

from __future__ import annotations

import pytest

from agentaudit.config import Config
from agentaudit.dashboards.auth import (
    RESPONDER,
    VIEWER,
    authenticate,
    hash_password,
    load_users,
    verify_password,
)
from agentaudit.dashboards.server import check_bind, flag_options
from agentaudit.errors import ConfigError


def test_hash_is_salted_and_verifies() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second
    assert first.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", first)
    assert verify_password("correct horse", second)
    assert not verify_password("correct hors", first)
    assert "correct horse" not in first


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain",
        "bcrypt$1$2$3$abc$def",
        "scrypt$x$8$1$abc$def",
        "scrypt$1000$8$1$abc$def",
        "scrypt$16384$8$1$abc$",
    ],
)
def test_malformed_hashes_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        verify_password("x", bad)


def test_empty_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="empty"):
        hash_password("")


def test_users_from_config_and_environment() -> None:
    sections = {
        "dashboard": {
            "users": {
                "val": {"role": VIEWER, "password_hash": hash_password("v")},
                "rita": {"role": RESPONDER, "password_hash": hash_password("r")},
            }
        }
    }
    users = load_users(sections, {"AGENTAUDIT_DASHBOARD_PASSWORD": "env-secret"})
    assert {name: u.role for name, u in users.items()} == {
        "val": VIEWER,
        "rita": RESPONDER,
        "admin": RESPONDER,
    }
    assert authenticate(users, "admin", "env-secret") == users["admin"]
    assert authenticate(users, "val", "v") == users["val"]
    assert authenticate(users, "val", "r") is None
    assert authenticate(users, "nobody", "v") is None
    assert load_users({}, {}) == {}
    named = load_users(
        {}, {"AGENTAUDIT_DASHBOARD_PASSWORD": "p", "AGENTAUDIT_DASHBOARD_USER": "ir"}
    )
    assert list(named) == ["ir"]


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ({"x": {"role": "admin", "password_hash": "scrypt$16384$8$1$YQ$YQ"}}, "role must be"),
        ({"x": {"role": VIEWER}}, "password_hash is missing"),
        ({"x": "secret"}, "must be a table"),
        ({"x": {"role": VIEWER, "password_hash": "plaintext"}}, "scrypt"),
    ],
)
def test_bad_user_entries_name_the_problem(users: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_users({"dashboard": {"users": users}}, {})


def test_non_loopback_bind_needs_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)
    open_config = Config(clickhouse_url="chdb:///unused")
    check_bind("127.0.0.1", open_config)
    check_bind("localhost", open_config)
    with pytest.raises(ConfigError, match=r"refusing to serve the dashboard on 0\.0\.0\.0"):
        check_bind("0.0.0.0", open_config)
    monkeypatch.setenv("AGENTAUDIT_DASHBOARD_PASSWORD", "s3cret")
    check_bind("0.0.0.0", open_config)


def test_server_flags_harden_streamlit() -> None:
    flags = flag_options(host="127.0.0.1", port=8501)
    assert flags["server_enableXsrfProtection"] is True
    assert flags["server_headless"] is True
    assert flags["browser_gatherUsageStats"] is False
    assert flags["server_fileWatcherType"] == "none"
