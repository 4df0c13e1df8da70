"""What the agents actually did: tool calls in the store, aggregated per agent and tool.

Read through a :class:`Source` — :class:`StoreSource` (a store this process opened) or
:class:`ApiSource` (a running process's ``POST /v1/query`` with the responder token) —
with SQL that carries literals only (quoted by
:func:`~agentaudit.store.sql_guard.quote_string`), so the same text runs on both and
passes the investigator SQL guard. Aggregation happens in ClickHouse: the answers are a
few rows per agent and tool whatever the number of calls.

The agent of a call is the one the collector authenticated (``authenticated_agent``),
else the id the span claims (``agent_id``): a call sent with agent B's token that
claims to be agent A counts against B's card, not A's. A tool server's record (sent with
its own token) names its caller: it counts against the caller it names.

A call is in a window when the time it claims is, or the time the collector received it
is (:func:`_where`): backdating a span does not take a call out of recent use.

The *observed lifetime* of a credential is a lower bound on its real lifetime:
``max(expires_at - first use, last use - first use)`` (spans carry no issue time).
"""

# S608: the SQL below splices only literals quoted by quote_string and whole numbers.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from agentaudit.config.values import parse_since
from agentaudit.schema.attributes import CREDENTIAL_ISSUER
from agentaudit.schema.calls import CALLER_AGENT_SQL, claimed_or_received
from agentaudit.schema.identifiers import canonical_id
from agentaudit.store.sql_guard import quote_string

__all__ = [
    "DEFAULT_WINDOW",
    "ApiSource",
    "CredentialUse",
    "Observations",
    "ScopeUse",
    "Source",
    "StoreSource",
    "ToolUse",
    "observe",
    "open_findings",
    "parse_since",
    "registry_owners",
]

DEFAULT_WINDOW: Final = "30d"
CREDENTIAL_SAMPLE: Final = 200
"""Distinct credential ids kept per agent and tool (to check the catalog's pattern)."""
AGENT_SQL: Final = f"if({CALLER_AGENT_SQL} != '', {CALLER_AGENT_SQL}, agent_id)"


class Source(Protocol):
    """Runs a read-only query made of literals; returns its rows."""

    def rows(self, sql: str) -> Sequence[Sequence[Any]]: ...


class StoreSource:
    """Queries on a :class:`~agentaudit.store.Store` (trusted reads)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def rows(self, sql: str) -> Sequence[Sequence[Any]]:
        return list(self.store.query(sql).rows)


class ApiSource:
    """Queries through an :class:`~agentaudit.client.AdminClient` (responder token)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def rows(self, sql: str) -> Sequence[Sequence[Any]]:
        return list(self.client.query(sql).rows)


@dataclass(frozen=True)
class ScopeUse:
    """Calls of one tool that presented one set of scopes and touched resources of
    ``resource_types`` (the part of each resource id before ``:``; ``""`` for ids
    without one)."""

    scopes: tuple[str, ...]
    resource_types: tuple[str, ...]
    calls: int
    ok_calls: int


@dataclass(frozen=True)
class CredentialUse:
    """The credentials one tool's calls presented."""

    count: int = 0
    sample: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()
    max_lifetime_s: int | None = None
    longest: str = ""
    """The credential with the longest observed lifetime."""


