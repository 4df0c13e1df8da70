""":class:`AdminClient`: typed calls over one JSON-over-HTTP transport."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentaudit.config import DEFAULT_API_URL
from agentaudit.errors import AgentAuditError, ExitCode

__all__ = [
    "AdminApiError",
    "AdminApiRefused",
    "AdminApiTimeout",
    "AdminApiUnreachable",
    "AdminClient",
    "QueryAnswer",
]

MAX_ANSWER_BYTES = 256 * 1024 * 1024
"""Largest answer read (a query of 100,000 wide rows); anything longer is refused."""

AGENT_TOKEN_VARIABLE = "AGENTAUDIT_TOKEN"  # noqa: S105 - a variable's name
ADMIN_TOKEN_VARIABLE = "AGENTAUDIT_ADMIN_TOKEN"  # noqa: S105 - a variable's name

_TOKEN_HINT = {
    401: " (check {variable})",
    403: " (set {variable} to a token allowed to do this{agent_note})",
}


class AdminApiError(AgentAuditError):
    """The admin API did not carry out the request."""


class AdminApiUnreachable(AdminApiError):
    """Nothing answered at the admin API's address."""

    exit_code = ExitCode.UNAVAILABLE


class AdminApiTimeout(AdminApiError):
    """The admin API did not answer in time (the request may still complete)."""

    exit_code = ExitCode.UNAVAILABLE


