"""A worker process attributes exports exactly as the store-owning process does.

A real collector with ``workers = 2``: the OTLP ports are served by worker processes,
which know the registered agents only through the token snapshot in the state directory.
An agent's own token is accepted and attributed, a claimed id that is not the token's is
flagged (or refused when configured), and a revoked agent's token is refused by the
workers within the snapshot's reload interval.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentaudit.collector.app import Collector
from agentaudit.collector.identity.principals import TOOL_SERVER
from agentaudit.config import load_config
from agentaudit.schema import attributes as A
from tests.collector._otlp import export_request, tool_attributes

pytestmark = pytest.mark.e2e


@pytest.fixture
def collector(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Collector]:
    config = load_config(
        {
            "store": str(tmp_path / "store"),
            "grpc_port": 0,
            "http_port": 0,
            "api_port": 0,
            "batch_seconds": 0.05,
            "workers": 2,
            "refuse_agent_mismatch": getattr(request, "param", False),
        },
        environ={},
    )
    running = Collector(config)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _export(collector: Collector, token: str, claimed: str) -> tuple[httpx.Response, list[str]]:
    attributes = {**tool_attributes(1), A.GEN_AI_AGENT_ID: claimed}
    request, ids = export_request(1, attributes=attributes)
    reply = httpx.post(
        f"http://127.0.0.1:{collector.http_port}/v1/traces",
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf", "authorization": f"Bearer {token}"},
        timeout=30,
    )
    return reply, ids


def _attribution(collector: Collector, span_ids: list[str]) -> list[tuple[Any, ...]]:
    assert collector.store is not None
    deadline = time.monotonic() + 30
    while True:
        rows = collector.store.query(
            "SELECT agent_id, authenticated_agent, authentication, agent_mismatch "
            "FROM agentaudit.tool_calls WHERE span_id IN {ids:Array(String)} ORDER BY agent_id",
            {"ids": span_ids},
        ).rows
        if len(rows) == len(span_ids) or time.monotonic() > deadline:
            return [tuple(r) for r in rows]
        time.sleep(0.1)


def _registered(collector: Collector, name: str, kind: str | None = None) -> str:
    assert collector.registry is not None
    _, token = collector.registry.add(name, owner="ops", actor="test", kind=kind)
    return token


def test_a_worker_attributes_a_registered_agent_and_flags_a_claimed_id(
    collector: Collector,
) -> None:
    token = _registered(collector, "mail-assistant")
    time.sleep(1.2)  # a worker rereads the snapshot at most once a second
    own, own_ids = _export(collector, token, "Mail-Assistant")
    forged, forged_ids = _export(collector, token, "billing-agent")
    assert (own.status_code, forged.status_code) == (200, 200)
    assert _attribution(collector, own_ids + forged_ids) == [
        ("Mail-Assistant", "mail-assistant", "agent_token", 0),
        ("billing-agent", "mail-assistant", "agent_token", 1),
    ]


def test_a_worker_refuses_a_revoked_agent_within_two_seconds(collector: Collector) -> None:
    assert collector.registry is not None
    token = _registered(collector, "mail-assistant")
    time.sleep(1.2)
    assert _export(collector, token, "mail-assistant")[0].status_code == 200
    collector.registry.revoke("mail-assistant", actor="test", reason="compromised")
    revoked = time.monotonic()
    while _export(collector, token, "mail-assistant")[0].status_code != 401:
        assert time.monotonic() - revoked < 2.0, "a worker still accepts a revoked token"
        time.sleep(0.05)


@pytest.mark.parametrize("collector", [True], indirect=True)
def test_a_worker_refuses_a_mismatch_when_configured(collector: Collector) -> None:
    token = _registered(collector, "mail-assistant")
    time.sleep(1.2)
    reply, _ = _export(collector, token, "billing-agent")
    assert reply.status_code == 200  # OTLP partial success: the export is answered...
    assert "agent_mismatch" in reply.content.decode(errors="replace")  # ...the span refused
    accepted, ids = _export(collector, token, "mail-assistant")
    assert accepted.status_code == 200
    assert _attribution(collector, ids) == [("mail-assistant", "mail-assistant", "agent_token", 0)]
    assert collector.store is not None
    assert collector.store.query("SELECT count() FROM agentaudit.tool_calls").rows[0][0] == 1


@pytest.mark.parametrize("collector", [True], indirect=True)
def test_a_worker_takes_a_tool_servers_records_of_its_callers(collector: Collector) -> None:
    # Even with mismatches refused: a tool server's records name the agents that called
    # it, and its own token says it is a tool server (the kind travels in the snapshot).
    token = _registered(collector, "calendar-mcp", kind=TOOL_SERVER)
    time.sleep(1.2)
    reply, ids = _export(collector, token, "mail-assistant")
    assert reply.status_code == 200
    assert "agent_mismatch" not in reply.content.decode(errors="replace")
    assert _attribution(collector, ids) == [
        ("mail-assistant", "calendar-mcp", "tool_server_token", 0)
    ]
