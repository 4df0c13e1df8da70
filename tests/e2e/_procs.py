"""Start real agentaudit processes on free ports, and wait for them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll ``check`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@dataclass
class Running:
    process: subprocess.Popen[str]
    store: Path
    grpc_port: int
    http_port: int
    api_port: int

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _token(self, name: str) -> str:
        # ``up`` generated both tokens into its state directory (the store's parent)
        # on first start, unless the environment configured them.
        return (self.store.parent / name).read_text().strip()

    @property
    def agent_env(self) -> dict[str, str]:
        """What an agent of this process is given: the agent token, never the other."""
        return {"AGENTAUDIT_TOKEN": self._token("agent.token")}

    @property
    def responder_env(self) -> dict[str, str]:
        """What a responder's CLI is given: the responder token."""
        return {"AGENTAUDIT_ADMIN_TOKEN": self._token("admin.token")}

    def healthz(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.api}/healthz", timeout=2) as reply:
            return dict(json.load(reply))


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentaudit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@contextmanager
def agentaudit_up(tmp_path: Path, *extra: str) -> Iterator[Running]:
    """``agentaudit up`` as a subprocess; stopped with SIGTERM on exit."""
    store = tmp_path / "store"
    ports = {name: free_port() for name in ("grpc", "http", "api")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentaudit",
            "up",
            "--no-dashboard",
            "--store",
            str(store),
            "--grpc-port",
            str(ports["grpc"]),
            "--http-port",
            str(ports["http"]),
            "--api-port",
            str(ports["api"]),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    running = Running(process, store, ports["grpc"], ports["http"], ports["api"])
    try:
        wait_for(lambda: process.poll() is None and running.healthz(), timeout=60, what="/healthz")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
