"""Just-in-time credentials: a short-lived credential minted for each configured tool call.

A ``before_tool_call`` hook (see :mod:`._runtime`). For a tool configured for JIT
(``jit = true`` in ``[instrumentation.tools.<name>]`` of the ``AGENTAUDIT_CONFIG`` file,
optionally with ``scopes = [...]``; or :class:`JitCredentials` built with ``tools=``), it
asks the admin API's broker (``POST /v1/credentials`` through
:class:`agentaudit.broker.CredentialClient`, bearer ``AGENTAUDIT_TOKEN``) for a credential
scoped to (user, agent, tool, the call's resource ids, the tool's scopes), valid 60 s
unless the tool sets ``ttl``. The tool reads it with :func:`current_credential` and
presents ``credential.token`` to its server.

Invariants:

* The span gets the credential's id, scopes and expiry
  (``agentaudit.credential.id`` / ``.scopes`` / ``.expires_at``); the token is never
  put on a span, in a log line or in an exception message.
* :func:`current_credential` returns the credential of the tool call in progress: every
  call of an audited tool sets it (to None for a tool without JIT), so a credential
  never leaks into the next tool; an expired one is never returned.
* The hook runs in the credential phase (:data:`PHASE_CREDENTIAL`): after every check
  hook (the quarantine guard), whatever the order they were registered in, so nothing is
  minted for a call a check refuses.
* The broker refusing because the agent is quarantined blocks the call with
  :class:`AgentQuarantined`, because the agent, user or session is revoked with
  :class:`CredentialRevoked` (both say "access revoked; do not retry"; recorded as
  ``blocked``). The runtime remembers either refusal for the (agent, user, session,
  tool): a framework's retry of the call is refused locally and sends no second mint
  request (see :mod:`._refusals`); so is a retry after the tool's server refused the
  credential as revoked mid-call. A refused scope blocks the call with
  :class:`CredentialDenied` (not remembered). When the broker is unreachable, or the
  call has no user or agent to mint for, the call runs without a credential (fail-open;
  one warning per cause): the tool server then refuses it, and that error reaches the
  agent. The hook itself never retries.
* Resource ids: the call's ``agentaudit.resource.ids``; ``tool:<name>`` when it has none.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.broker import BrokerError, BrokerUnavailable, Credential, CredentialClient
from agentaudit.broker import MintRefused as _MintRefused
from agentaudit.instrumentation._errors import AgentQuarantined, CredentialRevoked, ToolCallBlocked
from agentaudit.instrumentation._runtime import PHASE_CREDENTIAL, ToolCallInfo, add_before_tool_call
from agentaudit.instrumentation._settings import settings

__all__ = [
    "CredentialDenied",
    "JitCredentials",
    "JitTool",
    "current_credential",
    "install",
    "installed_hook",
    "uninstall",
]

log = logging.getLogger("agentaudit.instrumentation")

DEFAULT_TIMEOUT: Final = 2.0
DENIED_PRINCIPAL: Final = frozenset({"quarantined", "revoked"})


class CredentialDenied(ToolCallBlocked):
    """The broker refused a credential for this call (e.g. a scope the tool may not have)."""

    def __init__(self, tool: str, reason: str, message: str) -> None:
        self.tool = tool
        self.reason = reason
        super().__init__(f"no credential for tool {tool}: {message}")


@dataclass(frozen=True)
class JitTool:
    """How to mint for one tool: ``scopes`` None asks for the broker's configured ones."""

    scopes: tuple[str, ...] | None = None
    ttl: int | None = None


@dataclass(frozen=True)
class _Minted:
    credential: Credential
    tool: str


_current: contextvars.ContextVar[_Minted | None] = contextvars.ContextVar(
    "agentaudit_jit_credential", default=None
)


def current_credential() -> Credential | None:
    """The credential minted for the tool call in progress (None: none, or expired)."""
    minted = _current.get()
    if minted is None or minted.credential.expires_at <= time.time():
        return None
    return minted.credential


def _configured(name: str) -> JitTool | None:
    """The tool's JIT settings from ``[instrumentation.tools.<name>]`` (None: no JIT).

    ``jit`` and ``scopes`` are read by attribute name so this works with the settings
    object whatever fields it has (``ToolSettings.jit`` / ``.scopes``).
    """
    tool_settings = settings().tool(name)
    if getattr(tool_settings, "jit", None) is not True:
        return None
    scopes = getattr(tool_settings, "scopes", None)
    return JitTool(scopes=tuple(scopes) if scopes is not None else None)


