"""The step-up helper and the MCP tools/call middleware (no mcp SDK needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.broker import (
    CREDENTIAL_STATE_KEY,
    Authorized,
    Broker,
    Challenge,
    McpBearerMiddleware,
    ToolPolicy,
    authorize_bearer,
    tool_resource,
)
from agentaudit.collector.serving.server import HttpServer
from tests.broker.helpers import FakeClock

TOOL = "calendar.delete_event"
RESOURCE = "calendar:evt-1"
METADATA = "https://tools.example/.well-known/oauth-protected-resource"


@pytest.fixture
def broker(clock: FakeClock) -> Broker:
    return Broker(clock=clock, tool_scopes={TOOL: ("read", "write", "calendar.write")})


def test_valid_token_is_authorized(broker: Broker) -> None:
    token = broker.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE, scopes=["write"]).token
    outcome = authorize_bearer(
        broker, f"Bearer {token}", tool=TOOL, resource=RESOURCE, scopes=["write"]
    )
    assert isinstance(outcome, Authorized)
    assert outcome.claims.agent == "a"


def test_missing_scope_answers_insufficient_scope_naming_it(broker: Broker) -> None:
    token = broker.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE, scopes=["read"]).token
    outcome = authorize_bearer(
        broker,
        f"Bearer {token}",
        tool=TOOL,
        resource=RESOURCE,
        scopes=["read", "write"],
        resource_metadata=METADATA,
    )
    assert isinstance(outcome, Challenge)
    assert outcome.status == 403
    header = outcome.headers()["WWW-Authenticate"]
    assert header.startswith("Bearer ")
    assert 'error="insufficient_scope"' in header
    assert 'scope="read write"' in header
    assert f'resource_metadata="{METADATA}"' in header
    assert outcome.body()["error"] == "insufficient_scope"
    assert outcome.body()["scope"] == "read write"


def test_missing_and_invalid_tokens_answer_401(broker: Broker, clock: FakeClock) -> None:
    missing = authorize_bearer(broker, None, tool=TOOL, resource=RESOURCE)
    assert isinstance(missing, Challenge)
    assert missing.status == 401
    assert "error=" not in missing.www_authenticate  # RFC 6750: no error code without a token

    token = broker.mint(user="u", agent="a", tool=TOOL, resource=RESOURCE).token
    clock.advance(120)
    expired = authorize_bearer(broker, f"Bearer {token}", tool=TOOL, resource=RESOURCE)
    assert isinstance(expired, Challenge)
    assert (expired.status, expired.error, expired.reason) == (401, "invalid_token", "expired")


def _tool_server(broker: Broker) -> Starlette:
    async def mcp(request: Request) -> Response:
        body = await request.json()
        state: Mapping[str, Any] = request.scope.get("state", {})
        verified = state.get(CREDENTIAL_STATE_KEY)
        return JSONResponse(
            {
                "jsonrpc": "2.0",
                "id": body.get("id") if isinstance(body, dict) else None,
                "result": {"credentials": [c.id for c in verified or []]},
            }
        )

    app = Starlette(routes=[Route("/mcp", mcp, methods=["POST"])])
    policies = {
        TOOL: ToolPolicy(
            scopes=("calendar.write",),
            resources=lambda args: [f"calendar:{args['event_id']}"],
        ),
        "ping": ToolPolicy(),
    }
    return McpBearerMiddleware(app, broker, policies, resource_metadata=METADATA)  # type: ignore[return-value]


@pytest.fixture
def client(broker: Broker) -> Iterator[httpx.Client]:
    server = HttpServer(_tool_server(broker), host="127.0.0.1", port=0, what="tools", flag="-")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as http:
            yield http
    finally:
        server.stop()


def _call(tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": tool, "arguments": dict(arguments)},
    }


def test_middleware_passes_a_valid_tool_call_with_its_claims(
    broker: Broker, client: httpx.Client
) -> None:
    credential = broker.mint(
        user="u", agent="a", tool=TOOL, resource="calendar:evt-1", scopes=["calendar.write"]
    )
    answer = client.post(
        "/mcp",
        json=_call(TOOL, {"event_id": "evt-1"}),
        headers={"Authorization": f"Bearer {credential.token}"},
    )
    assert answer.status_code == 200
    assert answer.json()["result"]["credentials"] == [credential.id]


def test_middleware_refuses_another_resource_and_missing_scope(
    broker: Broker, client: httpx.Client
) -> None:
    token = broker.mint(
        user="u", agent="a", tool=TOOL, resource="calendar:evt-1", scopes=["calendar.write"]
    ).token
    other = client.post(
        "/mcp",
        json=_call(TOOL, {"event_id": "evt-2"}),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert other.status_code == 401
    assert 'error="invalid_token"' in other.headers["www-authenticate"]

    weak = broker.mint(
        user="u", agent="a", tool=TOOL, resource="calendar:evt-1", scopes=["read"]
    ).token
    step_up = client.post(
        "/mcp",
        json=[_call(TOOL, {"event_id": "evt-1"})],
        headers={"Authorization": f"Bearer {weak}"},
    )
    assert step_up.status_code == 403
    assert 'scope="calendar.write"' in step_up.headers["www-authenticate"]
    assert step_up.json()["error"] == "insufficient_scope"


def test_middleware_resource_defaults_and_unlisted_tools(
    broker: Broker, client: httpx.Client
) -> None:
    token = broker.mint(user="u", agent="a", tool="ping", resource=tool_resource("ping")).token
    ok = client.post("/mcp", json=_call("ping", {}), headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    unlisted = client.post(
        "/mcp", json=_call("shell.exec", {}), headers={"Authorization": f"Bearer {token}"}
    )
    assert unlisted.status_code == 403
    listing = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert listing.status_code == 200
    assert json.loads(listing.content)["result"] == {"credentials": []}
