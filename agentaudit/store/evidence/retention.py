"""Retention: per-table TTLs that spare held rows, and the policy history verify reads.

Configuration (the config file)::

    [retention]
    tool_calls = 365     # days; a table not named here is kept forever
    otel_traces = 30
    findings = 730
    approvals = 365

``tool_call_server_sides`` (the tool servers' records of the calls,
:mod:`agentaudit.schema.calls`) follows ``tool_calls`` unless it is named itself, so both
records of a call expire together.

Only the event tables (:data:`~agentaudit.store.evidence._tables.HOLD_COLUMNS`) may expire:
state tables (deny-list, quarantine, agents, revocations) never do, since deleting their
rows would lift revocations. :func:`apply_retention` (at collector start, and after a hold
is placed or released) sets each table's TTL::

    ALTER TABLE agentaudit.tool_calls MODIFY TTL _written_at + toIntervalSecond(N)
        DELETE WHERE NOT (<conditions of the active holds>)

and records the change in ``agentaudit.retention_policies`` (table, seconds, the holds it
spares, when, by whom). Retention counts from when the store received a row
(``_written_at``, one value per insert), so a unit of the chain (a batch, an insert)
expires whole, never half: ``verify`` reports a unit whose rows are gone as *expired* when
the recorded policy allowed it (:func:`expirable`), and checks the held rows left in it
against the holds' snapshots. Changing a table's retention is a config change and a
restart (or a hold change); the TTL statement re-evaluates existing rows, so shortening
retention removes what is now past it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from agentaudit.errors import ConfigError
from agentaudit.store import Store
from agentaudit.store.evidence._tables import (
    BATCH_TABLE,
    HOLD_COLUMNS,
    WRITTEN_AT,
    audit_tables,
    ident,
)
from agentaudit.store.evidence.holds import active_holds, holds_condition

__all__ = [
    "DAY_SECONDS",
    "EXPIRY_SLACK_US",
    "PolicyHistory",
    "apply_retention",
    "current_policy",
    "expirable",
    "parse_retention",
    "policy_history",
]

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400
EXPIRY_SLACK_US = 60_000_000
"""A unit's time in the chain may be a little later than its rows' ``_written_at`` (the
batch link is written after the insert): expiry is judged with this much slack."""
POLICIES_TABLE = "agentaudit.retention_policies"
SERVER_SIDES = "tool_call_server_sides"
"""The tool servers' records of the calls in ``tool_calls`` (:mod:`agentaudit.schema.calls`)."""
_SCHEMA = pa.schema(
    [
        ("table", pa.string()),
        ("seconds", pa.uint64()),
        ("hold_ids", pa.list_(pa.string())),
        ("set_at", pa.timestamp("ms", tz="UTC")),
        ("actor", pa.string()),
    ]
)

PolicyHistory = dict[str, list[tuple[int, int]]]
"""``table -> [(set_at_us, seconds), ...]`` oldest first."""


def parse_retention(section: Mapping[str, Any]) -> dict[str, int]:
    """The ``[retention]`` table: ``{table: days}`` -> ``{table: seconds}``."""
    policy: dict[str, int] = {}
    for table, days in section.items():
        where = f"[retention] {table}"
        if table not in HOLD_COLUMNS:
            raise ConfigError(
                f"{where}: only {', '.join(HOLD_COLUMNS)} may expire (state tables and the "
                "chain are kept: deleting them would lift revocations or break the evidence)"
            )
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ConfigError(f"{where}: {days!r} is not a whole number of days (0 = forever)")
        policy[table] = days * DAY_SECONDS
    if BATCH_TABLE in policy:  # the halves of the calls expire together unless told apart
        policy.setdefault(SERVER_SIDES, policy[BATCH_TABLE])
    return policy


def policy_history(store: Store) -> PolicyHistory:
    history: PolicyHistory = {}
    for table, seconds, set_us in store.query(
        "SELECT table, seconds, toUnixTimestamp64Micro(set_at) FROM agentaudit.retention_policies "
        "ORDER BY set_at"
    ).rows:
        history.setdefault(str(table), []).append((int(set_us), int(seconds)))
    return history


def _latest(store: Store) -> dict[str, tuple[int, tuple[str, ...]]]:
    latest: dict[str, tuple[int, tuple[str, ...]]] = {}
    for table, seconds, hold_ids in store.query(
        "SELECT table, argMax(seconds, set_at), argMax(hold_ids, set_at) "
        "FROM agentaudit.retention_policies GROUP BY table"
    ).rows:
        latest[str(table)] = (int(seconds), tuple(str(h) for h in hold_ids))
    return latest


def current_policy(store: Store) -> dict[str, int]:
    """The retention in force, as recorded: ``{table: seconds}`` (0 = kept forever)."""
    return {table: seconds for table, (seconds, _) in _latest(store).items()}


def apply_retention(
    store: Store, policy: Mapping[str, int] | None = None, *, actor: str
) -> list[str]:
    """Make each table's TTL match ``policy`` (``{table: seconds}``; None: the policy in
    force) and the active holds; record each change. Returns the tables changed."""
    latest = _latest(store)
    if policy is None:
        policy = {table: seconds for table, (seconds, _) in latest.items()}
    holds = active_holds(store)
    hold_ids = tuple(sorted(h.hold_id for h in holds))
    tables = audit_tables(store)
    changed: list[str] = []
    rows: list[dict[str, Any]] = []
    for name in HOLD_COLUMNS:
        if name not in tables or not tables[name].written_at:
            continue
        seconds = int(policy.get(name, 0))
        before = latest.get(name, (0, ()))
        wanted = (seconds, hold_ids if seconds else ())
        if wanted == before:
            continue
        target = f"agentaudit.{ident(name)}"
        if seconds:
            condition = holds_condition(name, holds)
            spare = f" DELETE WHERE NOT ({condition})" if holds else ""
            store.command(
                f"ALTER TABLE {target} MODIFY TTL {ident(WRITTEN_AT)} + "
                f"toIntervalSecond({seconds}){spare}"
            )
        elif before[0]:
            store.command(f"ALTER TABLE {target} REMOVE TTL")
        if seconds != before[0]:
            log.warning(
                "retention of %s: %s (was %s)", name, _describe(seconds), _describe(before[0])
            )
        rows.append(
            {
                "table": name,
                "seconds": seconds,
                "hold_ids": list(wanted[1]),
                "set_at": time.time_ns() // 1_000_000,
                "actor": actor,
            }
        )
        changed.append(name)
    if rows:
        store.insert_arrow(POLICIES_TABLE, pa.Table.from_pylist(rows, schema=_SCHEMA))
    return changed


def _describe(seconds: int) -> str:
    if not seconds:
        return "kept forever"
    if seconds % DAY_SECONDS == 0:
        return f"{seconds // DAY_SECONDS} day(s)"
    return f"{seconds} s"


def expirable(history: PolicyHistory, table: str, unit_us: int, now_us: int) -> bool:
    """Whether the recorded retention of ``table`` allowed rows written at ``unit_us`` to be
    removed at some moment up to ``now_us``."""
    records = history.get(table, [])
    for index, (set_us, seconds) in enumerate(records):
        if not seconds:
            continue
        ends = records[index + 1][0] if index + 1 < len(records) else now_us
        due = unit_us - EXPIRY_SLACK_US + seconds * 1_000_000
        if max(set_us, due) <= min(ends, now_us):
            return True
    return False
