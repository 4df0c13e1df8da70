"""The per-call credential on the Streamable HTTP transport, and the server's refusal of it.

MCP authorizes HTTP requests with an ``Authorization: Bearer`` header (the MCP
authorization spec; stdio has no such header, and ``_meta`` has no credential
convention). A just-in-time credential is minted for one tool call (audience = tool),
so it must go on that call's ``tools/call`` POST only. The SDK's documented seam for
HTTP settings is the HTTP client the transport sends with (``httpx2.AsyncClient`` on
mcp 2.x, ``httpx.AsyncClient`` on 1.x, which share this API); its event hooks
(public httpx API, composing with any ``auth`` the application set) do the work:

* the client wrapper registers the call under its ``io.agentaudit/traceparent`` (the
  key it writes into the request ``_meta``) with the credential of the call, if any
  (:func:`presenting`);
* the request hook finds a ``tools/call`` POST whose body carries a registered key for
  the same tool name and sets its ``Authorization`` header (after any ``auth`` flow,
  so the per-call credential is what a guarded server checks);
* the response hook records a 401/403 answer's ``WWW-Authenticate`` challenge for the
  call. The SDK reports such an answer as a generic ``MCPError`` ("Server returned an
  error response"; on mcp 1.x the seam of :mod:`._v1` makes it do so);
  :func:`refusal` turns it into :class:`ToolServerRefused`, an ``MCPError``
  (``McpError`` on 1.x: hosts that handle MCP errors keep working) that says what the server
  said: for ``insufficient_scope`` the scope the call needs (the step-up error), for a
  revocation the runtime's "access revoked; do not retry" refusal as its cause, so a
  retry is refused locally and mints nothing.

The token is never put on a span, in a log line, in ``_meta`` or in an error message.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

try:
    from mcp.shared.exceptions import MCPError  # mcp 2.x
except ImportError:  # mcp 1.x
    from mcp.shared.exceptions import (  # type: ignore[attr-defined,no-redef,unused-ignore]
        McpError as MCPError,
    )

from agentaudit.instrumentation import _state
from agentaudit.instrumentation._errors import CredentialRevoked, _challenge_params
from agentaudit.instrumentation.mcp._meta import META_TRACEPARENT
from agentaudit.schema import attributes as A

__all__ = [
    "Challenge",
    "ToolServerRefused",
    "attach",
    "detach_all",
    "presenting",
    "refusal",
    "refused",
    "wrap_post_writer",
]

_TOOLS_CALL: Final = b'"tools/call"'
_REFUSALS: Final = frozenset({401, 403})
_MAX_DESCRIPTION: Final = 300


@dataclass(frozen=True)
class Challenge:
    """A tool server's 401/403 answer to one ``tools/call``."""

    status: int
    www_authenticate: str

    def params(self) -> dict[str, str]:
        return _challenge_params(self.www_authenticate) or {}


@dataclass
class _Call:
    tool: str
    token: str | None = field(repr=False)
    challenge: Challenge | None = None
    users: int = 1


_lock = threading.Lock()
_calls: dict[str, _Call] = {}
"""The calls being sent, by the ``io.agentaudit/traceparent`` of their ``_meta``."""
_requests: weakref.WeakKeyDictionary[Any, _Call] = weakref.WeakKeyDictionary()
_clients: weakref.WeakSet[Any] = weakref.WeakSet()


@contextmanager
def presenting(key: str | None, tool: str, token: str | None) -> Iterator[_Call | None]:
    """Register one call (its ``_meta`` key) while it is sent; yields its record."""
    if not key:
        yield None
        return
    with _lock:
        call = _calls.get(key)
        if call is not None and call.tool == tool:
            call.users += 1  # concurrent calls under one enclosing span share its credential
        else:
            call = _calls[key] = _Call(tool, token)
    try:
        yield call
    finally:
        with _lock:
            call.users -= 1
            if call.users <= 0 and _calls.get(key) is call:
                del _calls[key]


def _call_of(request: Any) -> _Call | None:
    """The registered call a ``tools/call`` POST sends, or None."""
    if getattr(request, "method", None) != "POST":
        return None
    try:
        content = request.content
    except Exception:  # a streamed body: not the SDK's JSON-RPC POST
        return None
    if not isinstance(content, bytes) or _TOOLS_CALL not in content:
        return None
    try:
        message = json.loads(content)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    key = meta.get(META_TRACEPARENT) if isinstance(meta, dict) else None
    if not isinstance(key, str):
        return None
    with _lock:
        call = _calls.get(key)
    if call is None or call.tool != params.get("name"):  # type: ignore[union-attr]
        return None
    return call


async def _on_request(request: Any) -> None:
    call = _call_of(request)
    if call is None:
        return
    _requests[request] = call
    if call.token:
        request.headers["Authorization"] = f"Bearer {call.token}"


async def _on_response(response: Any) -> None:
    if response.status_code not in _REFUSALS:
        return
    call = _requests.get(response.request)
    if call is not None:
        header = response.headers.get("www-authenticate") or ""
        call.challenge = Challenge(response.status_code, header)


def refused(request: Any) -> bool:
    """True when ``request`` is an audited ``tools/call`` POST the server refused."""
    call = _requests.get(request)
    return call is not None and call.challenge is not None


