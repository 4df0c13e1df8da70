"""A local test double of the Vault HTTP API, for the endpoints agentaudit uses.

No Vault server can be installed in this environment, so the Vault issuer and the Vault
revocation backend are tested against this small, real HTTP server (Starlette served by
uvicorn on a free loopback port) that implements, like Vault does:

* ``POST /v1/auth/token/create`` — a child token of the caller (policies, meta, ttl,
  num_uses), answered with an ``auth`` block;
* ``GET /v1/auth/token/lookup-self`` — uses one of the token's uses;
* ``POST /v1/auth/token/revoke-accessor`` — revokes the token and all its children;
* ``PUT|POST /v1/sys/leases/revoke-prefix/<prefix>`` — revokes leases under a prefix.

Every request must carry ``X-Vault-Token`` of a live token (403 otherwise, as Vault).
``fail_next`` makes the next N requests answer 500, to exercise retries.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentaudit.collector.serving.server import HttpServer

ROOT_TOKEN = "root-token-for-tests"


@dataclass
class VaultToken:
    secret: str
    accessor: str
    policies: list[str]
    meta: dict[str, str]
    ttl: int
    num_uses: int  # 0 = unlimited
    parent: str | None
    renewable: bool
    uses: int = 0


@dataclass
class VaultDouble:
    tokens: dict[str, VaultToken] = field(default_factory=dict)
    leases: set[str] = field(default_factory=set)
    revoked_prefixes: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.tokens[ROOT_TOKEN] = VaultToken(
            ROOT_TOKEN, "root-accessor", ["root"], {}, 0, 0, None, False
        )

    def by_accessor(self, accessor: str) -> VaultToken | None:
        return next((t for t in self.tokens.values() if t.accessor == accessor), None)

    def _revoke_tree(self, secret: str) -> None:
        for child in [t.secret for t in self.tokens.values() if t.parent == secret]:
            self._revoke_tree(child)
        self.tokens.pop(secret, None)

    def app(self) -> Starlette:
        def errors(status: int, *messages: str) -> Response:
            return JSONResponse({"errors": list(messages)}, status_code=status)

        def caller(request: Request) -> VaultToken | Response:
            self.requests.append((request.method, request.url.path))
            if self.fail_next > 0:
                self.fail_next -= 1
                return errors(500, "internal error (injected by the test double)")
            token = self.tokens.get(request.headers.get("x-vault-token", ""))
            if token is None:
                return errors(403, "permission denied")
            return token

        async def create(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                parent = caller(request)
                if isinstance(parent, Response):
                    return parent
                ttl = int(str(body.get("ttl", "0s")).rstrip("s") or 0)
                token = VaultToken(
                    secret="hvs." + secrets.token_urlsafe(18),
                    accessor=secrets.token_hex(12),
                    policies=sorted(set(body.get("policies") or ["default"])),
                    meta=dict(body.get("meta") or {}),
                    ttl=ttl,
                    num_uses=int(body.get("num_uses") or 0),
                    parent=None if body.get("no_parent") else parent.secret,
                    renewable=bool(body.get("renewable", True)),
                )
                self.tokens[token.secret] = token
            return JSONResponse(
                {
                    "auth": {
                        "client_token": token.secret,
                        "accessor": token.accessor,
                        "policies": token.policies,
                        "token_policies": token.policies,
                        "metadata": token.meta,
                        "lease_duration": token.ttl,
                        "renewable": token.renewable,
                        "num_uses": token.num_uses,
                    }
                }
            )

        async def lookup_self(request: Request) -> Response:
            with self.lock:
                token = caller(request)
                if isinstance(token, Response):
                    return token
                token.uses += 1
                data: dict[str, Any] = {
                    "accessor": token.accessor,
                    "policies": token.policies,
                    "meta": token.meta,
                    "num_uses": token.num_uses,
                }
                if token.num_uses and token.uses >= token.num_uses:
                    self._revoke_tree(token.secret)  # Vault revokes a token on its last use
            return JSONResponse({"data": data})

        async def revoke_accessor(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                token = caller(request)
                if isinstance(token, Response):
                    return token
                target = self.by_accessor(str(body.get("accessor", "")))
                if target is None:
                    return errors(400, "invalid accessor")
                self._revoke_tree(target.secret)
            return Response(status_code=204)

        async def revoke_prefix(request: Request) -> Response:
            # hvac strips trailing slashes from the path; Vault, like this double, matches
            # a prefix on whole path segments (it appends "/" when missing).
            prefix = request.path_params["prefix"].rstrip("/") + "/"
            with self.lock:
                token = caller(request)
                if isinstance(token, Response):
                    return token
                if "root" not in token.policies:
                    return errors(403, "permission denied (revoke-prefix needs sudo)")
                self.revoked_prefixes.append(prefix)
                self.leases = {lease for lease in self.leases if not lease.startswith(prefix)}
            return Response(status_code=204)

        return Starlette(
            routes=[
                Route("/v1/auth/token/create", create, methods=["POST"]),
                Route("/v1/auth/token/lookup-self", lookup_self, methods=["GET"]),
                Route("/v1/auth/token/revoke-accessor", revoke_accessor, methods=["POST"]),
                Route(
                    "/v1/sys/leases/revoke-prefix/{prefix:path}",
                    revoke_prefix,
                    methods=["PUT", "POST"],
                ),
            ]
        )


class RunningVault:
    """The double served on a free loopback port; ``url`` is its address."""

    def __init__(self) -> None:
        self.double = VaultDouble()
        self._server = HttpServer(
            self.double.app(), host="127.0.0.1", port=0, what="vault double", flag="-"
        )
        self.url = f"http://127.0.0.1:{self._server.port}"

    def __enter__(self) -> RunningVault:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
