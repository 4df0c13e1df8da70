"""Bearer tokens as every endpoint checks them (RFC 6750 / RFC 7235)."""

from __future__ import annotations

import pytest

from agentaudit.collector.serving.auth import bearer_ok, bearer_token


@pytest.mark.parametrize(
    ("header", "token", "ok"),
    [
        (None, None, True),
        ("anything", None, True),
        (None, "t", False),
        ("", "t", False),
        ("Bearer t", "t", True),
        ("bearer t", "t", True),  # the scheme is case-insensitive
        ("BEARER t", "t", True),
        ("Bearer  t", "t", True),  # 1*SP between scheme and token
        ("Bearer t2", "t", False),
        ("Bearer", "t", False),
        ("Basic dDp0", "t", False),
        ("Bearer ünï", "ünï", True),
    ],
)
def test_bearer_ok(header: str | None, token: str | None, ok: bool) -> None:
    assert bearer_ok(header, token) is ok


def test_bearer_token_extracts_only_bearer_credentials() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token(None) is None
