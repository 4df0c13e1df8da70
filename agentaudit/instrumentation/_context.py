"""The provenance context: who the agent acts for, in which session, with what authority.

A context is a stack of immutable :class:`Frame` objects held in a ``ContextVar``, so it
follows the code through ``asyncio`` tasks and through threads started with a copied
context (``contextvars.copy_context().run``, ``asyncio.to_thread``); concurrent sessions
never see each other's frames. Each frame precomputes the span attributes it contributes
(merged with its parent's; inner wins per key), so a tool call copies one dict instead of
rebuilding attributes.

``context()`` also puts user, session and agent into W3C baggage (the OTel context), so
a downstream process that extracts the propagated context records the same originating
user and session (:func:`baggage_attributes`).

The last model input recorded with ``record_prompt`` is kept in a mutable cell of the
innermost ``context()`` frame (``approval`` and ``credential`` frames share their parent's
cell), or in a ContextVar when no context is open.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar, cast

from opentelemetry import baggage
from opentelemetry import context as otel_context

from agentaudit.schema import attributes as A

if TYPE_CHECKING:
    from agentaudit.instrumentation._prompt import PromptRecord

__all__ = [
    "Frame",
    "approval",
    "baggage_attributes",
    "context",
    "credential",
    "current_frame",
    "current_prompt",
    "looks_like_secret",
    "set_current_prompt",
]

F = TypeVar("F", bound=Callable[..., Any])
AttrValue = str | bool | int | float | Sequence[str]

_IDENTITY_KEYS = (A.ENDUSER_ID, A.SESSION_ID, A.GEN_AI_AGENT_ID)
_BAGGAGE_KEYS = {
    A.BAGGAGE_USER: A.ENDUSER_ID,
    A.BAGGAGE_SESSION: A.SESSION_ID,
    A.BAGGAGE_AGENT: A.GEN_AI_AGENT_ID,
}
_ALIASES = {"conversation": A.GEN_AI_CONVERSATION_ID, "agent_name": A.GEN_AI_AGENT_NAME}


class _PromptCell:
    """The last model input recorded in a context (shared by approval/credential frames)."""

    __slots__ = ("prompt",)

    def __init__(self) -> None:
        self.prompt: PromptRecord | None = None


class Frame:
    """One level of the provenance context. Immutable after construction."""

    __slots__ = ("attributes", "cell", "complete", "parent", "session")

    def __init__(
        self, parent: Frame | None, attributes: dict[str, AttrValue], cell: _PromptCell
    ) -> None:
        self.parent = parent
        self.attributes = attributes
        """Merged span attributes of this frame and its ancestors; never mutated."""
        self.cell = cell
        session = attributes.get(A.SESSION_ID)
        self.session = session if isinstance(session, str) else ""
        self.complete = all(key in attributes for key in _IDENTITY_KEYS)
        """True when user, session and agent are all set (no baggage lookup needed)."""

    def prompt(self) -> PromptRecord | None:
        frame: Frame | None = self
        while frame is not None:
            if frame.cell.prompt is not None:
                return frame.cell.prompt
            frame = frame.parent
        return None


_FRAME: ContextVar[Frame | None] = ContextVar("agentaudit_frame", default=None)
_ROOT_PROMPT: ContextVar[PromptRecord | None] = ContextVar("agentaudit_prompt", default=None)


def current_frame() -> Frame | None:
    return _FRAME.get()


def current_prompt() -> PromptRecord | None:
    """The model input that the next tool calls in this context were produced from."""
    frame = _FRAME.get()
    if frame is None:
        return _ROOT_PROMPT.get()
    return frame.prompt()


def set_current_prompt(record: PromptRecord) -> None:
    frame = _FRAME.get()
    if frame is None:
        _ROOT_PROMPT.set(record)
    else:
        frame.cell.prompt = record


def baggage_attributes() -> dict[str, AttrValue]:
    """User, session and agent from the W3C baggage of the current OTel context."""
    found: dict[str, AttrValue] = {}
    entries = baggage.get_all()
    if not entries:
        return found
    for key, attribute in _BAGGAGE_KEYS.items():
        value = entries.get(key)
        if isinstance(value, str) and value:
            found[attribute] = value
    return found


# --- scopes: context, approval, credential -----------------------------------------------


class _Scope:
    """A context manager and decorator that pushes one frame for its duration."""

    _new_cell = False

    def _attributes(self) -> dict[str, AttrValue]:
        raise NotImplementedError

    def _baggage(self) -> Mapping[str, str]:
        return {}

    def __init__(self) -> None:
        self._stack: list[tuple[Token[Frame | None], object | None]] = []

    def _push(self) -> tuple[Token[Frame | None], object | None]:
        parent = _FRAME.get()
        merged = dict(parent.attributes) if parent is not None else {}
        merged.update(self._attributes())
        cell = _PromptCell() if self._new_cell or parent is None else parent.cell
        frame_token = _FRAME.set(Frame(parent, merged, cell))
        entries = self._baggage()
        otel_token = None
        if entries:
            ctx = otel_context.get_current()
            for key, value in entries.items():
                ctx = baggage.set_baggage(key, value, ctx)
            otel_token = otel_context.attach(ctx)
        return frame_token, otel_token

    @staticmethod
    def _pop(tokens: tuple[Token[Frame | None], object | None]) -> None:
        frame_token, otel_token = tokens
        if otel_token is not None:
            otel_context.detach(otel_token)  # type: ignore[arg-type]
        _FRAME.reset(frame_token)

    def __enter__(self) -> _Scope:
        self._stack.append(self._push())
        return self

    def __exit__(self, *exc: object) -> None:
        self._pop(self._stack.pop())

    def __call__(self, func: F) -> F:
        """Use as a decorator: each call of ``func`` runs inside a fresh frame."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                tokens = self._push()
                try:
                    return await func(*args, **kwargs)
                finally:
                    self._pop(tokens)

            return cast("F", async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tokens = self._push()
            try:
                return func(*args, **kwargs)
            finally:
                self._pop(tokens)

        return cast("F", wrapper)


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"agentaudit: {name} must be a non-empty string, got {value!r}")
    return value