class JitCredentials:
    """The ``before_tool_call`` hook minting credentials (thread-safe, no shared state
    besides the once-per-cause warnings). Registered in the credential phase."""

    agentaudit_phase = PHASE_CREDENTIAL

    def __init__(
        self,
        client: CredentialClient,
        *,
        tools: Mapping[str, JitTool] | None = None,
        use_settings: bool = True,
    ) -> None:
        """``tools`` adds tools in code; ``use_settings`` also reads the config file's."""
        self._client = client
        self._tools = dict(tools or {})
        self._use_settings = use_settings
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def tool(self, name: str) -> JitTool | None:
        explicit = self._tools.get(name)
        if explicit is not None or not self._use_settings:
            return explicit
        return _configured(name)

    def __call__(self, info: ToolCallInfo) -> Mapping[str, Any] | None:
        spec = self.tool(info.tool)
        if spec is None:
            if _current.get() is not None:
                _current.set(None)
            return None
        _current.set(None)
        credential = self._mint(info, spec)
        if credential is None:
            return None
        _current.set(_Minted(credential, info.tool))
        return credential.span_attributes()

    def _mint(self, info: ToolCallInfo, spec: JitTool) -> Credential | None:
        user, agent = info.user_id, info.agent_id
        if not user or not agent:
            self._warn_once(
                f"no-principal:{info.tool}",
                "agentaudit: tool %s is configured for just-in-time credentials but the call "
                "has no %s; it runs without a credential (set agentaudit.context(user=, agent=))",
                info.tool,
                "user" if not user else "agent",
            )
            return None
        resources: str | Sequence[str] = list(info.resource_ids) or f"tool:{info.tool}"
        scopes = spec.scopes if spec.scopes is not None else (info.scopes or None)
        try:
            return self._client.request(
                user=user,
                agent=agent,
                tool=info.tool,
                resource=resources,
                scopes=scopes,
                session=info.session_id or None,
                ttl=spec.ttl,
            )
        except _MintRefused as refused:
            if refused.reason == "quarantined":
                raise AgentQuarantined(
                    agent,
                    f"the credential broker issued no credential for {info.tool}",
                    tool=info.tool,
                ) from None
            if refused.reason in DENIED_PRINCIPAL:
                raise CredentialRevoked(
                    info.tool,
                    f"the credential broker issued no credential: {refused}",
                    agent_id=agent,
                    reason=refused.reason,
                ) from None
            raise CredentialDenied(info.tool, refused.reason, str(refused)) from None
        except BrokerUnavailable as exc:
            self._warn_once(
                "unavailable",
                "agentaudit: %s; tool calls needing a credential run without one",
                exc,
            )
        except BrokerError as exc:
            self._warn_once(
                f"error:{info.tool}", "agentaudit: tool %s gets no credential: %s", info.tool, exc
            )
        return None

    def _warn_once(self, cause: str, message: str, *args: object) -> None:
        with self._lock:
            if cause in self._warned:
                return
            self._warned.add(cause)
        log.warning(message, *args)


class _Installed:
    hook: JitCredentials | None = None
    remove: Callable[[], None] | None = None
    lock = threading.Lock()


def install(environ: Mapping[str, str] | None = None) -> JitCredentials | None:
    """Register the JIT hook (idempotent) using ``AGENTAUDIT_API_URL``/``AGENTAUDIT_TOKEN``.

    Tools without ``jit = true`` cost one settings lookup per call. Never raises.
    """
    env = os.environ if environ is None else environ
    with _Installed.lock:
        if _Installed.hook is not None:
            return _Installed.hook
        try:
            client = CredentialClient(timeout=DEFAULT_TIMEOUT, environ=env)
        except BrokerError as exc:
            log.warning("agentaudit: just-in-time credentials are off: %s", exc)
            return None
        hook = _Installed.hook = JitCredentials(client)
        _Installed.remove = add_before_tool_call(hook)
        return hook


def installed_hook() -> JitCredentials | None:
    return _Installed.hook


def uninstall() -> None:
    """Remove the hook registered by :func:`install`."""
    with _Installed.lock:
        remove = _Installed.remove
        _Installed.hook = _Installed.remove = None
    if remove is not None:
        remove()
