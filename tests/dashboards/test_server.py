"""serve() runs Streamlit in the calling thread and returns on SIGTERM; revocation client."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentaudit.dashboards.revocation_client import (
    AdminApiRefused,
    RevocationRequestError,
    build_request,
    submit,
)

SERVE = """
import sys
from agentaudit.config import Config
from agentaudit.dashboards.server import serve
serve(host=sys.argv[1], port=int(sys.argv[2]), config=Config(clickhouse_url=sys.argv[3]))
print("serve returned", flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 60.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serve_answers_and_returns_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "127.0.0.1", str(port), f"chdb://{tmp_path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(f"http://127.0.0.1:{port}/_stcore/health") == b"ok"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "serve returned" in out


def test_serve_refuses_an_open_network_bind(tmp_path: Path) -> None:
    env = {
        k: v for k, v in __import__("os").environ.items() if k != "AGENTAUDIT_DASHBOARD_PASSWORD"
    }
    result = subprocess.run(
        [sys.executable, "-c", SERVE, "0.0.0.0", str(free_port()), f"chdb://{tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert "refusing to serve the dashboard on 0.0.0.0" in result.stderr


class _Refuser(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"error": "bad token"}).encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuser)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_refused_token_is_explained(refusing_api: str) -> None:
    request = build_request("credential", "cred-1", "leaked", "rita")
    with pytest.raises(AdminApiRefused, match=r"HTTP 401.*AGENTAUDIT_ADMIN_TOKEN"):
        submit(request, base_url=refusing_api, token="wrong")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("group", "x", "r", "u"), "target must be"),
        (("agent", " ", "r", "u"), "give the agent id"),
        (("agent", "a\nb", "r", "u"), "printable"),
        (("agent", "a", "x" * 3000, "u"), "at most"),
        (("agent", "a", "r", ""), "log in"),
    ],
)
def test_bad_revocation_requests(args: tuple[str, str, str, str], message: str) -> None:
    with pytest.raises(RevocationRequestError, match=message):
        build_request(*args)


def test_non_http_api_url_is_refused() -> None:
    with pytest.raises(RevocationRequestError, match="not an http"):
        submit(build_request("agent", "a", "r", "u"), base_url="file:///etc/passwd")


def test_unregistered_store_needs_the_dsn_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentaudit.dashboards import get_store, register_store, registered_store
    from agentaudit.dashboards._store import env_store
    from agentaudit.errors import ConfigError

    monkeypatch.delenv("AGENTAUDIT_CLICKHOUSE_URL", raising=False)
    previous = registered_store()
    register_store(None)
    env_store.clear()
    try:
        with pytest.raises(ConfigError, match="AGENTAUDIT_CLICKHOUSE_URL is not set"):
            get_store()
    finally:
        register_store(previous)
