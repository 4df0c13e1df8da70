"""The scope linter: credential bugs in the catalog, and observed behaviour outside it.

:func:`lint_catalog` returns :class:`Problem` values; each has a kind from
:data:`PROBLEM_KINDS`, a severity (``low`` < ``medium`` < ``high``) and where in the
catalog it is written. ``agentaudit lint`` exits 1 when any problem is ``high``.

The seed's rule: "if your tool description says 'send email' and the OAuth scope grants
mail.read, you have a credential bug regardless of whether the agent ever exercises the
read." So ``excess_scope`` (granted minus minimum) is judged from the catalog alone:
``high`` when the extra scope allows a *different kind of action* than the tool's
(``mail.read`` on a send tool), ``medium`` when it only reaches further with the same
kind, or when no vocabulary knows the scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agentaudit.catalog.model import AgentEntry, Catalog, Location, ToolEntry
from agentaudit.catalog.observed import Observations, ToolUse
from agentaudit.catalog.vocabulary import (
    REACHES,
    VERBS,
    Inference,
    Vocabularies,
    action_area,
    action_verb,
    load_vocabularies,
    name_words,
)
from agentaudit.schema.identifiers import canonical_id

__all__ = [
    "HIGH",
    "LIFETIME_SLACK_S",
    "LOW",
    "MEDIUM",
    "PROBLEM_KINDS",
    "SEVERITIES",
    "Problem",
    "exercised_scopes",
    "lint_catalog",
    "owners_match",
    "tool_inference",
    "tool_provider",
]

LOW: Final = "low"
MEDIUM: Final = "medium"
HIGH: Final = "high"
SEVERITIES: Final = (LOW, MEDIUM, HIGH)
LIFETIME_SLACK_S: Final = 5
"""Observed lifetimes within this many seconds of the catalog's are not a problem
(expiry is in whole seconds; clocks differ)."""

PROBLEM_KINDS: Final[Mapping[str, str]] = {
    "excess_scope": "a granted scope beyond min_scopes (high: it allows another kind of action)",
    "min_too_wide": "a minimum scope wider than the vocabulary's narrowest for the tool's action",
    "min_not_granted": "a minimum scope the credential is not granted",
    "missing_min_scopes": "a tool with no min_scopes written down",
    "scope_not_allowed": "observed: a scope presented (or exercised) the catalog does not grant",
    "unlisted_tool": "observed: a tool the agent called that its catalog entry does not list",
    "unlisted_agent": "observed: an agent with no catalog entry",
    "lifetime_exceeded": "observed: a credential that lived longer than the catalog's lifetime_s",
    "credential_mismatch": "observed: credentials that do not match the tool's credential pattern",
    "missing_owner": "an agent with no owner",
    "owner_mismatch": "the catalog's owner differs from the agent registry's",
    "incomplete": "a card field not written down (audit destination, revocation path, ...)",
    "unknown_scope": "a scope the named provider's vocabulary does not know",
}
"""Every problem kind and what it means (docs/catalog.md has the same table)."""


@dataclass(frozen=True)
class Problem:
    """One lint result. ``tool`` is "" for an agent-level problem; ``location`` is where
    the catalog writes the offending key (or the nearest written ancestor)."""

    agent: str
    tool: str
    problem: str
    detail: str
    severity: str
    location: Location | None = None

    def to_json(self) -> dict[str, str]:
        """``{agent, tool, problem, detail, severity}`` (the contract of ``--format json``)."""
        return {
            "agent": self.agent,
            "tool": self.tool,
            "problem": self.problem,
            "detail": self.detail,
            "severity": self.severity,
        }

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self.severity)


def owners_match(catalog_owner: str, registry_owner: str) -> bool:
    """Whether two owner strings name the same owner: equal case-folded, or one is the
    name or the ``<address>`` of the other (``Dana Reyes <dana@example.com>``)."""

    def forms(text: str) -> set[str]:
        folded = " ".join(text.casefold().split())
        out = {folded}
        if "<" in folded and folded.endswith(">"):
            name, _, address = folded[:-1].partition("<")
            out |= {name.strip(), address.strip()}
        return {f for f in out if f}

    left, right = forms(catalog_owner), forms(registry_owner)
    return bool(left & right)


def tool_provider(
    agent: AgentEntry | None,
    tool: ToolEntry | None,
    vocab: Vocabularies,
    scopes: Iterable[str] = (),
) -> str | None:
    """The provider a tool's scopes belong to: the catalog's (tool, then agent), else
    the one vocabulary that knows its scopes."""
    if tool is not None and tool.provider:
        return tool.provider
    if agent is not None and agent.provider:
        return agent.provider
    written = [*(tool.min_scopes or ()), *(tool.granted_scopes or ())] if tool else []
    return vocab.provider_of([*written, *scopes])


def _known_provider(provider: str | None, vocab: Vocabularies) -> str | None:
    return provider if provider is not None and vocab.get(provider) is not None else None


def tool_inference(
    tool: ToolEntry,
    vocab: Vocabularies,
    provider: str | None,
    *,
    resource_types: Iterable[str] = (),
) -> Inference:
    """What a catalogued tool does: its ``actions``, else its name, else its minimum."""
    scopes = [*(tool.min_scopes or ()), *(tool.granted_scopes or ())]
    return vocab.infer_actions(
        tool.name,
        scopes,
        resource_types=resource_types,
        provider=_known_provider(provider, vocab),
        declared=tool.actions,
        min_scopes=tool.min_scopes,
    )


def exercised_scopes(
    use: ToolUse,
    vocab: Vocabularies,
    *,
    tool: ToolEntry | None = None,
    provider: str | None = None,
) -> dict[str, int]:
    """Scope -> successful calls that exercised it (inferred: see docs/catalog.md)."""
    provider = _known_provider(provider, vocab)
    counts: dict[str, int] = {}
    for scope_use in use.uses:
        if scope_use.ok_calls == 0:
            continue
        inference = vocab.infer_actions(
            use.tool,
            scope_use.scopes,
            resource_types=scope_use.resource_types,
            provider=provider,
            declared=tool.actions if tool else (),
            min_scopes=tool.min_scopes if tool else None,
        )
        if inference.actions:
            used = vocab.exercised(inference.actions, scope_use.scopes, provider)
        else:
            words = [*name_words(use.tool), *scope_use.resource_types]
            used = vocab.related(scope_use.scopes, words)
        for scope in used:
            counts[scope] = counts.get(scope, 0) + scope_use.ok_calls
    return counts


def _verbs_text(verbs: Iterable[str]) -> str:
    return ", ".join(v for v in VERBS if v in set(verbs))


def _actions_text(other: Iterable[str], tool_actions: Iterable[str]) -> str:
    """``read`` when the other actions are in the tool's areas, else ``read on crm``."""
    areas = {action_area(a) for a in tool_actions}
    by_area: dict[str, set[str]] = {}
    for action in other:
        by_area.setdefault(action_area(action), set()).add(action_verb(action))
    parts = []
    for area, verbs in sorted(by_area.items()):
        text = _verbs_text(verbs)
        parts.append(text if area in areas else f"{text} on {area}")
    return "; ".join(parts)