def _attr_value(value: object, name: str) -> AttrValue:
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(
        f"agentaudit: context value {name}={value!r} must be a string, number, bool "
        "or a list of strings"
    )


class context(_Scope):
    """Run code on behalf of ``user`` in ``session`` as ``agent``.

    Nests (inner wins per key). ``agent`` fills ``gen_ai.agent.id`` and, unless
    ``agent_name`` is given, ``gen_ai.agent.name``; ``conversation`` fills
    ``gen_ai.conversation.id``; other keyword arguments are recorded as span attributes
    under their own name (e.g. ``**{"app.tenant": "acme"}``).
    """

    _new_cell = True

    def __init__(
        self,
        *,
        agent: str | None = None,
        user: str | None = None,
        session: str | None = None,
        **extra: object,
    ) -> None:
        super().__init__()
        attributes: dict[str, AttrValue] = {}
        entries: dict[str, str] = {}
        if agent is not None:
            attributes[A.GEN_AI_AGENT_ID] = attributes[A.GEN_AI_AGENT_NAME] = _text(agent, "agent")
            entries[A.BAGGAGE_AGENT] = agent
        if user is not None:
            attributes[A.ENDUSER_ID] = entries[A.BAGGAGE_USER] = _text(user, "user")
        if session is not None:
            attributes[A.SESSION_ID] = entries[A.BAGGAGE_SESSION] = _text(session, "session")
        for key, value in extra.items():
            attributes[_ALIASES.get(key, key)] = _attr_value(value, key)
        self._attrs = attributes
        self._entries = entries

    def _attributes(self) -> dict[str, AttrValue]:
        return self._attrs

    def _baggage(self) -> Mapping[str, str]:
        return self._entries


_APPROVAL_STATUSES = (A.APPROVAL_NONE, A.APPROVAL_HUMAN, A.APPROVAL_POLICY)


