"""The Vault backend: revoke a token by accessor (children included), leases by prefix.

Through ``hvac`` (optional: ``pip install 'agentaudit[broker]'``). For a ``credential``
target the id is taken as a token accessor (what the Vault issuer records as the
credential id) and ``auth/token/revoke-accessor`` revokes the token and its children.
``lease_prefixes`` are templates such as ``database/creds/{agent}``; each one whose
placeholders the request can fill is revoked with ``sys/leases/revoke-prefix``.

Invariant: values substituted into a prefix must match ``[A-Za-z0-9._@:-]+``, so an
id can never widen a prefix (``/``, ``..``) to revoke more than intended.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from string import Formatter
from typing import Any, Final

from agentaudit.broker import hvac_module, vault_client
from agentaudit.collector.admin.revocation.model import BackendResult, RevocationRequest
from agentaudit.collector.admin.revocation.retry import Attempt, RetryPolicy, with_retries

__all__ = ["PLACEHOLDERS", "VaultBackend", "vault_client"]

PLACEHOLDERS: Final = ("agent", "user", "session", "target_id")
SAFE_VALUE: Final = re.compile(r"[A-Za-z0-9._@:-]+")
_RETRYABLE_NAMES: Final = ("VaultDown", "InternalServerError", "BadGateway", "RateLimitExceeded")


def check_prefix_template(template: str) -> None:
    """ValueError when ``template`` uses a placeholder other than :data:`PLACEHOLDERS`."""
    for _, name, _, _ in Formatter().parse(template):
        if name is not None and name not in PLACEHOLDERS:
            raise ValueError(
                f"lease prefix {template!r} uses {{{name}}}; allowed: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )


class VaultBackend:
    """Carries revocations out in Vault through an ``hvac.Client``."""

    def __init__(
        self,
        client: Any,
        *,
        name: str = "vault",
        lease_prefixes: Sequence[str] = (),
        revoke_accessors: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for template in lease_prefixes:
            check_prefix_template(template)
        self.name = name
        self._client = client
        self._prefixes = tuple(lease_prefixes)
        self._revoke_accessors = revoke_accessors
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        hvac = hvac_module()
        self._errors = hvac.exceptions.VaultError
        self._retryable = tuple(getattr(hvac.exceptions, n) for n in _RETRYABLE_NAMES)

    def _actions(
        self, request: RevocationRequest
    ) -> tuple[list[tuple[str, Callable[[], Any]]], list[str]]:
        actions: list[tuple[str, Callable[[], Any]]] = []
        skipped: list[str] = []
        if request.target == "credential" and self._revoke_accessors:
            accessor = request.target_id
            actions.append((f"revoke-accessor {accessor}", self._revoke_accessor(accessor)))
        values = {
            "agent": request.agent,
            "user": request.user,
            "session": request.session,
            "target_id": request.target_id,
        }
        for template in self._prefixes:
            names = [n for _, n, _, _ in Formatter().parse(template) if n is not None]
            unusable = [n for n in names if not SAFE_VALUE.fullmatch(values[n] or "")]
            if unusable:
                skipped.append(f"{template}: no safe value for {{{unusable[0]}}}")
                continue
            prefix = template.format(**values)
            actions.append((f"revoke-prefix {prefix}", self._revoke_prefix(prefix)))
        return actions, skipped

    def _revoke_accessor(self, accessor: str) -> Callable[[], Any]:
        return lambda: self._client.auth.token.revoke_accessor(accessor)

    def _revoke_prefix(self, prefix: str) -> Callable[[], Any]:
        return lambda: self._client.sys.revoke_prefix(prefix)

    def _attempt(self, call: Callable[[], Any]) -> Attempt:
        try:
            answer = call()
        except self._retryable as exc:
            return Attempt(False, f"Vault unavailable: {exc}", retry=True)
        except self._errors as exc:
            return Attempt(False, f"Vault refused: {type(exc).__name__}: {exc}")
        status = getattr(answer, "status_code", None)
        return Attempt(True, "ok", response={"status": status})

    def _run(self, call: Callable[[], Any]) -> BackendResult:
        return with_retries(self.name, lambda: self._attempt(call), self._retry, self._sleep)

    def revoke(self, request: RevocationRequest) -> BackendResult:
        actions, skipped = self._actions(request)
        if not actions:
            detail = f"nothing to revoke in Vault for {request.target} {request.target_id}"
            if skipped:
                detail += " (" + "; ".join(skipped) + ")"
            return BackendResult(self.name, True, 0, detail, skipped=True)
        results = [(label, self._run(call)) for label, call in actions]
        ok = all(result.ok for _, result in results)
        detail = "; ".join(f"{label}: {result.detail}" for label, result in results)
        if skipped:
            detail += "; skipped " + "; ".join(skipped)
        return BackendResult(
            self.name,
            ok,
            sum(result.attempts for _, result in results),
            detail,
            response={label: result.to_json() for label, result in results},
            errors=tuple(e for _, result in results for e in result.errors),
        )