def _scope_key(scope: str, vocab: Vocabularies, provider: str | None) -> str:
    found = vocab.resolve(scope, provider)
    return f"{found.provider}:{found.name}" if found else scope


class _Linter:
    def __init__(self, catalog: Catalog, vocab: Vocabularies) -> None:
        self.catalog = catalog
        self.vocab = vocab
        self.problems: list[Problem] = []

    def add(  # noqa: PLR0917 - one call per problem reads best positionally
        self,
        agent: str,
        tool: str,
        kind: str,
        severity: str,
        detail: str,
        key: str = "",
        *,
        listed: bool = True,
    ) -> None:
        where = self.catalog.locate(agent, tool if tool and listed else None, key)
        self.problems.append(Problem(agent, tool, kind, detail, severity, where))

    # -- the catalog alone ---------------------------------------------------------------

    def agent(self, agent: AgentEntry, registry_owner: str | None) -> None:
        name = agent.name
        if not agent.owner:
            said = f"; the agent registry says {registry_owner!r}" if registry_owner else ""
            self.add(
                name,
                "",
                "missing_owner",
                HIGH,
                f"no owner: name the person or team answerable for {name}{said}",
            )
        elif registry_owner and not owners_match(agent.owner, registry_owner):
            self.add(
                name,
                "",
                "owner_mismatch",
                MEDIUM,
                f"the catalog names {agent.owner!r} but the agent registry says {registry_owner!r} "
                "(the catalog is the card's owner: correct one of them)",
                "owner",
            )
        for key, severity in (
            ("audit_destination", MEDIUM),
            ("revocation_path", MEDIUM),
            ("description", LOW),
        ):
            if not getattr(agent, key):
                self.add(name, "", "incomplete", severity, f"no {key} written down")
        for tool in agent.tools:
            self.tool(agent, tool)

    def tool(self, agent: AgentEntry, tool: ToolEntry) -> None:
        name, vocab = agent.name, self.vocab
        provider = tool_provider(agent, tool, vocab)
        known = _known_provider(provider, vocab)
        explicit = tool.provider or agent.provider
        if explicit and known is None:
            self.add(
                name,
                tool.name,
                "unknown_scope",
                LOW,
                f"provider {explicit!r} has no vocabulary (known: {', '.join(vocab.providers)}); "
                "only the catalog's min_scopes can be checked",
                "provider",
            )
        for key, severity in (("action", LOW), ("credential", MEDIUM)):
            if not getattr(tool, key):
                self.add(name, tool.name, "incomplete", severity, f"no {key} written down")
        if tool.granted_scopes is None:
            self.add(
                name,
                tool.name,
                "incomplete",
                MEDIUM,
                "no granted_scopes: the credential's reach is not written down",
            )
        if tool.lifetime_s is None:
            self.add(
                name,
                tool.name,
                "incomplete",
                MEDIUM,
                "no lifetime_s: the credential's lifetime is not written down",
            )
        if tool.min_scopes is None:
            self.add(
                name,
                tool.name,
                "missing_min_scopes",
                MEDIUM,
                "no min_scopes: write down the least this tool's action needs"
                + self._suggestion(tool, provider),
            )
        if explicit and known is not None:
            for key in ("min_scopes", "granted_scopes"):
                for scope in getattr(tool, key) or ():
                    if vocab.resolve(scope, known) is None:
                        self.add(
                            name,
                            tool.name,
                            "unknown_scope",
                            LOW,
                            f"{scope!r} is not a {_provider_name(vocab, known)} scope",
                            key,
                        )
        inference = tool_inference(tool, vocab, provider)
        if tool.min_scopes is not None:
            self._min_too_wide(name, tool, provider, inference)
        if tool.min_scopes is not None and tool.granted_scopes is not None:
            granted = {_scope_key(s, vocab, known) for s in tool.granted_scopes}
            missing = [s for s in tool.min_scopes if _scope_key(s, vocab, known) not in granted]
            if missing:
                self.add(
                    name,
                    tool.name,
                    "min_not_granted",
                    MEDIUM,
                    f"min_scopes needs {', '.join(missing)} but granted_scopes does not grant it",
                    "granted_scopes",
                )
            self._excess(name, tool, provider, inference)

    def _suggestion(self, tool: ToolEntry, provider: str | None) -> str:
        inference = tool_inference(tool, self.vocab, provider)
        if inference.basis not in ("catalog", "name"):
            return ""
        names = []
        for action in sorted(inference.actions):
            found = self.vocab.narrowest(action, _known_provider(provider, self.vocab))
            if found:
                names.append(f"{found.name} ({action})")
        return f"; the vocabularies suggest {', '.join(names)}" if names else ""

    def _min_too_wide(
        self, agent: str, tool: ToolEntry, provider: str | None, inference: Inference
    ) -> None:
        if inference.basis not in ("catalog", "name"):
            return
        known = _known_provider(provider, self.vocab)
        for scope in tool.min_scopes or ():
            found = self.vocab.resolve(scope, known)
            if found is None:
                continue
            for action in sorted(inference.actions & found.allows):
                narrowest = self.vocab.get(found.provider).narrowest_scope(action)  # type: ignore[union-attr]
                if narrowest is None or narrowest.name == found.name:
                    continue
                wider = len(narrowest.allows) < len(found.allows) or (
                    _reach(narrowest.reach) < _reach(found.reach)
                )
                if not wider:
                    continue
                beyond = found.verbs - self.vocab.terms.with_implied(inference.verbs)
                allows = (
                    f" allows {_verbs_text(beyond)}"
                    if beyond
                    else f" reaches {found.reach} resources"
                )
                self.add(
                    agent,
                    tool.name,
                    "min_too_wide",
                    MEDIUM,
                    f"`{scope}`{allows}; `{tool.name}` ({action}) needs `{narrowest.name}`",
                    "min_scopes",
                )

    def _excess(
        self, agent: str, tool: ToolEntry, provider: str | None, inference: Inference
    ) -> None:
        vocab = self.vocab
        known = _known_provider(provider, vocab)
        minimum = {_scope_key(s, vocab, known) for s in tool.min_scopes or ()}
        actions = set(inference.actions)
        if not actions:
            for scope in tool.min_scopes or ():
                actions |= vocab.allows(scope, known) or set()
        covered = {
            f"{action_area(a)}.{verb}"
            for a in actions
            for verb in vocab.terms.with_implied({action_verb(a)})
        }
        needs = ", ".join(f"`{s}`" for s in tool.min_scopes or ()) or "no scope"
        doing = f" ({', '.join(sorted(actions))})" if actions else ""
        for scope in tool.granted_scopes or ():
            if _scope_key(scope, vocab, known) in minimum:
                continue
            allowed = vocab.allows(scope, known)
            if allowed is None:
                self.add(
                    agent,
                    tool.name,
                    "excess_scope",
                    MEDIUM,
                    f"`{scope}` is granted beyond min_scopes and no vocabulary knows what it "
                    f"allows; `{tool.name}` needs {needs}",
                    "granted_scopes",
                )
                continue
            other = allowed - covered
            if other and actions:
                self.add(
                    agent,
                    tool.name,
                    "excess_scope",
                    HIGH,
                    f"`{scope}` allows {_actions_text(other, actions)}; `{tool.name}`{doing} "
                    f"needs {needs}",
                    "granted_scopes",
                )
            else:
                reason = "" if actions else " (the tool's action is unknown: add `actions`)"
                self.add(
                    agent,
                    tool.name,
                    "excess_scope",
                    MEDIUM,
                    f"`{scope}` is granted beyond min_scopes (it allows no other kind of action "
                    f"than the tool's); `{tool.name}`{doing} needs {needs}{reason}",
                    "granted_scopes",
                )

    # -- observed behaviour ----------------------------------------------------------------

    def observed(self, observations: Observations, only: str | None) -> None:
        by_agent: dict[str, list[ToolUse]] = {}
        for use in observations.tools:
            canonical = canonical_id(use.agent) or use.agent
            if only is not None and canonical != only:
                continue
            by_agent.setdefault(canonical, []).append(use)
        for agent_name, uses in sorted(by_agent.items()):
            entry = self.catalog.agent(agent_name)
            if entry is None:
                tools = ", ".join(sorted({u.tool for u in uses}))
                calls = sum(u.calls for u in uses)
                self.add(
                    agent_name,
                    "",
                    "unlisted_agent",
                    HIGH,
                    f"{calls} call{'s' if calls != 1 else ''} of {tools} observed; the catalog "
                    "has no "
                    f"[agents.{agent_name}] entry (no card: an unbounded blast radius)",
                )
                continue
            for use in uses:
                self.use(entry, use)

    def use(self, agent: AgentEntry, use: ToolUse) -> None:
        tool = agent.tool(use.tool)
        vocab = self.vocab
        if tool is None:
            scopes = ", ".join(use.presented) or "no scopes"
            self.add(
                agent.name,
                use.tool,
                "unlisted_tool",
                HIGH,
                f"called {use.calls} time{'s' if use.calls != 1 else ''} "
                f"(credential scopes: {scopes}); "
                f"[agents.{agent.key}.tools] does not list it",
                listed=False,
            )
            return
        provider = tool_provider(agent, tool, vocab, use.presented)
        known = _known_provider(provider, vocab)
        if tool.granted_scopes is not None:
            granted = {_scope_key(s, vocab, known) for s in tool.granted_scopes}
            exercised = exercised_scopes(use, vocab, tool=tool, provider=provider)
            for scope in use.presented:
                if _scope_key(scope, vocab, known) in granted:
                    continue
                calls = sum(u.calls for u in use.uses if scope in u.scopes)
                used = exercised.get(scope, 0)
                how = f"exercised on {used}" if used else "not exercised, but presented"
                self.add(
                    agent.name,
                    tool.name,
                    "scope_not_allowed",
                    HIGH,
                    f"`{scope}` was presented on {calls} call{'s' if calls != 1 else ''} ({how}); "
                    "the catalog does not grant it: the real credential is wider than the card",
                    "granted_scopes",
                )
        lifetime = use.credentials.max_lifetime_s
        if (
            tool.lifetime_s is not None
            and lifetime is not None
            and lifetime > tool.lifetime_s + LIFETIME_SLACK_S
        ):
            self.add(
                agent.name,
                tool.name,
                "lifetime_exceeded",
                HIGH,
                f"credential {use.credentials.longest} lived at least {lifetime} s; the catalog "
                "says "
                f"{tool.lifetime_s} s",
                "lifetime_s",
            )
        if tool.credential and use.credentials.sample:
            issuers = use.credentials.issuers
            if tool.credential not in issuers:
                strangers = [c for c in use.credentials.sample if not tool.credential_matches(c)]
                if strangers:
                    self.add(
                        agent.name,
                        tool.name,
                        "credential_mismatch",
                        MEDIUM,
                        f"{len(strangers)} of {len(use.credentials.sample)} credentials seen do "
                        "not "
                        f"match `{tool.credential}` (e.g. {strangers[0]})",
                        "credential",
                    )