@dataclass(frozen=True)
class ToolUse:
    """One agent's use of one tool in the window."""

    agent: str
    tool: str
    calls: int
    first_ns: int
    last_ns: int
    uses: tuple[ScopeUse, ...]
    credentials: CredentialUse = field(default_factory=CredentialUse)
    argument_keys: Mapping[str, int] = field(default_factory=dict)
    """Argument name -> calls that had it."""
    resource_arguments: Mapping[str, int] = field(default_factory=dict)
    """Argument name -> calls in which its value appears in a resource id."""

    @property
    def presented(self) -> tuple[str, ...]:
        """Every scope presented, the most used first."""
        counts: Counter[str] = Counter()
        for use in self.uses:
            for scope in use.scopes:
                counts[scope] += use.calls
        return tuple(s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def resource_types(self) -> tuple[str, ...]:
        counts: Counter[str] = Counter()
        for use in self.uses:
            for kind in use.resource_types:
                counts[kind] += use.calls
        return tuple(k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def resource_argument(self) -> str:
        """The argument whose value names the resource in most calls (at least half of
        the calls with that argument), or ""."""
        if not self.resource_arguments:
            return ""
        name, named = max(self.resource_arguments.items(), key=lambda kv: (kv[1], kv[0]))
        seen = self.argument_keys.get(name, named)
        return name if named * 2 >= seen else ""


@dataclass(frozen=True)
class Observations:
    """Every agent's tool use between ``since_ns`` and ``until_ns``."""

    since_ns: int
    until_ns: int
    tools: tuple[ToolUse, ...] = ()

    def for_agent(self, agent: str) -> list[ToolUse]:
        """The tool uses of the agent whose canonical id is ``agent``'s."""
        wanted = canonical_id(agent)
        return [t for t in self.tools if wanted is not None and canonical_id(t.agent) == wanted]

    @property
    def agents(self) -> tuple[str, ...]:
        """Observed agent ids (canonical when they can be), sorted."""
        return tuple(sorted({canonical_id(t.agent) or t.agent for t in self.tools}))


def _at(ns: int) -> str:
    return f"fromUnixTimestamp64Nano(toInt64({int(ns)}))"


def _where(since_ns: int, until_ns: int | None, agent: str | None) -> str:
    """Calls (of ``agent``) claimed *or* received in the window
    (:func:`~agentaudit.schema.calls.claimed_or_received`): over the claimed time alone,
    an agent that backdates its spans would keep its recent use out of least privilege,
    and out of the calls since a sign-off that make a card drift."""
    until = None if until_ns is None else _at(until_ns)
    clauses = [claimed_or_received(_at(since_ns), until)]
    if agent:
        clauses.append(f"lowerUTF8({AGENT_SQL}) = {quote_string(agent.strip().lower())}")
    return " AND ".join(clauses)


def _uses_sql(where: str) -> str:
    types = (
        "arraySort(arrayDistinct(arrayMap(r -> if(position(r, ':') > 0, "
        "splitByChar(':', r)[1], ''), resource_ids)))"
    )
    return (
        f"SELECT {AGENT_SQL} AS agent, tool_name, credential_scopes, {types} AS types, "
        "count(), countIf(status = 'ok'), min(toUnixTimestamp64Nano(ts)), "
        "max(toUnixTimestamp64Nano(ts)) "
        f"FROM agentaudit.tool_calls WHERE {where} "
        "GROUP BY agent, tool_name, credential_scopes, types"
    )


def _credentials_sql(where: str) -> str:
    inner = (
        f"SELECT {AGENT_SQL} AS agent, tool_name, credential_id, "
        f"any(attributes[{quote_string(CREDENTIAL_ISSUER)}]) AS issuer, "
        "max(toInt64(toUnixTimestamp(credential_expires_at))) AS expires, "
        "min(toInt64(toUnixTimestamp(ts))) AS first_use, "
        "max(toInt64(toUnixTimestamp(ts))) AS last_use "
        f"FROM agentaudit.tool_calls WHERE {where} AND credential_id != '' "
        "GROUP BY agent, tool_name, credential_id"
    )
    lifetime = "greatest(if(expires > 0, expires - first_use, 0), last_use - first_use)"
    return (
        f"SELECT agent, tool_name, count(), groupArray({CREDENTIAL_SAMPLE})(credential_id), "
        f"groupUniqArray(20)(issuer), max({lifetime}), argMax(credential_id, {lifetime}) "
        f"FROM ({inner}) GROUP BY agent, tool_name"
    )


def _arguments_sql(where: str) -> str:
    value = "JSONExtractString(arguments, k)"
    named = (
        f"notEmpty(resource_ids) AND length({value}) >= 2 AND "
        f"arrayExists(r -> position(r, {value}) > 0, resource_ids)"
    )
    return (
        "SELECT agent, tool_name, k, count(), countIf(named) FROM ("
        f"SELECT agent, tool_name, k, {named} AS named FROM ("
        f"SELECT {AGENT_SQL} AS agent, tool_name, arguments, resource_ids "
        f"FROM agentaudit.tool_calls WHERE {where} AND isValidJSON(arguments)) "
        "ARRAY JOIN JSONExtractKeys(arguments) AS k) GROUP BY agent, tool_name, k"
    )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def observe(
    source: Source,
    *,
    since_ns: int,
    until_ns: int | None = None,
    agent: str | None = None,
) -> Observations:
    """Every agent's (or ``agent``'s) tool use from ``since_ns`` (until ``until_ns``):
    calls claimed or received in that window (see :func:`_where`)."""
    where = _where(since_ns, until_ns, agent)
    grouped: dict[tuple[str, str], list[Any]] = {}
    for row in source.rows(_uses_sql(where)):
        agent_id, tool = str(row[0]), str(row[1])
        use = ScopeUse(_strings(row[2]), _strings(row[3]), int(row[4]), int(row[5]))
        entry = grouped.setdefault((agent_id, tool), [[], 0, None, None])
        entry[0].append(use)
        entry[1] += use.calls
        entry[2] = int(row[6]) if entry[2] is None else min(entry[2], int(row[6]))
        entry[3] = int(row[7]) if entry[3] is None else max(entry[3], int(row[7]))
    credentials: dict[tuple[str, str], CredentialUse] = {}
    for row in source.rows(_credentials_sql(where)):
        lifetime = int(row[5])
        credentials[(str(row[0]), str(row[1]))] = CredentialUse(
            count=int(row[2]),
            sample=tuple(sorted(_strings(row[3]))),
            issuers=tuple(sorted(i for i in _strings(row[4]) if i)),
            max_lifetime_s=lifetime if lifetime > 0 else None,
            longest=str(row[6]),
        )
    keys: dict[tuple[str, str], dict[str, int]] = {}
    named: dict[tuple[str, str], dict[str, int]] = {}
    for row in source.rows(_arguments_sql(where)):
        pair = (str(row[0]), str(row[1]))
        keys.setdefault(pair, {})[str(row[2])] = int(row[3])
        if int(row[4]):
            named.setdefault(pair, {})[str(row[2])] = int(row[4])
    tools = []
    for (agent_id, tool), (uses, calls, first, last) in sorted(grouped.items()):
        ordered = sorted(uses, key=lambda u: (-u.calls, u.scopes, u.resource_types))
        tools.append(
            ToolUse(
                agent=agent_id,
                tool=tool,
                calls=calls,
                first_ns=first or 0,
                last_ns=last or 0,
                uses=tuple(ordered),
                credentials=credentials.get((agent_id, tool), CredentialUse()),
                argument_keys=keys.get((agent_id, tool), {}),
                resource_arguments=named.get((agent_id, tool), {}),
            )
        )
    until = until_ns if until_ns is not None else time.time_ns()
    return Observations(since_ns, until, tuple(tools))


def registry_owners(source: Source) -> dict[str, str]:
    """Canonical agent id -> owner, from the agent registry (``agentaudit.agents``; its
    agents, not its tool servers)."""
    rows = source.rows(
        "SELECT name, owner FROM (SELECT name, owner, kind, updated_at FROM agentaudit.agents "
        "ORDER BY updated_at DESC LIMIT 1 BY name) WHERE kind = 'agent'"
    )
    return {canonical_id(str(r[0])) or str(r[0]): str(r[1]) for r in rows if str(r[1])}


def open_findings(source: Source, agent: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The agent's detector findings whose newest version is open or escalated, newest
    first: ``{finding_id, ts, tool_name, rule, severity, summary, state}``."""
    canonical = canonical_id(agent) or agent
    rows = source.rows(
        "SELECT finding_id, toUnixTimestamp64Milli(ts), tool_name, rule, severity, summary, "
        "state FROM (SELECT finding_id, ts, agent_id, tool_name, rule, severity, summary, state, "
        "updated_at FROM agentaudit.findings ORDER BY updated_at DESC LIMIT 1 BY finding_id) "
        f"WHERE state IN ('open', 'escalated') AND lowerUTF8(agent_id) = {quote_string(canonical)} "
        f"ORDER BY ts DESC, finding_id LIMIT {int(limit)}"
    )
    out = []
    for row in rows:
        seconds, millis = divmod(int(row[1]), 1000)
        out.append(
            {
                "finding_id": str(row[0]),
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z",
                "tool_name": str(row[2]),
                "rule": str(row[3]),
                "severity": str(row[4]),
                "summary": str(row[5]),
                "state": str(row[6]),
            }
        )
    return out
