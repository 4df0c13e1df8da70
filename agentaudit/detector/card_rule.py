"""The detector's rule ``off_card``: a tool call outside the agent's identity card.

The identity-card catalog (docs/catalog.md) writes down, per agent, the tools it may
call and, per tool, the least scope its action needs (``min_scopes``). A call is off
the card when

* ``unlisted_tool`` (high): the agent's card does not list the tool;
* ``scope_not_allowed`` (high): the call exercised a scope the card does not allow the
  tool. The card allows a tool its ``min_scopes`` (what the broker mints for it);
  ``granted_scopes`` only describe the standing credential, so a scope that is granted
  but beyond the minimum, *exercised*, is the blast radius of a known credential bug
  being used. Exercised scopes are inferred per call the way ``agentaudit lint`` and the
  card infer them (:func:`agentaudit.catalog.exercised_scopes`: the presented scope that
  allows the call's action, from the tool's declared ``actions``, its name and the
  resource types the call touched), from successful calls only. A scope the vocabularies
  know, all of whose actions the minimum also allows, is within the card (a narrower
  scope than written); when the tool's action cannot be told, only a scope beyond both
  ``min_scopes`` and ``granted_scopes`` counts. A tool with neither written down has no
  scope check (``agentaudit lint`` reports it);
* ``no_card`` (medium): the catalog has no card for the agent (an id that is not a
  canonical agent id, such as a look-alike, has none). Medium, so the default policy
  alerts rather than quarantines every agent a partial catalog does not cover yet.

The agent is the one the engine keys calls by (the authenticated agent, else the id the
span claims), compared as a canonical id (``Mail-Assistant`` has ``mail-assistant``'s
card). The rule learns nothing and needs no baseline, so it also runs while an agent
learns (``learning``); untrusted provenance without a verified approval raises its
severity (``escalates``).

The rule reads the catalog through a :data:`~agentaudit.catalog.enforcement.CatalogSource`
(a :class:`~agentaudit.catalog.CatalogFile` follows edits of the file); without one it
never fires. Verdicts are cached per (agent, tool, scopes, resource types, success) for
the catalog in force, so a steady stream of calls costs a dictionary lookup each.

Registration (``rules.py``) and how the detector gets its catalog: docs/catalog.md,
"Enforcement".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

from agentaudit.catalog.enforcement import CatalogSource
from agentaudit.catalog.linter import exercised_scopes, tool_inference, tool_provider
from agentaudit.catalog.model import AgentEntry, Catalog, ToolEntry
from agentaudit.catalog.observed import ScopeUse, ToolUse
from agentaudit.catalog.vocabulary import Vocabularies, load_vocabularies
from agentaudit.detector.rules import HIGH, MEDIUM, Context, Hit, Incident, Rule, listing

__all__ = ["MAX_CACHED", "OffCard", "resource_types"]

MAX_CACHED: Final = 4096
"""Verdicts kept per catalog; past it the cache starts again."""

UNLISTED_TOOL: Final = "unlisted_tool"
SCOPE_NOT_ALLOWED: Final = "scope_not_allowed"
NO_CARD: Final = "no_card"

_Verdict = tuple[int, float, dict[str, Any], dict[str, Any], tuple[str, ...]] | None


def resource_types(resource_ids: Sequence[str]) -> tuple[str, ...]:
    """The part of each resource id before its first ``:`` (``""`` without one), sorted:
    what the catalog's observed use calls a resource type."""
    return tuple(sorted({r.partition(":")[0] if ":" in r else "" for r in resource_ids}))


def _scope_key(scope: str, vocab: Vocabularies, provider: str | None) -> str:
    found = vocab.resolve(scope, provider)
    return f"{found.provider}:{found.name}" if found else scope


