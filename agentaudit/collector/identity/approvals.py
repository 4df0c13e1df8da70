"""Verifiable approvals: a responder grants one exact action; the collector checks it.

A span's ``agentaudit.approval.status = human`` is only what the agent claims. A
*grant* is what a human really decided: a responder asks the admin API
(``POST /v1/approvals``) to approve one action, and gets back a JWS signed with the
admin process's key, carrying RFC 9396-style ``authorization_details``::

    [{"type": "agentaudit_tool_call", "actions": ["execute"], "agent": "mail-assistant",
      "tool": "send_email", "arguments_hash": "sha256:…", "resources": ["mailbox:bob"],
      "user": "bob", "session": "s-1"}]

The runtime attaches it to the call (``agentaudit.approval(grant=...)`` sets the span
attribute ``agentaudit.approval.grant``). The pipeline verifies it before anything is
stored (:meth:`ApprovalVerifier.stamp`): signature and issuer, the call started inside
the grant's lifetime and reached the collector at most :data:`RECEIPT_GRACE` after it
ended (by the collector's clock: the start is the agent's claim), every bound field
equals the call's (the agent as a principal — its authenticated agent when it has one
—, the tool, the arguments hash, the set of resources, and user and session when the
grant names them), and the arguments the call records are the ones its hash names. A
grant that verifies is stamped on the span (its id and approver); one that does not is
recorded as refused, with the reason. The grant itself is removed from the span either
way: it is not kept.

Invariants: a grant approves one action (another tool, other arguments or other
resources do not verify); it expires (at most :data:`MAX_LIFETIME` seconds); it is used
once (:class:`GrantLedger`, in the store-owning process: a second call carrying the same
grant is stored as claimed, not verified).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.collector.model import (
    VERIFIED_AGENT,
    VERIFIED_APPROVAL_GRANT,
    VERIFIED_APPROVER,
    SpanRecord,
)
from agentaudit.schema import attributes as A
from agentaudit.schema.calls import ALL_SIDES
from agentaudit.schema.identifiers import MAX_ID_CHARS, canonical_id, same_principal

__all__ = [
    "ACTION_TYPE",
    "DEFAULT_LIFETIME",
    "GRANT_TYPE",
    "MAX_LIFETIME",
    "ApprovalSigner",
    "ApprovalVerifier",
    "ApprovedAction",
    "Grant",
    "GrantError",
    "GrantLedger",
    "used_grants",
]

GRANT_TYPE: Final = "approval+jwt"
ACTION_TYPE: Final = "agentaudit_tool_call"
AUDIENCE: Final = "agentaudit-collector"
DEFAULT_LIFETIME: Final = 300
MAX_LIFETIME: Final = 900
CLOCK_SKEW: Final = 30
"""Seconds a call's start may lie outside the grant's lifetime (clocks of two hosts)."""
RECEIPT_GRACE: Final = 300
"""How long after its grant expired a call's span may still reach the collector: the
call ran, then its span waited for export. Checked against the collector's own clock,
since a span's start time is the agent's claim: without it, an agent could use an
expired grant, or reuse a grant the ledger no longer remembers, by backdating its span
into the grant's lifetime."""
MAX_RESOURCES: Final = 64
MAX_GRANT_CHARS: Final = 8192
LEDGER_SECONDS: Final = 86_400
LEDGER_PRUNE_AT: Final = 10_000
REFUSED_ATTRIBUTE: Final = "agentaudit.approval.grant_refused"
"""Set by the collector (never taken from a span) when a presented grant did not verify."""


class GrantError(ValueError):
    """An approval request or a presented grant that is not valid (the message says why)."""


def _id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GrantError(f'"{name}" must be a non-empty string')
    if len(value) > MAX_ID_CHARS or not value.isprintable():
        raise GrantError(f'"{name}" must be at most {MAX_ID_CHARS} printable characters')
    return value.strip()


@dataclass(frozen=True)
class ApprovedAction:
    """The one action a grant approves; every field is bound."""

    agent: str
    tool: str
    arguments_hash: str
    resources: tuple[str, ...] = ()
    user: str = ""
    session: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApprovedAction:
        """Validate a request's (or a grant's) action; GrantError names the bad field."""
        agent = _id("agent", data.get("agent"))
        if canonical_id(agent) is None:
            raise GrantError('"agent" is not an agent id (printable ASCII)')
        arguments_hash = _id("arguments_hash", data.get("arguments_hash"))
        if not arguments_hash.startswith("sha256:") or len(arguments_hash) != 71:
            raise GrantError('"arguments_hash" must be sha256:<64 hex digits>')
        resources = data.get("resources", [])
        if not isinstance(resources, list) or len(resources) > MAX_RESOURCES:
            raise GrantError(f'"resources" must be a list of at most {MAX_RESOURCES} ids')
        return cls(
            agent=agent,
            tool=_id("tool", data.get("tool")),
            arguments_hash=arguments_hash.lower(),
            resources=tuple(sorted({_id("resources[]", r) for r in resources})),
            user=_id("user", data["user"]) if data.get("user") else "",
            session=_id("session", data["session"]) if data.get("session") else "",
        )

    def detail(self) -> dict[str, Any]:
        """The RFC 9396 authorization-details object of this action."""
        detail: dict[str, Any] = {
            "type": ACTION_TYPE,
            "actions": ["execute"],
            "agent": self.agent,
            "tool": self.tool,
            "arguments_hash": self.arguments_hash,
            "resources": list(self.resources),
        }
        if self.user:
            detail["user"] = self.user
        if self.session:
            detail["session"] = self.session
        return detail