def _provider_name(vocab: Vocabularies, provider: str | None) -> str:
    found = vocab.get(provider) if provider else None
    return found.name if found else str(provider)


def _reach(reach: str) -> int:
    return REACHES.index(reach) if reach in REACHES else REACHES.index("user")


def lint_catalog(
    catalog: Catalog,
    *,
    vocabularies: Vocabularies | None = None,
    observations: Observations | None = None,
    registry_owners: Mapping[str, str] | None = None,
    agent: str | None = None,
) -> list[Problem]:
    """Every problem of ``catalog`` (and, with ``observations``, of the behaviour seen),
    the most severe first. ``registry_owners``: canonical agent id -> the owner the
    agent registry holds. ``agent``: only that agent."""
    vocab = vocabularies or load_vocabularies()
    # An id that is not canonical (a look-alike) has no entry: only its own observed calls.
    only = (canonical_id(agent) or agent) if agent else None
    linter = _Linter(catalog, vocab)
    owners = {canonical_id(k) or k: v for k, v in (registry_owners or {}).items()}
    for entry in catalog.agents:
        if only is None or entry.name == only:
            linter.agent(entry, owners.get(entry.name) or None)
    if observations is not None:
        linter.observed(observations, only if agent else None)
    return sort_problems(linter.problems)


def sort_problems(problems: Sequence[Problem]) -> list[Problem]:
    """Most severe first, then by agent, tool, kind and detail."""
    return sorted(problems, key=lambda p: (-p.rank, p.agent, p.tool, p.problem, p.detail))


def problems_json(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [p.to_json() for p in problems]
