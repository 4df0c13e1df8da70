"""Shared fixtures: a migrated embedded store, free ports, a span factory, a clean env.

chdb runs one embedded engine per process and it can only be open on one data
directory at a time, so a test holds at most one :class:`Store` open in-process; the
``store`` fixture closes it (releasing the engine and the directory lock) afterwards.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentaudit.schema import attributes as A

__all__ = ["SpanFactory"]

SpanFactory = Callable[..., Any]
"""``make_span(**overrides) -> SpanRecord`` (typed loosely: importing the collector's
span module at collection time would pull its optional dependencies into every test)."""

_ids = itertools.count(1)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every ``AGENTAUDIT_*`` and ``OTEL_*`` variable from the environment."""
    for name in list(os.environ):
        if name.startswith(("AGENTAUDIT_", "OTEL_")):
            monkeypatch.delenv(name)


@pytest.fixture
def subprocess_env(clean_env: None) -> dict[str, str]:
    """An environment for ``python -m agentaudit`` children, without our variables."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A not-yet-created store directory under the test's tmp dir."""
    return tmp_path / "store"


@pytest.fixture
def store(store_dir: Path) -> Iterator[Any]:
    """An open, migrated embedded store in ``store_dir``; closed after the test."""
    from agentaudit.config import embedded_dsn
    from agentaudit.store import Store
    from agentaudit.store.migrations import apply_migrations

    opened = Store.open(embedded_dsn(store_dir))
    try:
        apply_migrations(opened)
        yield opened
    finally:
        opened.close()


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Return a function giving a currently free TCP port on 127.0.0.1."""

    def pick() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return pick


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by a listening socket for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def _tool_attributes(tool: str = "send_email") -> dict[str, Any]:
    """A complete set of contract attributes of one tool-call span (DESIGN §3)."""
    return {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: tool,
        A.GEN_AI_TOOL_CALL_ID: "call_1",
        A.GEN_AI_TOOL_TYPE: "function",
        A.GEN_AI_TOOL_CALL_ARGUMENTS: '{"to":"a@example.com"}',
        A.GEN_AI_AGENT_ID: "agent-1",
        A.GEN_AI_AGENT_NAME: "Mail agent",
        A.GEN_AI_CONVERSATION_ID: "conv-1",
        A.ENDUSER_ID: "user-1",
        A.SESSION_ID: "sess-1",
        A.FRAMEWORK: "function",
        A.PROMPT_HASH: "sha256:" + "a" * 64,
        A.SOURCE_REFS: ["email:msg-42", "user:turn-1"],
        A.SOURCE_KINDS: ["email", "user"],
        A.SOURCE_TRUST: [A.TRUST_UNTRUSTED, A.TRUST_USER],
        A.SOURCE_HASHES: ["sha256:" + "b" * 64, "sha256:" + "c" * 64],
        A.RESOURCE_IDS: ["mailbox:a@example.com"],
        A.APPROVAL_STATUS: A.APPROVAL_HUMAN,
        A.APPROVAL_APPROVER: "alice",
        A.CREDENTIAL_ID: "cred-9",
        A.CREDENTIAL_SCOPES: ["mail.send", "mail.read"],
        A.CREDENTIAL_EXPIRES_AT: 1_800_000_000,
        A.ARGUMENTS_HASH: "sha256:" + "d" * 64,
        A.RESULT_HASH: "sha256:" + "e" * 64,
        A.DECISION: A.DECISION_ALLOWED,
    }


@pytest.fixture
def tool_attrs() -> dict[str, Any]:
    """A fresh dict of every contract attribute of one tool-call span."""
    return _tool_attributes()


@pytest.fixture
def make_span() -> SpanFactory:
    """A factory of tool-call SpanRecords with unique ids; keyword arguments override."""
    from agentaudit.collector.model import SpanRecord

    def make(**overrides: Any) -> SpanRecord:
        n = next(_ids)
        fields: dict[str, Any] = {
            "trace_id": f"{n:032x}",
            "span_id": f"{n:016x}",
            "name": "execute_tool send_email",
            "start_ns": 1_700_000_000_000_000_000 + n,
            "end_ns": 1_700_000_000_250_000_000 + n,
            "attributes": _tool_attributes(),
            "resource_attributes": {A.SERVICE_NAME: "mail-agent"},
        }
        fields.update(overrides)
        return SpanRecord(**fields)

    return make


@pytest.fixture
def python() -> str:
    """The interpreter running the tests (for ``python -m agentaudit`` children)."""
    return sys.executable
