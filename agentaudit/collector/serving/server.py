"""Run an ASGI app with uvicorn on a background thread, on a socket bound up front.

Binding before uvicorn starts turns "address in use" into a :class:`BindError` at
start-up (uvicorn would log and exit the process from its thread). Signals stay with
the main thread: the owner calls :meth:`HttpServer.stop`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from agentaudit.collector.errors import BindError

__all__ = ["HttpServer", "bind_socket"]

log = logging.getLogger(__name__)


def bind_socket(
    host: str, port: int, *, what: str, flag: str, reuse_port: bool = False, listen: bool = True
) -> socket.socket:
    """A listening TCP socket on ``host:port`` or a BindError naming ``flag``.

    ``reuse_port`` sets SO_REUSEPORT, so several worker processes can share the port
    and the kernel spreads connections over them. ``listen=False`` only holds the port
    (and resolves port 0): a bound socket that does not listen is given no connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise BindError(what, host, port, flag) from None
    if not listen:
        return sock
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """One uvicorn server for ``app`` on a pre-bound socket, served from a thread."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        what: str,
        flag: str,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        reuse_port: bool = False,
    ) -> None:
        self._socket = bind_socket(host, port, what=what, flag=flag, reuse_port=reuse_port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None,
            )
        )
        self._thread = threading.Thread(target=self._serve, name=f"http-{what}", daemon=True)
        self._what = what

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self) -> None:
        self._thread.start()
        log.info("%s listening on port %d", self._what, self.port)

    def close(self) -> None:
        """Release the socket of a server that was never started."""
        self._socket.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish, close the socket.

        Idempotent; on a server that never started it only releases the socket.
        """
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> HttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
