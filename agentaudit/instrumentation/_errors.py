"""Errors the instrumentation raises into the agent on purpose (and only these).

The hierarchy::

    ToolCallBlocked                 a before_tool_call hook stopped the call (decision=blocked)
    └── AccessRevoked               access was revoked: the model must not retry the call
        ├── AgentQuarantined        the agent is quarantined (guard, or the broker at mint time)
        └── CredentialRevoked       a credential was refused as revoked (at mint time, by the
                                    tool's server mid-call, or a retry of such a call)

Messages are written for the model that reads them as the tool's error: an
:class:`AccessRevoked` message always says ``access revoked; do not retry``. They name
tools, agents and reasons, never a credential's token.
"""

from __future__ import annotations

from typing import Final

from agentaudit.errors import AgentAuditError

__all__ = [
    "DO_NOT_RETRY",
    "AccessRevoked",
    "AgentQuarantined",
    "CredentialRevoked",
    "ToolCallBlocked",
]

DO_NOT_RETRY: Final = "access revoked; do not retry"
"""What every :class:`AccessRevoked` message tells the model."""


class ToolCallBlocked(AgentAuditError):
    """A ``before_tool_call`` hook stopped the call; the span records ``decision=blocked``.

    Hooks raise a subclass of this to block deliberately; any other exception from a hook
    is an instrumentation error: it is logged and the call proceeds (fail-open).
    """


class AccessRevoked(ToolCallBlocked):
    """The principal's access for this call was revoked; retrying cannot succeed.

    ``reason`` is a stable code (``quarantined``, ``revoked``); ``detail`` says why in
    words; ``tool`` and ``agent_id`` name the call when known.
    """

    def __init__(
        self,
        message: str,
        *,
        tool: str = "",
        agent_id: str = "",
        reason: str = "",
        detail: str = "",
    ) -> None:
        self.tool = tool
        self.agent_id = agent_id
        self.reason = reason
        self.detail = detail
        super().__init__(message)


class AgentQuarantined(AccessRevoked):
    """The agent is quarantined: its tool calls are refused until a responder releases it.

    ``detail`` is the responder's reason (or why the runtime refused, e.g. fail-closed).
    """

    def __init__(self, agent_id: str = "", detail: str = "", *, tool: str = "") -> None:
        message = f"agent {agent_id or '(unknown)'} is quarantined"
        message = f"{message}: {detail}" if detail else message
        super().__init__(
            f"{message} ({DO_NOT_RETRY})",
            tool=tool,
            agent_id=agent_id,
            reason="quarantined",
            detail=detail,
        )


class CredentialRevoked(AccessRevoked):
    """A credential for this call was refused as revoked.

    Raised by the runtime when the broker refuses to mint because the agent, user or
    session is revoked, and when a call already refused that way (or refused by its
    tool server mid-call) is retried: the retry is refused locally, with no new
    credential. A tool may raise it itself when its server answers that the credential
    was revoked (see :meth:`from_challenge`).
    """

    def __init__(
        self, tool: str = "", detail: str = "", *, agent_id: str = "", reason: str = "revoked"
    ) -> None:
        subject = f"tool {tool}" if tool else "this tool call"
        message = f"{DO_NOT_RETRY}: {subject} was refused"
        if agent_id:
            message = f"{message} for agent {agent_id}"
        super().__init__(
            f"{message} ({detail})" if detail else message,
            tool=tool,
            agent_id=agent_id,
            reason=reason,
            detail=detail,
        )

    @classmethod
    def from_challenge(
        cls,
        status: int,
        www_authenticate: str | None,
        body: object = None,
        *,
        tool: str = "",
    ) -> CredentialRevoked | None:
        """The refusal in a tool server's answer, or None when it is not a revocation.

        For a server guarded by :func:`agentaudit.broker.authorize_bearer` /
        ``McpBearerMiddleware``: HTTP 401 with ``WWW-Authenticate: Bearer
        error="invalid_token"`` and ``reason="revoked"`` (in the header, or in the JSON
        body's ``reason``). An expired or mis-targeted credential is not a revocation
        (None: the caller handles it as any other error)::

            answer = http.post(url, headers={"Authorization": f"Bearer {cred.token}"}, ...)
            refused = CredentialRevoked.from_challenge(
                answer.status_code, answer.headers.get("WWW-Authenticate"), answer.json(),
                tool="send_email",
            )
            if refused is not None:
                raise refused
        """
        if status != 401 or not www_authenticate:
            return None
        params = _challenge_params(www_authenticate)
        if params is None or params.get("error") != "invalid_token":
            return None
        reason = params.get("reason")
        if reason is None and isinstance(body, dict):
            found = body.get("reason")
            reason = found if isinstance(found, str) else None
        if reason != "revoked":
            return None
        detail = params.get("error_description") or "the tool server refused the credential"
        return cls(tool, f"{detail}; refused by the tool server", reason="revoked")


def _challenge_params(header: str) -> dict[str, str] | None:
    """The auth-params of a ``Bearer`` challenge (RFC 7235 quoted strings), or None."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params: dict[str, str] = {}
    index, length = 0, len(rest)
    while index < length:
        while index < length and rest[index] in " ,":
            index += 1
        equals = rest.find("=", index)
        if equals < 0:
            break
        name = rest[index:equals].strip().lower()
        index = equals + 1
        if index < length and rest[index] == '"':
            index += 1
            value: list[str] = []
            while index < length and rest[index] != '"':
                if rest[index] == "\\" and index + 1 < length:
                    index += 1
                value.append(rest[index])
                index += 1
            index += 1
            params[name] = "".join(value)
        else:
            end = rest.find(",", index)
            end = length if end < 0 else end
            params[name] = rest[index:end].strip()
            index = end
    return params