class AdminApiRefused(AdminApiError):
    """The admin API answered with an HTTP error status; ``reason`` is its stable code."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, status: int, reason: str = "", body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class QueryAnswer:
    """Column names and rows of a query answered by ``POST /v1/query``."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class AdminClient:
    """Calls the admin API at ``url`` with ``token`` as the bearer token.

    Thread-safe (no shared state). Build one with :meth:`for_agent` or
    :meth:`for_responder` to take the URL and the token from the environment.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        token_variable: str = ADMIN_TOKEN_VARIABLE,
    ) -> None:
        base = (url or DEFAULT_API_URL).strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise AdminApiError(f"the admin API address {base!r} is not an http(s) URL")
        self.url = base
        self._token = token
        self._timeout = timeout
        self._token_variable = token_variable

    @classmethod
    def for_agent(
        cls, *, environ: Mapping[str, str] | None = None, timeout: float = 5.0
    ) -> AdminClient:
        """``AGENTAUDIT_API_URL`` with the agent token ``AGENTAUDIT_TOKEN``."""
        env = os.environ if environ is None else environ
        return cls(
            env.get("AGENTAUDIT_API_URL") or None,
            token=env.get(AGENT_TOKEN_VARIABLE) or None,
            timeout=timeout,
            token_variable=AGENT_TOKEN_VARIABLE,
        )

    @classmethod
    def for_responder(
        cls,
        url: str | None = None,
        *,
        token: str | None = None,
        environ: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> AdminClient:
        """``url`` (else ``AGENTAUDIT_API_URL``) with ``token`` (else the responder token
        ``AGENTAUDIT_ADMIN_TOKEN``)."""
        env = os.environ if environ is None else environ
        return cls(
            url or env.get("AGENTAUDIT_API_URL") or None,
            token=token or env.get(ADMIN_TOKEN_VARIABLE) or None,
            timeout=timeout,
        )

    # -- transport ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        what: str,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One JSON request; its JSON object answer, or an :class:`AdminApiError`."""
        timeout = self._timeout if timeout is None else timeout
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(dict(body)).encode()
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        http_request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            f"{self.url}{path}", data=payload, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(http_request, timeout=timeout) as response:  # noqa: S310
                raw = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise self._refused(exc, what) from None
        except TimeoutError:
            raise self._timed_out(what, timeout) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise self._timed_out(what, timeout) from None
            raise AdminApiUnreachable(
                f"the admin API at {self.url} is unreachable ({reason}); is `agentaudit up` "
                "or `agentaudit collector` running? Set AGENTAUDIT_API_URL if it runs elsewhere"
            ) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise AdminApiError(f"the admin API's answer to the {what} is too large")
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            # Something else answers there (the dashboard, a proxy's HTML page, ...).
            raise AdminApiError(
                f"{self.url} did not answer like an agentaudit admin API; check "
                "AGENTAUDIT_API_URL / --api"
            )
        return answer

    def _refused(self, exc: urllib.error.HTTPError, what: str) -> AdminApiRefused:
        raw = exc.read(64 * 1024)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        detail = body.get("error") if isinstance(body, dict) else None
        if not isinstance(detail, str):
            detail = raw[:300].decode(errors="replace").strip() or exc.reason
        reason = body.get("reason", "") if isinstance(body, dict) else ""
        hint = _TOKEN_HINT.get(exc.code, "").format(
            variable=self._token_variable,
            agent_note=(
                "; an agent token is refused here and the attempt recorded"
                if self._token_variable == ADMIN_TOKEN_VARIABLE
                else ""
            ),
        )
        return AdminApiRefused(
            f"the admin API at {self.url} refused the {what}: HTTP {exc.code}: "
            f"{str(detail)[:300]}{hint}",
            exc.code,
            str(reason),
            body,
        )

    def _timed_out(self, what: str, timeout: float) -> AdminApiTimeout:
        return AdminApiTimeout(
            f"the admin API at {self.url} did not answer within {timeout:g} s; the {what} "
            "may still complete: check before asking again"
        )

    # -- health and queries (responder) ------------------------------------------------

    def healthy(self, timeout: float = 0.5) -> bool:
        """True when an agentaudit admin API answers ``/healthz`` at this address."""
        try:
            return (
                self.request("GET", "/healthz", what="health check", timeout=timeout).get("status")
                == "ok"
            )
        except AdminApiError:
            return False

    def query(self, sql: str) -> QueryAnswer:
        """Run an investigator query (confined to the audit data by the API)."""
        answer = self.request("POST", "/v1/query", {"sql": sql}, what="query")
        try:
            return QueryAnswer(tuple(answer["columns"]), [tuple(row) for row in answer["rows"]])
        except (KeyError, TypeError):
            raise AdminApiError(
                f"{self.url} answered the query in an unexpected shape; check "
                "AGENTAUDIT_API_URL / --api"
            ) from None

    # -- revocation path (responder) ---------------------------------------------------

    def revoke(
        self,
        target: str,
        target_id: str,
        *,
        reason: str,
        requested_by: str,
        trigger: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/revocations``: the outcome, per backend. ``trigger``: the
        ``{trace_id, span_id}`` of the tool call that prompted it (the alert names it)."""
        body: dict[str, Any] = {
            "target": target, "id": target_id, "reason": reason, "requested_by": requested_by,
        }  # fmt: skip
        if trigger is not None:
            body["trigger"] = dict(trigger)
        return self.request("POST", "/v1/revocations", body, what="revocation")

    def retry(self, revocation_id: str) -> dict[str, Any]:
        """Run the failed backends of a revocation or release again."""
        return self.request(
            "POST", f"/v1/revocations/{_quote(revocation_id)}/retry", None, what="retry"
        )

    def release(self, agent: str, *, reason: str, requested_by: str) -> dict[str, Any]:
        """``DELETE /v1/quarantine/{agent}``: lift an agent's quarantine."""
        body = {"reason": reason, "requested_by": requested_by}
        return self.request("DELETE", f"/v1/quarantine/{_quote(agent)}", body, what="release")

    # -- findings (responder) ----------------------------------------------------------

    def findings(
        self,
        *,
        state: str | Sequence[str] | None = None,
        agent: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /v1/findings``: the newest version of each finding, newest first, in any
        of the states ``state`` (all when None), of ``agent`` (all when None)."""
        query: list[tuple[str, str]] = []
        if state is not None:
            states = [state] if isinstance(state, str) else list(state)
            query += [("state", s) for s in states]
        if agent:
            query.append(("agent", agent))
        if limit is not None:
            query.append(("limit", str(limit)))
        path = "/v1/findings" + ("?" + urllib.parse.urlencode(query) if query else "")
        answer = self.request("GET", path, None, what="findings read")
        listed = answer.get("findings")
        return [f for f in listed if isinstance(f, dict)] if isinstance(listed, list) else []

    def triage_finding(
        self, finding_id: str, *, state: str, reason: str = "", requested_by: str
    ) -> dict[str, Any]:
        """``POST /v1/findings/{id}/triage``: ``acknowledged``, ``false_positive`` (a
        reason is required), ``escalated`` (revokes the finding's agent) or ``open``.
        The answer holds the new version (``finding``) and, for an escalation, the
        revocation outcome (``revocation``)."""
        body = {"state": state, "reason": reason, "requested_by": requested_by}
        return self.request(
            "POST", f"/v1/findings/{_quote(finding_id)}/triage", body, what="triage"
        )

    # -- agents (responder) ------------------------------------------------------------

    def add_agent(
        self,
        name: str,
        *,
        owner: str,
        description: str = "",
        rotate: bool = False,
        kind: str | None = None,
    ) -> dict[str, Any]:
        """Register an agent, or a tool server with ``kind="tool_server"`` (or rotate its
        token); the answer holds the token, once."""
        body: dict[str, Any] = {
            "name": name,
            "owner": owner,
            "description": description,
            "rotate": rotate,
        }
        if kind is not None:
            body["kind"] = kind
        return self.request("POST", "/v1/agents", body, what="agent registration")

    def agents(self) -> list[dict[str, Any]]:
        """The registered agents (never their tokens)."""
        answer = self.request("GET", "/v1/agents", None, what="agent list")
        listed = answer.get("agents")
        return [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []

    def revoke_agent(self, name: str, *, reason: str, requested_by: str) -> dict[str, Any]:
        """Revoke an agent's token: its exports and credential requests are refused."""
        body = {"reason": reason, "requested_by": requested_by}
        return self.request("DELETE", f"/v1/agents/{_quote(name)}", body, what="agent revocation")

    # -- approvals (responder) ---------------------------------------------------------

    def grant_approval(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/approvals``: a signed approval bound to exactly ``action``."""
        return self.request("POST", "/v1/approvals", action, what="approval")

    # -- identity cards (responder) ----------------------------------------------------

    def sign_card(
        self, agent: str, *, signed_by: str, card_hash: str, card: str, catalog: str = ""
    ) -> dict[str, Any]:
        """``POST /v1/cards/{agent}/signoffs``: record that ``signed_by`` attests to the
        card whose canonical JSON is ``card`` (``card_hash`` its ``sha256:``); the
        answer's ``signoff`` is the row recorded."""
        body = {"signed_by": signed_by, "card_hash": card_hash, "card": card, "catalog": catalog}
        return self.request(
            "POST", f"/v1/cards/{_quote(agent)}/signoffs", body, what="card sign-off"
        )

    def card_signoffs(self, agent: str) -> list[dict[str, Any]]:
        """``GET /v1/cards/{agent}/signoffs``: the agent's sign-offs, newest first."""
        answer = self.request(
            "GET", f"/v1/cards/{_quote(agent)}/signoffs", None, what="card sign-off read"
        )
        listed = answer.get("signoffs")
        return [s for s in listed if isinstance(s, dict)] if isinstance(listed, list) else []

    # -- legal holds and erasure (responder) --------------------------------------------

    def holds(self) -> list[dict[str, Any]]:
        """``GET /v1/holds``: every legal hold, placed and released."""
        listed = self.request("GET", "/v1/holds", None, what="hold list").get("holds")
        return [h for h in listed if isinstance(h, dict)] if isinstance(listed, list) else []

    def place_hold(self, hold: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/holds`` ``{kind, value | from, to, reason, requested_by}``."""
        return self.request("POST", "/v1/holds", hold, what="legal hold")

    def release_hold(self, hold_id: str, *, reason: str, requested_by: str) -> dict[str, Any]:
        """``POST /v1/holds/{id}/release``."""
        body = {"reason": reason, "requested_by": requested_by}
        return self.request(
            "POST", f"/v1/holds/{_quote(hold_id)}/release", body, what="hold release"
        )

    def erase(
        self,
        subject: str,
        *,
        identifiers: Sequence[str] = (),
        reason: str,
        requested_by: str,
        timeout: float = 600.0,
    ) -> dict[str, Any]:
        """``POST /v1/erasures``: erase one user's identifiers (it may take minutes)."""
        body = {
            "subject": subject,
            "identifiers": list(identifiers),
            "reason": reason,
            "requested_by": requested_by,
        }
        return self.request("POST", "/v1/erasures", body, what="erasure", timeout=timeout)

    # -- agent endpoints ---------------------------------------------------------------

    def quarantine_state(
        self, agent: str, *, user: str = "", session: str = "", timeout: float | None = None
    ) -> dict[str, Any]:
        """``GET /v1/quarantine``: whether this agent (user, session) may act now."""
        query = {"agent": agent, **({"user": user} if user else {})}
        if session:
            query["session"] = session
        path = "/v1/quarantine?" + urllib.parse.urlencode(query)
        return self.request("GET", path, None, what="quarantine read", timeout=timeout)

    def request_credential(
        self,
        *,
        user: str,
        agent: str,
        tool: str,
        resource: str | Sequence[str],
        scopes: Sequence[str] | None = None,
        session: str | None = None,
        ttl: int | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/credentials``: a just-in-time credential for one tool call."""
        body: dict[str, Any] = {"user": user, "agent": agent, "tool": tool}
        body["resource"] = resource if isinstance(resource, str) else list(resource)
        if scopes is not None:
            body["scopes"] = list(scopes)
        if session is not None:
            body["session"] = session
        if ttl is not None:
            body["ttl"] = ttl
        return self.request("POST", "/v1/credentials", body, what="credential request")
