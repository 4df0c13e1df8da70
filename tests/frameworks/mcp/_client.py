"""Starting the test MCP server (a subprocess, or in-process on a real socket) and
connecting a ClientSession to it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from mcp.client.session import ClientSession

ROOT = Path(__file__).resolve().parents[3]
SERVER = "tests.frameworks.mcp._server_app"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTAUDIT_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@asynccontextmanager
async def stdio_session(spans_file: Path) -> AsyncIterator[ClientSession]:
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", SERVER, "stdio", str(spans_file)],
        env=_env(),
        cwd=str(ROOT),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_server(spans_file: Path) -> AsyncIterator[str]:
    """A real server subprocess on a free port; yields its MCP endpoint URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", SERVER, "http", str(spans_file)],
        cwd=str(ROOT),
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), f"server did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@asynccontextmanager
async def http_session(url: str) -> AsyncIterator[ClientSession]:
    from tests.frameworks.mcp._sdk import http_streams

    async with http_streams(url) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """An ASGI app (e.g. ``MCPServer.streamable_http_app()``) served by uvicorn on a
    free loopback port in a thread of this process; yields its MCP endpoint URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve([sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the MCP server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