@dataclass(frozen=True)
class Grant:
    """A granted approval (what the JWS says, once verified)."""

    id: str
    approver: str
    action: ApprovedAction
    issued_at: int
    expires_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "approver": self.approver,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "authorization_details": [self.action.detail()],
        }


class ApprovalSigner:
    """Signs grants with the admin process's key (the broker's Ed25519 key)."""

    def __init__(self, key: Any, *, issuer: str, clock: Callable[[], float] = time.time) -> None:
        from agentaudit.broker._jose import jwt_module

        self._jwt = jwt_module()
        self._key = key
        self.issuer = issuer
        self._clock = clock

    def grant(self, action: ApprovedAction, *, approver: str, lifetime: int) -> tuple[str, Grant]:
        """The signed grant (JWS) and what it says."""
        approver = _id("approver", approver)
        if not 0 < lifetime <= MAX_LIFETIME:
            raise GrantError(f'"expires_in" must be between 1 and {MAX_LIFETIME} seconds')
        now = int(self._clock())
        grant = Grant(uuid.uuid4().hex, approver, action, now, now + lifetime)
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "jti": grant.id,
            "iat": grant.issued_at,
            "nbf": grant.issued_at,
            "exp": grant.expires_at,
            "approver": approver,
            "authorization_details": [action.detail()],
        }
        token = self._jwt.encode(
            claims,
            self._key.private,
            algorithm="EdDSA",
            headers={"kid": self._key.kid, "typ": GRANT_TYPE},
        )
        return token, grant


def _span_action(span: SpanRecord) -> tuple[str, str, str, frozenset[str], str, str]:
    attrs = span.attributes

    def text(key: str) -> str:
        value = attrs.get(key)
        return value if isinstance(value, str) else ""

    resources = attrs.get(A.RESOURCE_IDS)
    ids = (
        frozenset(r for r in resources if isinstance(r, str))
        if isinstance(resources, list)
        else frozenset()
    )
    agent = span.verified.get(VERIFIED_AGENT) or text(A.GEN_AI_AGENT_ID)
    return (
        agent,
        text(A.GEN_AI_TOOL_NAME),
        text(A.ARGUMENTS_HASH).lower(),
        ids,
        text(A.ENDUSER_ID),
        text(A.SESSION_ID),
    )


def _recorded_arguments_hash_to(span: SpanRecord, claimed: str) -> bool:
    """Whether the arguments the span records (if it records them) are the ones the
    ``sha256:`` hash it claims names: the agent hashes the text it records
    (``gen_ai.tool.call.arguments``, canonical JSON after its own redaction), and this
    runs before the collector's redaction changes that text. Without it, a grant for
    one call's arguments would verify a call with other arguments claiming their hash.
    A span that records no arguments (``capture_arguments = false``) is bound by the
    claimed hash alone.
    """
    text = span.attributes.get(A.GEN_AI_TOOL_CALL_ARGUMENTS)
    if text is None:
        return True
    if not isinstance(text, str):
        return False
    actual = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return hmac.compare_digest("sha256:" + actual, claimed)


