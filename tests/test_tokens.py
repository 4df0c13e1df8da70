"""Secure by default: tokens generated on first start, private, reused, never equal."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agentaudit.config import load_config
from agentaudit.config.tokens import ensure_tokens, read_token_file, responder_token
from agentaudit.errors import ConfigError


def test_first_start_generates_two_private_tokens_and_later_starts_reuse_them(
    tmp_path: Path,
) -> None:
    config = load_config({"store": str(tmp_path / "store")}, environ={})
    first, created = ensure_tokens(config)
    assert {p.name for p in created} == {"agent.token", "admin.token"}
    assert first.token
    assert first.admin_token
    assert first.token != first.admin_token
    assert first.token.startswith("aa_agent_")
    assert first.admin_token.startswith("aa_admin_")
    for path in created:
        assert path.parent == tmp_path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second, created_again = ensure_tokens(config)
    assert created_again == []
    assert (second.token, second.admin_token) == (first.token, first.admin_token)
    assert responder_token(config) == first.admin_token
    assert first.admin_token not in repr(second)


def test_configured_tokens_win_and_no_file_is_written(tmp_path: Path) -> None:
    config = load_config(
        {"store": str(tmp_path / "store")},
        environ={"AGENTAUDIT_TOKEN": "a" * 40, "AGENTAUDIT_ADMIN_TOKEN": "b" * 40},
    )
    ensured, created = ensure_tokens(config)
    assert created == []
    assert (ensured.token, ensured.admin_token) == ("a" * 40, "b" * 40)
    assert not (tmp_path / "agent.token").exists()


def test_equal_tokens_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="are the same"):
        load_config(
            {"store": str(tmp_path / "store")},
            environ={"AGENTAUDIT_TOKEN": "same" * 10, "AGENTAUDIT_ADMIN_TOKEN": "same" * 10},
        )
    # ... also when one of them comes from the state directory
    (tmp_path / "admin.token").write_text("same" * 10)
    os.chmod(tmp_path / "admin.token", 0o600)
    config = load_config(
        {"store": str(tmp_path / "store")}, environ={"AGENTAUDIT_TOKEN": "same" * 10}
    )
    with pytest.raises(ConfigError, match="are the same"):
        ensure_tokens(config)


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "admin.token"
    path.write_text("x" * 50)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_token_file(path)


def test_open_mode_is_explicit_and_writes_nothing(tmp_path: Path) -> None:
    config = load_config({"store": str(tmp_path / "store"), "insecure_no_auth": True}, environ={})
    ensured, created = ensure_tokens(config)
    assert created == []
    assert ensured.token is None
    assert ensured.admin_token is None
    assert not (tmp_path / "admin.token").exists()
