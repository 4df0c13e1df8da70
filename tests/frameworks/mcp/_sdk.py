"""What the MCP tests use of the SDK, on both supported major versions (1.28+ and 2.x).

The tests themselves are version-independent; the few places where the two SDKs spell
the same thing differently are here: the high-level server class (``MCPServer`` /
``FastMCP``), the error class (``MCPError`` / ``McpError``), the HTTP client library
(``httpx2`` / ``httpx``), an in-memory client, and a low-level server whose
``tools/call`` handler sees the request ``_meta`` and can raise a protocol error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from agentaudit.instrumentation._version_check import parse_version

__all__ = [
    "V2",
    "MCPError",
    "MCPServer",
    "connect",
    "http",
    "http_streams",
    "is_error",
    "mcp_error",
    "protocol_error",
    "server_with_handler",
]

V2 = parse_version(metadata.version("mcp")) >= (2,)
"""True on mcp 2.x (server middleware, ``httpx2``); False on 1.x."""

try:
    from mcp.server.mcpserver import MCPServer
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as MCPServer  # type: ignore[no-redef]

try:
    from mcp.shared.exceptions import MCPError
except ImportError:  # mcp 1.x
    from mcp.shared.exceptions import McpError as MCPError  # type: ignore[attr-defined,no-redef]

if V2:
    import httpx2 as http
else:  # pragma: no cover - mcp 1.x
    import httpx as http  # type: ignore[no-redef]


@asynccontextmanager
async def connect(server: Any) -> AsyncIterator[Any]:
    """An in-memory client of ``server``, with ``call_tool(name, arguments, meta=...)``."""
    if V2:
        from mcp import Client

        async with Client(server) as client:
            yield client
    else:
        from mcp.shared.memory import create_connected_server_and_client_session

        async with create_connected_server_and_client_session(server) as session:
            yield session


def protocol_error(message: str) -> Exception:
    """An SDK protocol error a ``tools/call`` handler can raise, reaching the client as an
    ``MCPError`` with ``message`` (on 1.x the one the tool decorator lets through)."""
    if V2:
        from mcp_types import INVALID_PARAMS

        return MCPError(code=INVALID_PARAMS, message=message)
    from mcp.shared.exceptions import UrlElicitationRequiredError

    return UrlElicitationRequiredError([], message=message)


def server_with_handler(name: str, handle: Callable[[dict[str, Any]], Any]) -> Any:
    """A low-level server whose ``tools/call`` handler calls ``handle(meta)`` (the
    request ``_meta`` as a dict) and returns nothing else (``handle`` should raise)."""
    from mcp.server.lowlevel.server import Server

    if V2:

        async def on_call_tool(ctx: Any, params: Any) -> Any:
            return handle(dict(ctx.meta or {}))

        return Server(name, on_call_tool=on_call_tool)
    server = Server(name)

    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator,unused-ignore]
    async def call(tool: str, arguments: dict[str, Any]) -> Any:
        meta = server.request_context.meta
        return handle(meta.model_dump(by_alias=True, exclude_none=True) if meta else {})

    return server


def is_error(result: Any) -> bool:
    """A ``CallToolResult``'s error flag (``is_error`` on 2.x, ``isError`` on 1.x)."""
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", None))


@asynccontextmanager
async def http_streams(url: str) -> AsyncIterator[tuple[Any, Any]]:
    """The (read, write) streams of a Streamable HTTP connection to ``url``."""
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as streams:
        yield streams[0], streams[1]  # 1.x adds a session-id getter


def mcp_error(code: int, message: str) -> Exception:
    """An ``MCPError`` as the client raises it for a JSON-RPC error answer."""
    if V2:
        return MCPError(code, message)
    from mcp.types import ErrorData

    return MCPError(ErrorData(code=code, message=message))  # type: ignore[call-arg,arg-type,unused-ignore]
