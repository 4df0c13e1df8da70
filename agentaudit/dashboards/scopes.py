"""The blast radius of one agent, per tool: scopes granted, needed, presented, exercised.

Judged with the scope vocabularies and, when a catalog is configured, the agent's
identity card (docs/catalog.md), the way ``agentaudit lint`` and ``agentaudit card``
judge them; no guessing from scope-name prefixes:

* *presented*: the scopes on the credentials the tool's calls carried;
* *exercised*: inferred per call (:func:`agentaudit.catalog.exercised_scopes`: the
  presented scope that allows the call's action and the fewest others; successful
  calls only);
* *unknown*: presented scopes no vocabulary knows, so what they allow cannot be told;
* with a card: *granted* and *minimum* as written, *excess* = granted beyond the
  minimum (lint's ``excess_scope``: a credential bug whether or not it is exercised) and
  *beyond the card* = presented but not granted (the real credential is wider than
  the card says); without one, *excess* = known presented scopes never exercised.

Each excess scope is named with what it allows (:func:`allows_text`). Pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agentaudit.catalog.linter import exercised_scopes, tool_provider
from agentaudit.catalog.model import AgentEntry
from agentaudit.catalog.observed import ToolUse
from agentaudit.catalog.vocabulary import VERBS, Vocabularies, action_area, action_verb

__all__ = ["ToolRadius", "allows_text", "blast_radius", "excess_lines"]


@dataclass(frozen=True)
class ToolRadius:
    """One tool of the agent: observed use and, with a card, what the card says."""

    tool: str
    calls: int
    listed: bool | None
    """On the agent's card; None when no catalog is configured."""
    presented: tuple[str, ...]
    exercised: tuple[str, ...]
    unknown: tuple[str, ...]
    granted: tuple[str, ...] | None
    minimum: tuple[str, ...] | None
    excess: tuple[str, ...]
    beyond_card: tuple[str, ...]
    provider: str | None = None


def allows_text(scope: str, vocab: Vocabularies, provider: str | None = None) -> str:
    """What ``scope`` allows, in words: ``read, send on mail; read on crm``."""
    allowed = vocab.allows(scope, provider if provider and vocab.get(provider) else None)
    if allowed is None:
        return "unknown to the vocabularies"
    by_area: dict[str, set[str]] = {}
    for action in allowed:
        by_area.setdefault(action_area(action), set()).add(action_verb(action))
    return "; ".join(
        f"{', '.join(v for v in VERBS if v in verbs)} on {area}"
        for area, verbs in sorted(by_area.items())
    )


def _known(scopes: Iterable[str], vocab: Vocabularies, provider: str | None) -> list[str]:
    return [s for s in scopes if vocab.allows(s, provider) is not None]


def _radius(
    name: str,
    use: ToolUse | None,
    vocab: Vocabularies,
    *,
    entry: AgentEntry | None,
    catalogued: bool,
) -> ToolRadius:
    tool = entry.tool(name) if entry else None
    presented = use.presented if use else ()
    provider = tool_provider(entry, tool, vocab, presented)
    known = provider if provider is not None and vocab.get(provider) is not None else None
    exercised = exercised_scopes(use, vocab, tool=tool, provider=provider) if use else {}
    used = tuple(sorted(exercised, key=lambda s: (-exercised[s], s)))
    unknown = tuple(s for s in presented if vocab.allows(s, known) is None)
    granted = tool.granted_scopes if tool else None
    minimum = tool.min_scopes if tool else None
    if tool is not None and granted is not None:
        excess = tuple(s for s in granted if s not in (minimum or ()))
        beyond = tuple(s for s in presented if s not in granted)
    else:
        excess = tuple(s for s in _known(presented, vocab, known) if s not in exercised)
        beyond = presented if catalogued and tool is None else ()
    return ToolRadius(
        tool=name,
        calls=use.calls if use else 0,
        listed=(tool is not None) if catalogued else None,
        presented=presented,
        exercised=used,
        unknown=unknown,
        granted=granted,
        minimum=minimum,
        excess=excess,
        beyond_card=beyond,
        provider=known,
    )


def blast_radius(
    uses: Sequence[ToolUse],
    vocab: Vocabularies,
    *,
    entry: AgentEntry | None = None,
    catalogued: bool = False,
) -> list[ToolRadius]:
    """Per tool the agent called (``uses``) and, with a card (``entry``), per tool on
    it: the card's tools first, in its order, then the tools it does not list.
    ``catalogued``: a catalog is configured (an agent without a card then has every
    tool off the card)."""
    by_tool: dict[str, ToolUse] = {}
    for use in uses:
        held = by_tool.get(use.tool)
        by_tool[use.tool] = use if held is None else _merge(held, use)
    names = [t.name for t in entry.tools] if entry else []
    names += sorted(t for t in by_tool if t not in names)
    return [
        _radius(name, by_tool.get(name), vocab, entry=entry, catalogued=catalogued)
        for name in names
    ]


def _merge(left: ToolUse, right: ToolUse) -> ToolUse:
    """Two agent ids that are one canonical agent: one use of the tool."""
    return ToolUse(
        agent=left.agent,
        tool=left.tool,
        calls=left.calls + right.calls,
        first_ns=min(left.first_ns, right.first_ns),
        last_ns=max(left.last_ns, right.last_ns),
        uses=left.uses + right.uses,
    )


def excess_lines(radius: Sequence[ToolRadius], vocab: Vocabularies) -> list[str]:
    """``mail.read on send_email: allows read on mail`` per excess scope."""
    return [
        f"{scope} on {r.tool}: allows {allows_text(scope, vocab, r.provider)}"
        for r in radius
        for scope in r.excess
    ]
