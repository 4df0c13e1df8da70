"""Patching the MCP SDK (client ``call_tool``, server middleware) and undoing it.

Client: ``ClientSession.call_tool`` is replaced by the audited wrapper (the SDK has no
outbound interception seam yet), and ``StreamableHTTPTransport.post_writer`` (where the
Streamable HTTP transport takes the ``httpx2.AsyncClient`` it sends with, the SDK's own
or the application's) is wrapped to add the per-call credential's event hooks to that
client (:mod:`._auth`). Server: ``Server.__init__`` (the low-level server, which
``MCPServer`` builds on) is wrapped to append :class:`AuditMiddleware` to each new
server's ``middleware`` list - the SDK's own extension point. ``uninstall`` restores the
three attributes, takes the middleware out of every server and the hooks out of every
HTTP client they were added to. Servers built before ``install`` are not audited.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.mcp.package import _supported

__all__ = ["install", "installed", "middleware", "uninstall"]


class _Installed:
    lock = threading.Lock()
    active = False
    client_original: Any = None
    post_writer: Any = None
    server_init: Callable[..., None] | None = None
    middleware: Any = None
    servers: ClassVar[weakref.WeakSet[Any]] = weakref.WeakSet()


def installed() -> bool:
    return _Installed.active


def middleware() -> Any:
    """The :class:`AuditMiddleware` added to servers, or None when not instrumented."""
    return _Installed.middleware


def install() -> bool:
    """Patch the SDK (idempotent). False when the installed mcp is unsupported."""
    with _Installed.lock:
        if _Installed.active:
            return True
        if not check_supported(_supported):
            return False
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import StreamableHTTPTransport
        from mcp.server.lowlevel.server import Server

        from agentaudit.instrumentation.mcp._auth import wrap_post_writer
        from agentaudit.instrumentation.mcp._client import wrap_call_tool
        from agentaudit.instrumentation.mcp._server import AuditMiddleware

        audit = AuditMiddleware()
        original_init = Server.__init__

        @functools.wraps(original_init)
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            chain = getattr(self, "middleware", None)
            if isinstance(chain, list) and audit not in chain:
                chain.append(audit)
                _Installed.servers.add(self)

        _Installed.client_original = ClientSession.__dict__["call_tool"]
        ClientSession.call_tool = wrap_call_tool(ClientSession.call_tool)  # type: ignore[method-assign,assignment,unused-ignore]
        _Installed.post_writer = StreamableHTTPTransport.__dict__["post_writer"]
        StreamableHTTPTransport.post_writer = wrap_post_writer(StreamableHTTPTransport.post_writer)  # type: ignore[method-assign,assignment,unused-ignore]
        _Installed.server_init = original_init
        Server.__init__ = init  # type: ignore[method-assign,assignment,unused-ignore]
        _Installed.middleware = audit
        _Installed.active = True
        return True


def uninstall() -> None:
    """Restore the patched attributes; detach the middleware and the HTTP hooks."""
    with _Installed.lock:
        if not _Installed.active:
            return
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import StreamableHTTPTransport
        from mcp.server.lowlevel.server import Server

        from agentaudit.instrumentation.mcp._auth import detach_all

        ClientSession.call_tool = _Installed.client_original  # type: ignore[method-assign,assignment,unused-ignore]
        StreamableHTTPTransport.post_writer = _Installed.post_writer  # type: ignore[method-assign,unused-ignore]
        detach_all()
        Server.__init__ = _Installed.server_init  # type: ignore[method-assign,assignment,unused-ignore]
        audit = _Installed.middleware
        for server in list(_Installed.servers):
            chain = getattr(server, "middleware", None)
            if isinstance(chain, list):
                chain[:] = [entry for entry in chain if entry is not audit]
        _Installed.servers = weakref.WeakSet()
        _Installed.client_original = None
        _Installed.post_writer = None
        _Installed.server_init = None
        _Installed.middleware = None
        _Installed.active = False