class approval(_Scope):
    """Tool calls inside were approved by ``approver`` (``status`` ``human`` or ``policy``).

    ``approval(None, status="none")`` marks calls explicitly as unapproved. What a span
    says about approval is a claim; ``grant=`` attaches a signed approval from the admin
    API (``POST /v1/approvals``) bound to one exact call, which the collector verifies
    (``tool_calls.approval_verified``) and takes the approver from.
    """

    def __init__(
        self,
        approver: str | None = None,
        status: str = A.APPROVAL_HUMAN,
        *,
        grant: str | None = None,
    ) -> None:
        super().__init__()
        if status not in _APPROVAL_STATUSES:
            raise ValueError(
                f"agentaudit: approval status {status!r} is not one of {list(_APPROVAL_STATUSES)}"
            )
        attributes: dict[str, AttrValue] = {A.APPROVAL_STATUS: status}
        if grant is not None:
            if status != A.APPROVAL_HUMAN:
                raise ValueError("agentaudit: a signed grant is a human approval")
            attributes[A.APPROVAL_GRANT] = _text(grant, "grant")
            if approver is not None:
                attributes[A.APPROVAL_APPROVER] = _text(approver, "approver")
        elif status == A.APPROVAL_NONE:
            if approver is not None:
                raise ValueError("agentaudit: approval status 'none' takes no approver")
        else:
            attributes[A.APPROVAL_APPROVER] = _text(approver, "approver")
        self._attrs = attributes

    def _attributes(self) -> dict[str, AttrValue]:
        return self._attrs


# Values that are secrets, not ids: a credential id is recorded in the audit log, so the
# secret must never be passed where the id belongs.
_SECRET_PATTERNS = re.compile(
    r"""^(?:
        eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*   # JWT / JWS
      | (?:sk|rk|pk)[-_](?:live|test|proj|ant)?[-_]?[A-Za-z0-9_-]{16,}  # OpenAI, Stripe, ...
      | gh[pousr]_[A-Za-z0-9]{30,} | github_pat_[A-Za-z0-9_]{30,}
      | xox[abposr]-[A-Za-z0-9-]{10,} | glpat-[A-Za-z0-9_-]{16,}
      | hv[sb]\.[A-Za-z0-9_-]{20,} | s\.[A-Za-z0-9]{24}           # Vault tokens
      | AIza[A-Za-z0-9_-]{30,} | ya29\.[A-Za-z0-9_-]{20,}        # Google
      | -----BEGIN[ A-Z]*PRIVATE\ KEY-----.*
      | (?i:bearer|basic)\s+\S+
    )$""",
    re.VERBOSE | re.DOTALL,
)
_OPAQUE = re.compile(r"^[A-Za-z0-9+/_=.-]{32,}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def looks_like_secret(value: str) -> bool:
    """True when ``value`` looks like a secret token rather than an identifier.

    Known token formats (JWTs, provider API keys, Vault tokens, bearer strings, private
    keys) and long opaque high-entropy strings with mixed case and digits are secrets;
    UUIDs, hex digests and readable ids (``cred-42``, ``AKIA...`` access-key ids) are not.
    """
    if _SECRET_PATTERNS.match(value):
        return True
    if _UUID.match(value) or not _OPAQUE.match(value):
        return False
    mixed = (
        any(c.islower() for c in value)
        and any(c.isupper() for c in value)
        and any(c.isdigit() for c in value)
    )
    return mixed and _entropy(value) > 4.2


def _expires(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    raise ValueError(f"agentaudit: expires_at must be unix seconds or a datetime, got {value!r}")


class credential(_Scope):
    """Tool calls inside use the credential ``id`` (never the secret) with ``scopes``.

    Raises ValueError when ``id`` looks like a secret token rather than an identifier.
    """

    def __init__(
        self,
        id: str,
        scopes: Iterable[str] = (),
        expires_at: int | float | datetime.datetime | None = None,
        issuer: str | None = None,
    ) -> None:
        super().__init__()
        ident = _text(id, "credential id")
        if looks_like_secret(ident):
            raise ValueError(
                "agentaudit: credential id looks like a secret token, not an id; pass the "
                "token's id (jti, accessor, key id) - the secret must never be recorded"
            )
        if isinstance(scopes, str):
            scopes = scopes.split()
        scope_list = tuple(str(scope) for scope in scopes)
        attributes: dict[str, AttrValue] = {A.CREDENTIAL_ID: ident, A.CREDENTIAL_SCOPES: scope_list}
        expiry = _expires(expires_at)
        if expiry is not None:
            attributes[A.CREDENTIAL_EXPIRES_AT] = expiry
        if issuer is not None:
            attributes[A.CREDENTIAL_ISSUER] = _text(issuer, "issuer")
        self.id = ident
        self.scopes = scope_list
        self.expires_at = expiry
        self.issuer = issuer
        self._attrs = attributes

    def _attributes(self) -> dict[str, AttrValue]:
        return self._attrs