class ApprovalVerifier:
    """Verifies the grants spans carry, against the signer's public keys (JWKS)."""

    def __init__(
        self, jwks: Mapping[str, Any], *, issuer: str, clock: Callable[[], float] = time.time
    ) -> None:
        from agentaudit.broker._jose import jwt_module
        from agentaudit.broker._keys import public_keys_from_jwks

        self._jwt = jwt_module()
        self._keys = public_keys_from_jwks(jwks)
        self._issuer = issuer
        self._clock = clock  # the receipt: verify runs as a request is received

    def _decode(self, token: str) -> Grant:
        if not isinstance(token, str) or len(token) > MAX_GRANT_CHARS:
            raise GrantError("malformed grant")
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise GrantError("malformed grant") from None
        if header.get("typ") != GRANT_TYPE:
            raise GrantError("not an approval grant")
        key = self._keys.get(str(header.get("kid", "")))
        if key is None:
            raise GrantError("signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=self._issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat", "jti"],
                },
            )  # the lifetime is checked against the call's start, not the arrival time
        except jwt.InvalidSignatureError:
            raise GrantError("bad signature") from None
        except jwt.PyJWTError as exc:
            raise GrantError(f"invalid grant: {exc}") from None
        details = claims.get("authorization_details")
        if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], dict):
            raise GrantError("the grant does not name exactly one action")
        if details[0].get("type") != ACTION_TYPE:
            raise GrantError("the grant approves another kind of action")
        return Grant(
            id=str(claims["jti"]),
            approver=_id("approver", claims.get("approver")),
            action=ApprovedAction.from_json(details[0]),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
        )

    def verify(self, token: str, span: SpanRecord) -> Grant:
        """The grant, when it approves exactly this call at the time it started, and the
        call reached the collector (now) within :data:`RECEIPT_GRACE` of its expiry."""
        grant = self._decode(token)
        started = span.start_ns / 1e9
        if started < grant.issued_at - CLOCK_SKEW:
            raise GrantError("the call started before the approval was granted")
        if started > grant.expires_at + CLOCK_SKEW:
            raise GrantError("the approval had expired when the call started")
        if self._clock() > grant.expires_at + CLOCK_SKEW + RECEIPT_GRACE:
            raise GrantError(
                "the approval had expired when the collector received the call (more "
                f"than {RECEIPT_GRACE} s after its expiry, whatever start the span claims)"
            )
        agent, tool, arguments_hash, resources, user, session = _span_action(span)
        action = grant.action
        if not same_principal(action.agent, agent):
            raise GrantError("the approval is for another agent")
        if action.tool != tool:
            raise GrantError("the approval is for another tool")
        if action.arguments_hash != arguments_hash:
            raise GrantError("the approval is for other arguments")
        if not _recorded_arguments_hash_to(span, arguments_hash):
            raise GrantError(
                "the call's recorded arguments are not the ones its arguments hash names "
                "(arguments recorded truncated, over the agent's max_argument_bytes, "
                "cannot be checked against an approval)"
            )
        if frozenset(action.resources) != resources:
            raise GrantError("the approval is for other resources")
        if action.user and action.user != user:
            raise GrantError("the approval is for another user")
        if action.session and action.session != session:
            raise GrantError("the approval is for another session")
        return grant

    def stamp(self, spans: Sequence[SpanRecord]) -> None:
        """Verify the grant each span carries; stamp the result; drop the grant itself."""
        for span in spans:
            token = span.attributes.pop(A.APPROVAL_GRANT, None)
            span.attributes.pop(REFUSED_ATTRIBUTE, None)  # only the collector sets it
            span.verified.pop(VERIFIED_APPROVAL_GRANT, None)
            span.verified.pop(VERIFIED_APPROVER, None)
            if token is None:
                continue
            try:
                grant = self.verify(token, span)
            except GrantError as exc:
                span.attributes[REFUSED_ATTRIBUTE] = str(exc)
                continue
            span.verified[VERIFIED_APPROVAL_GRANT] = grant.id
            span.verified[VERIFIED_APPROVER] = grant.approver


class GrantLedger:
    """Grant ids already used, so one grant verifies one call; thread-safe.

    Bounded: an id is remembered for :data:`LEDGER_SECONDS` after its first use (a grant
    verifies only in calls the collector receives at most :data:`MAX_LIFETIME` +
    :data:`CLOCK_SKEW` + :data:`RECEIPT_GRACE` s after it was issued, by its own clock,
    so a later call cannot verify with it anyway, whatever start its span claims; a span
    replayed from the WAL after that long is the same stored row, deduplicated).
    The store-owning process rebuilds the ledger from the stored calls (``tool_calls`` and
    the tool servers' records, ``tool_call_server_sides``) at start.
    """

    def __init__(self, used: Iterable[str] = (), *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._used: dict[str, float] = dict.fromkeys(used, now)

    def first_use(self, grant_id: str) -> bool:
        """True the first time ``grant_id`` is presented (and records it)."""
        with self._lock:
            now = self._clock()
            if len(self._used) > LEDGER_PRUNE_AT:
                self._used = {g: t for g, t in self._used.items() if t + LEDGER_SECONDS >= now}
            if grant_id in self._used:
                return False
            self._used[grant_id] = now
            return True


def used_grants(store: Any) -> list[str]:
    """Grant ids that verified a call in the last :data:`LEDGER_SECONDS` (rebuilds the
    ledger at start, so a restart does not make a used grant usable again)."""
    rows = store.query(
        f"SELECT DISTINCT approval_grant_id FROM {ALL_SIDES} "  # noqa: S608 - a constant
        "WHERE approval_verified = 1 AND received_at > now() - INTERVAL {s:UInt32} SECOND",
        {"s": LEDGER_SECONDS},
    ).rows
    return [str(row[0]) for row in rows]
