"""Bearer-token checks for tool servers, answering like the MCP authorization spec.

:func:`authorize_bearer` is the minimal interface: given the request's
``Authorization`` header, the tool, the resource(s) and the scopes the call needs, it
returns :class:`Authorized` (the verified claims) or a :class:`Challenge` to send back:

* no bearer token: 401, ``WWW-Authenticate: Bearer realm=..., resource_metadata=...``;
* an invalid, expired, revoked or mis-targeted token: 401, ``error="invalid_token"``,
  with the verifier's stable code as ``reason="revoked"`` (``expired``, ...) in the
  challenge and the JSON body, so a client can tell a revocation (never retry with a
  fresh credential) from an expiry (a fresh one is fine);
* a valid token lacking a scope: 403, ``error="insufficient_scope", scope="<needed>"``
  (RFC 6750 §3.1), which is what the MCP step-up flow expects a client to act on;
* the deny-list cannot be refreshed: 503 (fail closed, retry later).

:class:`McpBearerMiddleware` applies it to an MCP server's Streamable HTTP endpoint as
pure ASGI: it reads JSON-RPC ``tools/call`` requests (single or batched), checks each
call, and replays the body to the app untouched. Other JSON-RPC methods pass through:
a per-call credential is audience-bound to one tool, so only tool calls can carry one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentaudit.broker._credential import CredentialClaims
from agentaudit.broker._errors import CredentialRefused

__all__ = [
    "CREDENTIAL_STATE_KEY",
    "Authorized",
    "Challenge",
    "CredentialChecker",
    "McpBearerMiddleware",
    "ToolPolicy",
    "authorize_bearer",
    "tool_resource",
]

CREDENTIAL_STATE_KEY = "agentaudit.credentials"
MAX_BODY = 4 * 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def tool_resource(tool: str) -> str:
    """The resource id of a call that touches no named resource: ``tool:<name>``."""
    return f"tool:{tool}"


class CredentialChecker(Protocol):
    """What :func:`authorize_bearer` needs: a Verifier or a Broker."""

    def verify(
        self,
        token: str,
        *,
        tool: str,
        resource: str | Iterable[str],
        scopes: str | Iterable[str] = (),
    ) -> CredentialClaims: ...


@dataclass(frozen=True)
class Authorized:
    claims: CredentialClaims


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Challenge:
    """An HTTP error answer: status, ``WWW-Authenticate`` and an OAuth-style JSON body."""

    status: int
    error: str | None
    description: str
    scope: tuple[str, ...] = ()
    realm: str = "agentaudit"
    resource_metadata: str | None = None
    reason: str = field(default="", compare=False)

    @property
    def www_authenticate(self) -> str:
        params = [f"realm={_quote(self.realm)}"]
        if self.error:
            params.append(f"error={_quote(self.error)}")
            params.append(f"error_description={_quote(self.description)}")
            if self.reason:
                params.append(f"reason={_quote(self.reason)}")  # an RFC 7235 extension param
        if self.scope:
            params.append(f"scope={_quote(' '.join(self.scope))}")
        if self.resource_metadata:
            params.append(f"resource_metadata={_quote(self.resource_metadata)}")
        return "Bearer " + ", ".join(params)

    def headers(self) -> dict[str, str]:
        if self.status == 503:
            return {"Retry-After": "1"}
        return {"WWW-Authenticate": self.www_authenticate}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": self.error or "unauthorized",
            "error_description": self.description,
        }
        if self.scope:
            body["scope"] = " ".join(self.scope)
        if self.reason:
            body["reason"] = self.reason
        return body


def authorize_bearer(
    checker: CredentialChecker,
    authorization: str | None,
    *,
    tool: str,
    resource: str | Sequence[str],
    scopes: Sequence[str] = (),
    realm: str = "agentaudit",
    resource_metadata: str | None = None,
) -> Authorized | Challenge:
    """Check the ``Authorization`` header for one tool call; never raises on a bad token."""

    def challenge(
        status: int, error: str | None, text: str, needed: Sequence[str] = (), reason: str = ""
    ) -> Challenge:
        return Challenge(status, error, text, tuple(needed), realm, resource_metadata, reason)

    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return challenge(401, None, "a bearer credential is required", scopes)
    try:
        claims = checker.verify(token, tool=tool, resource=resource, scopes=scopes)
    except CredentialRefused as exc:
        if exc.reason == "insufficient_scope":
            return challenge(403, "insufficient_scope", str(exc), scopes, exc.reason)
        if exc.reason == "denylist_unavailable":
            return challenge(503, "temporarily_unavailable", str(exc), (), exc.reason)
        return challenge(401, "invalid_token", str(exc), (), exc.reason)
    return Authorized(claims)


@dataclass(frozen=True)
class ToolPolicy:
    """What a tool call needs: its scopes, and how to read resource ids from arguments."""

    scopes: tuple[str, ...] = ()
    resources: Callable[[Mapping[str, Any]], Sequence[str]] = lambda _args: ()


class McpBearerMiddleware:
    """ASGI middleware guarding MCP ``tools/call`` requests with per-call credentials.

    ``policies`` maps a tool name to its :class:`ToolPolicy`; a tool without a policy
    is refused (403), so a new tool is never unguarded by omission. The verified claims
    are put in ``scope["state"]["agentaudit.credentials"]`` (one per call).
    """

    def __init__(
        self,
        app: Asgi,
        checker: CredentialChecker,
        policies: Mapping[str, ToolPolicy],
        *,
        realm: str = "agentaudit",
        resource_metadata: str | None = None,
    ) -> None:
        self.app = app
        self._checker = checker
        self._policies = dict(policies)
        self._realm = realm
        self._resource_metadata = resource_metadata

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                await _respond(send, 413, {}, {"error": "request body too large"})
                return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        outcome = self._check(body, headers.get("authorization"))
        if isinstance(outcome, Challenge):
            await _respond(send, outcome.status, outcome.headers(), outcome.body())
            return
        scope.setdefault("state", {})[CREDENTIAL_STATE_KEY] = outcome
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check(self, body: bytes, authorization: str | None) -> list[CredentialClaims] | Challenge:
        try:
            payload = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            return []  # not JSON-RPC: the MCP server answers its own parse error
        messages = payload if isinstance(payload, list) else [payload]
        verified: list[CredentialClaims] = []
        for message in messages:
            if not isinstance(message, Mapping) or message.get("method") != "tools/call":
                continue
            params = message.get("params")
            params = params if isinstance(params, Mapping) else {}
            tool = params.get("name")
            arguments = params.get("arguments")
            arguments = arguments if isinstance(arguments, Mapping) else {}
            policy = self._policies.get(tool) if isinstance(tool, str) else None
            if policy is None:
                return Challenge(
                    403,
                    "insufficient_scope",
                    f"tool {tool!r} has no credential policy",
                    realm=self._realm,
                    resource_metadata=self._resource_metadata,
                )
            outcome = authorize_bearer(
                self._checker,
                authorization,
                tool=str(tool),
                resource=tuple(policy.resources(arguments)) or (tool_resource(str(tool)),),
                scopes=policy.scopes,
                realm=self._realm,
                resource_metadata=self._resource_metadata,
            )
            if isinstance(outcome, Challenge):
                return outcome
            verified.append(outcome.claims)
        return verified


async def _respond(
    send: Send, status: int, headers: Mapping[str, str], body: Mapping[str, Any]
) -> None:
    raw = json.dumps(body).encode()
    header_list = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
    ]
    header_list += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": header_list})
    await send({"type": "http.response.body", "body": raw})