def attach(client: Any) -> None:
    """Add the hooks to the transport's HTTP client (``httpx2.AsyncClient`` on mcp 2.x,
    ``httpx.AsyncClient`` on 1.x; idempotent; anything else: no-op)."""
    hooks = getattr(client, "event_hooks", None)
    if not isinstance(hooks, dict):
        return
    requests, responses = hooks.get("request"), hooks.get("response")
    if not isinstance(requests, list) or not isinstance(responses, list):
        return
    if _on_request not in requests:
        requests.append(_on_request)
    if _on_response not in responses:
        responses.append(_on_response)
    _clients.add(client)


def wrap_post_writer(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``StreamableHTTPTransport.post_writer``, adding the hooks to the client it sends with."""

    @functools.wraps(original)
    async def post_writer(self: Any, client: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            attach(client)
        except Exception:
            _state.report_error("adding the MCP credential hooks failed")
        return await original(self, client, *args, **kwargs)

    return post_writer


def detach_all() -> None:
    """Take the hooks out of every client they were added to."""
    for client in list(_clients):
        hooks = getattr(client, "event_hooks", None)
        if isinstance(hooks, dict):
            for name, hook in (("request", _on_request), ("response", _on_response)):
                found = hooks.get(name)
                if isinstance(found, list) and hook in found:
                    found.remove(hook)
    _clients.clear()


_SDK_ERROR_TAKES_DATA: Final = "code" in inspect.signature(MCPError.__init__).parameters
"""mcp 2.x: ``MCPError(code, message, data)``; 1.x: ``McpError(ErrorData)``."""


class ToolServerRefused(MCPError):
    """The tool server refused the call's credential (HTTP 401/403, a Bearer challenge).

    An ``MCPError`` with the SDK error's code; ``status``, ``challenge_error``
    (``insufficient_scope``, ``invalid_token``; ``unauthorized`` / ``forbidden`` for a
    401 / 403 whose challenge names no error), ``scopes`` (what the call needs, on a
    step-up challenge) and ``reason`` (the verifier's code, e.g. ``revoked``) as
    attributes and in ``data``. ``revocation``: for a revoked credential, the runtime's
    :class:`~agentaudit.CredentialRevoked` (raised as this error's cause, so the runtime
    refuses a retry locally).
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: int,
        challenge_error: str,
        scopes: tuple[str, ...] = (),
        reason: str = "",
        revocation: CredentialRevoked | None = None,
    ) -> None:
        data: dict[str, Any] = {"status": status, "error": challenge_error}
        if scopes:
            data["scope"] = " ".join(scopes)
        if reason:
            data["reason"] = reason
        if _SDK_ERROR_TAKES_DATA:
            super().__init__(code, message, data)
        else:  # mcp 1.x: McpError(ErrorData)
            from mcp.types import ErrorData

            super().__init__(ErrorData(code=code, message=message, data=data))  # type: ignore[call-arg,arg-type,unused-ignore]
        self.status = status
        self.challenge_error = challenge_error
        self.scopes = scopes
        self.reason = reason
        self.revocation = revocation

    @property
    def code(self) -> int:
        """The JSON-RPC error code (a property of ``MCPError`` on 2.x; here on 1.x too)."""
        return int(self.error.code)

    @property
    def data(self) -> Any:
        """What the server said, as a mapping (see the class docstring)."""
        return self.error.data

    def span_attributes(self) -> dict[str, Any]:
        """What the call's span records of the refusal."""
        attributes: dict[str, Any] = {A.CREDENTIAL_REFUSAL: self.challenge_error}
        if self.scopes:
            attributes[A.CREDENTIAL_REQUIRED_SCOPES] = self.scopes
        return attributes


ToolServerRefused.__module__ = "agentaudit.instrumentation.mcp"  # its public home


def refusal(call: _Call | None, tool: str, exc: BaseException) -> ToolServerRefused | None:
    """The server's refusal of this call, when ``exc`` is the SDK's report of one."""
    if call is None or call.challenge is None or not isinstance(exc, MCPError):
        return None
    challenge = call.challenge
    params = challenge.params()
    status = challenge.status
    error = params.get("error") or ("unauthorized" if status == 401 else "forbidden")
    reason = params.get("reason", "")
    scopes = tuple(params.get("scope", "").split())
    said = params.get("error_description", "")[:_MAX_DESCRIPTION]
    revocation = None
    if error == "insufficient_scope":
        needed = f"scope {', '.join(scopes)}" if scopes else "a scope the call needs"
        message = (
            f"tool {tool} was refused by its server: the credential lacks {needed} "
            f"(HTTP {status} insufficient_scope; step-up authorization needed)"
        )
    elif reason == "revoked":
        revocation = CredentialRevoked(tool, f"{said or 'revoked'}; refused by the tool server")
        message = str(revocation)
    elif error == "unauthorized":
        message = f"tool {tool} was refused by its server: a bearer credential is required"
        message += f" (HTTP {status})"
    elif error == "forbidden":
        message = f"tool {tool} was refused by its server (HTTP {status})"
    else:
        detail = f", {reason}" if reason else ""
        message = f"tool {tool} was refused by its server: {error} (HTTP {status}{detail})"
        message += f": {said}" if said else ""
    return ToolServerRefused(
        exc.error.code, message, status=status, challenge_error=error, scopes=scopes,
        reason=reason, revocation=revocation,
    )  # fmt: skip
