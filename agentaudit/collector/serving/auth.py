"""Bearer-token checks and JSON request bodies, shared by every HTTP and gRPC endpoint.

Tokens are compared in constant time; the ``Bearer`` scheme is case-insensitive
(RFC 7235). JSON bodies are read with a byte cap that is enforced on the declared
``Content-Length`` before reading and on the bytes actually streamed, so an oversized
body is refused without being buffered.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["bearer_ok", "bearer_token", "json_error", "read_json_object", "token_matches"]


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    scheme, _, token = (header or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def token_matches(presented: str | None, expected: str | None) -> bool:
    """Constant-time equality; False when either side is missing."""
    if presented is None or expected is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def bearer_ok(header: str | None, token: str | None) -> bool:
    """True when no token is required, or ``header`` presents ``token``."""
    return token is None or token_matches(bearer_token(header), token)


def json_error(status: int, message: str, **extra: Any) -> Response:
    """The JSON error body every endpoint answers with: ``{"error": message, ...}``."""
    return JSONResponse({"error": message, **extra}, status_code=status)


async def read_json_object(
    request: Request, *, max_bytes: int, optional: bool = False
) -> dict[str, Any] | Response:
    """The request's JSON object body, or the error response to send instead
    (415 wrong type, 413 too large, 400 not JSON / not an object). With ``optional``,
    an empty body is ``{}``."""
    declared = request.headers.get("content-length", "")
    if optional and declared == "0":
        return {}
    too_large = json_error(413, f"request body larger than {max_bytes} bytes")
    if declared.isdigit() and int(declared) > max_bytes:
        return too_large  # refuse before reading: never buffer an oversized body
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            return too_large
    if optional and not body:
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return json_error(415, "send the request body as application/json")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return json_error(400, "request body is not valid JSON")
    if not isinstance(data, dict):
        return json_error(400, "request body must be a JSON object")
    return data