class OffCard(Rule):
    """``off_card`` (module docstring). ``catalog``: a catalog, a source of the catalog
    in force, or None (the rule never fires)."""

    name = "off_card"
    severity = HIGH
    learning = True
    escalates = True
    about = "a call outside the agent's identity card: a tool or scope its card does not allow"
    reasons: ClassVar[tuple[str, ...]] = (UNLISTED_TOOL, SCOPE_NOT_ALLOWED, NO_CARD)

    def __init__(
        self,
        catalog: Catalog | CatalogSource | None = None,
        *,
        vocabularies: Vocabularies | None = None,
    ) -> None:
        if isinstance(catalog, Catalog):
            fixed = catalog
            self._source: CatalogSource | None = lambda: fixed
        else:
            self._source = catalog
        self._vocab = vocabularies
        self._cache: dict[tuple[Any, ...], _Verdict] = {}
        self._cached_for: Catalog | None = None

    @property
    def vocabularies(self) -> Vocabularies:
        if self._vocab is None:
            self._vocab = load_vocabularies()
        return self._vocab

    # -- the rule --------------------------------------------------------------------------

    def check(self, c: Context) -> Hit | None:
        if self._source is None:
            return None
        catalog = self._source()
        if catalog is not self._cached_for or len(self._cache) >= MAX_CACHED:
            self._cache, self._cached_for = {}, catalog
        call = c.call
        key = (
            c.agent,
            call.tool_name,
            call.credential_scopes,
            resource_types(call.resource_ids),
            call.status == "ok",
        )
        if key in self._cache:
            verdict = self._cache[key]
        else:
            verdict = self._cache[key] = self._judge(catalog, key)
        if verdict is None:
            return None
        severity, score, observed, baseline, items = verdict
        return self.hit(score, dict(observed), dict(baseline), items, severity=severity)

    def _judge(self, catalog: Catalog, key: tuple[Any, ...]) -> _Verdict:
        agent, tool, scopes, types, ok = key
        where = {"catalog": catalog.path}
        entry = catalog.agent(agent)
        if entry is None:
            return (
                MEDIUM,
                2.0,
                {"reason": NO_CARD, "tool": tool, "scopes": list(scopes)},
                {**where, "agents": len(catalog.agents)},
                (f"{tool} (no card)",),
            )
        listed = entry.tool(tool)
        if listed is None:
            return (
                HIGH,
                5.0,
                {"reason": UNLISTED_TOOL, "tool": tool, "scopes": list(scopes)},
                {**where, "tools": list(entry.tool_names)},
                (f"{tool} (not on the card)",),
            )
        if not ok or not scopes:
            return None
        outside, allowed = self._outside(entry, listed, scopes, types)
        if not outside:
            return None
        return (
            HIGH,
            4.0,
            {
                "reason": SCOPE_NOT_ALLOWED,
                "tool": tool,
                "scopes": list(outside),
                "presented": list(scopes),
            },
            {**where, "allowed": list(allowed), "granted": list(listed.granted_scopes or ())},
            tuple(f"scope {s} on {tool}" for s in outside),
        )

    def _outside(
        self,
        agent: AgentEntry,
        tool: ToolEntry,
        scopes: tuple[str, ...],
        types: tuple[str, ...],
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The exercised scopes the card does not allow the tool, and what it allows."""
        vocab = self.vocabularies
        provider = tool_provider(agent, tool, vocab, scopes)
        known = provider if provider is not None and vocab.get(provider) is not None else None
        if tool_inference(tool, vocab, provider).basis == "unknown":
            allowed = (*(tool.min_scopes or ()), *(tool.granted_scopes or ()))
            if tool.min_scopes is None and tool.granted_scopes is None:
                return (), ()
        elif tool.min_scopes is not None:
            allowed = tool.min_scopes
        elif tool.granted_scopes is not None:
            allowed = tool.granted_scopes
        else:
            return (), ()
        use = ToolUse(agent.name, tool.name, 1, 0, 0, (ScopeUse(scopes, types, 1, 1),))
        exercised = exercised_scopes(use, vocab, tool=tool, provider=provider)
        keys = {_scope_key(s, vocab, known) for s in allowed}
        reach: set[str] = set()
        for scope in allowed:
            reach |= vocab.allows(scope, known) or set()
        outside = []
        for scope in sorted(exercised):
            if _scope_key(scope, vocab, known) in keys:
                continue
            allows = vocab.allows(scope, known)
            if allows is not None and allows <= reach:
                continue  # no reach beyond the minimum (a narrower scope)
            outside.append(scope)
        return tuple(outside), tuple(allowed)

    # -- the words ---------------------------------------------------------------------------

    def clause(self, i: Incident) -> str:
        o, b = i.observed, i.baseline
        reason = o.get("reason")
        if len(i.items) > 1:
            return f"{i.agent} went outside its identity card: {listing(list(i.items), 4)}"
        if reason == UNLISTED_TOOL:
            tools = list(b.get("tools", []))
            lists = f"it lists {listing(tools, 4)}" if tools else "it lists no tool"
            return f"{i.agent} called {o['tool']}, a tool its identity card does not list ({lists})"
        if reason == SCOPE_NOT_ALLOWED:
            allowed = list(b.get("allowed", []))
            return (
                f"{i.agent}'s {o['tool']} call exercised {listing(list(o['scopes']))}, beyond "
                f"what its identity card allows {o['tool']} "
                f"({listing(allowed, 4) if allowed else 'no scope'})"
            )
        tool = o.get("tool", i.tool)
        return f"{i.agent} called {tool}, but the catalog has no identity card for {i.agent}"
