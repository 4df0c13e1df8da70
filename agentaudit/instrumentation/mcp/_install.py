"""Patching the MCP SDK (client ``call_tool``, server side) and undoing it.

Client: ``ClientSession.call_tool`` is replaced by the audited wrapper (the SDK has no
outbound interception seam, in 1.x or 2.x), and ``StreamableHTTPTransport.post_writer``
(where the Streamable HTTP transport takes the HTTP client it sends with, the SDK's own
or the application's) is wrapped to add the per-call credential's event hooks to that
client (:mod:`._auth`).

Server, version-dependent:

* mcp 2.x: ``Server.__init__`` (the low-level server, which ``MCPServer`` builds on) is
  wrapped to append :class:`AuditMiddleware` to each new server's ``middleware`` list -
  the SDK's own extension point.
* mcp 1.x (1.28 and later, the releases of the last six months; there is no server
  middleware): ``Server.call_tool`` (the public decorator that registers the
  ``tools/call`` handler in ``request_handlers``, which ``FastMCP`` uses) is wrapped so
  the handler runs through the same :class:`AuditMiddleware`; and the transport's
  ``_handle_post_request`` is wrapped so a server's refusal of an audited call reaches
  the call as on 2.x (see :mod:`._v1`, which says why both seams are needed).

``uninstall`` restores every patched attribute, takes the middleware out of every
server (on 1.x: puts back each server's own handler) and the hooks out of every HTTP
client they were added to. Servers built before ``install`` are not audited.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from agentaudit.instrumentation import _state
from agentaudit.instrumentation._version_check import check_supported
from agentaudit.instrumentation.mcp.package import _supported

__all__ = ["install", "installed", "middleware", "uninstall"]


class _Installed:
    lock = threading.Lock()
    active = False
    client_original: Any = None
    post_writer: Any = None
    server_init: Callable[..., None] | None = None
    server_call_tool: Any = None  # mcp 1.x
    post_request: Any = None  # mcp 1.x
    middleware: Any = None
    servers: ClassVar[weakref.WeakSet[Any]] = weakref.WeakSet()


def _has_middleware() -> bool:
    """True on mcp 2.x, whose low-level server runs requests through ``middleware``."""
    from importlib import metadata

    from agentaudit.instrumentation._version_check import parse_version

    return parse_version(metadata.version("mcp")) >= (2,)


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

        v2 = _has_middleware()
        targets = [(ClientSession, "call_tool"), (StreamableHTTPTransport, "post_writer")]
        if not v2:
            targets += [(Server, "call_tool"), (StreamableHTTPTransport, "_handle_post_request")]
        missing = [f"{cls.__name__}.{name}" for cls, name in targets if name not in cls.__dict__]
        if missing:  # resolved before anything is wrapped: never half on
            _state.report_error(f"the MCP SDK has no {', '.join(missing)}; integration off")
            return False
        audit = AuditMiddleware()
        _Installed.client_original = ClientSession.__dict__["call_tool"]
        ClientSession.call_tool = wrap_call_tool(ClientSession.call_tool)  # type: ignore[method-assign,assignment,unused-ignore]
        _Installed.post_writer = StreamableHTTPTransport.__dict__["post_writer"]
        StreamableHTTPTransport.post_writer = wrap_post_writer(StreamableHTTPTransport.post_writer)  # type: ignore[method-assign,assignment,unused-ignore]
        if v2:
            _install_middleware(Server, audit)
        else:
            _install_v1(Server, StreamableHTTPTransport, audit)
        _Installed.middleware = audit
        _Installed.active = True
        return True


def _install_middleware(server_class: Any, audit: Any) -> None:
    """mcp 2.x: every new server gets ``audit`` in its ``middleware`` list."""
    original_init = server_class.__init__

    @functools.wraps(original_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        chain = getattr(self, "middleware", None)
        if isinstance(chain, list) and audit not in chain:
            chain.append(audit)
            _Installed.servers.add(self)

    _Installed.server_init = original_init
    server_class.__init__ = init


def _install_v1(server_class: Any, transport_class: Any, audit: Any) -> None:
    """mcp 1.x: the registered ``tools/call`` handler runs through ``audit``; a refusal
    of an audited call comes back to it (:mod:`._v1`)."""
    from agentaudit.instrumentation.mcp._v1 import wrap_handle_post_request, wrap_registration

    _Installed.server_call_tool = server_class.__dict__["call_tool"]
    registration = wrap_registration(server_class.call_tool, audit, _Installed.servers)
    setattr(server_class, "call_tool", registration)  # noqa: B010 - absent from 2.x's stubs
    _Installed.post_request = transport_class.__dict__["_handle_post_request"]
    post = wrap_handle_post_request(transport_class._handle_post_request)
    setattr(transport_class, "_handle_post_request", post)  # noqa: B010


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
        if _Installed.server_init is not None:
            Server.__init__ = _Installed.server_init  # type: ignore[method-assign,assignment,unused-ignore]
        if _Installed.server_call_tool is not None:
            setattr(Server, "call_tool", _Installed.server_call_tool)  # noqa: B010
        if _Installed.post_request is not None:
            setattr(StreamableHTTPTransport, "_handle_post_request", _Installed.post_request)  # noqa: B010
        audit = _Installed.middleware
        for server in list(_Installed.servers):
            chain = getattr(server, "middleware", None)
            if isinstance(chain, list):
                chain[:] = [entry for entry in chain if entry is not audit]
            else:
                from agentaudit.instrumentation.mcp._v1 import restore_registered

                restore_registered(server)
        _Installed.servers = weakref.WeakSet()
        _Installed.client_original = None
        _Installed.post_writer = None
        _Installed.server_init = None
        _Installed.server_call_tool = None
        _Installed.post_request = None
        _Installed.middleware = None
        _Installed.active = False
