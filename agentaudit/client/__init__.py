"""The one client of the admin API (port 4320), used by every caller.

Agents use it with their token (quarantine reads, credentials), responders with the
responder token (queries, revocations, releases, agents, approvals, findings, card
sign-offs): the CLI, the dashboard, the instrumentation's quarantine guard and the
broker's credential client all go through :class:`AdminClient`. Standard library only,
so an agent process can use it.

Invariants: a request never leaves without an ``http(s)`` base URL; ids in URL paths are
percent-encoded; every failure is an :class:`AdminApiError` whose message a person can
act on (:class:`AdminApiUnreachable`, :class:`AdminApiTimeout`, :class:`AdminApiRefused`
with the HTTP status and the API's ``reason``); answers are size-capped JSON objects.
"""

from __future__ import annotations

from agentaudit.client._client import (
    AdminApiError,
    AdminApiRefused,
    AdminApiTimeout,
    AdminApiUnreachable,
    AdminClient,
    QueryAnswer,
)

__all__ = [
    "AdminApiError",
    "AdminApiRefused",
    "AdminApiTimeout",
    "AdminApiUnreachable",
    "AdminClient",
    "QueryAnswer",
]
