"""The agents' identity cards: the catalog, scope vocabularies, lint, suggest, the card.

The catalog is a TOML file (``--catalog FILE`` = ``AGENTAUDIT_CATALOG`` = config key
``catalog``; docs/catalog.md): one ``[agents.NAME]`` per agent (owner, description,
audit destination, revocation path) and one ``[agents.NAME.tools.TOOL]`` per tool
(action, minimum scopes, credential, granted scopes, lifetime, resource argument).

Interface (every name below is importable from ``agentaudit.catalog``):

Catalog (standard library only; safe to import anywhere)
    ``load_catalog(path) -> Catalog`` / ``parse_catalog(text, path) -> Catalog`` —
    raise :class:`CatalogError` (a ``ConfigError``: exit 2) listing every problem as
    ``file:line: dotted.key: message``.
    ``Catalog.agent(name) -> AgentEntry | None`` (canonical ids: ``Mail-Assistant`` finds
    ``mail-assistant``), ``Catalog.agents``, ``Catalog.locate(agent, tool, key)``.
    ``AgentEntry``: ``name``, ``owner``, ``description``, ``audit_destination``,
    ``revocation_path``, ``provider``, ``tools``, ``tool(name) -> ToolEntry | None``.
    ``ToolEntry``: ``name``, ``action``, ``actions``, ``min_scopes``, ``credential``,
    ``granted_scopes``, ``lifetime_s``, ``resource_argument``, ``provider``,
    ``credential_matches(credential_id, issuer="")``. ``None`` means "not written down".

Vocabularies
    ``load_vocabularies() -> Vocabularies`` (Google, Microsoft, GitHub, Slack, the
    broker's own). ``resolve(scope, provider=None) -> Scope | None`` (``Scope.allows``:
    actions ``AREA.VERB``), ``narrowest(action, provider) -> Scope | None``,
    ``infer_actions(tool, scopes, ...) -> Inference``, ``exercised(actions, presented)``.

Observed use (needs a store or the admin API)
    ``observe(source, since_ns=, until_ns=None, agent=None) -> Observations`` with a
    ``StoreSource(store)`` or ``ApiSource(admin_client)``; ``parse_since("30d")``;
    ``registry_owners(source)``; ``open_findings(source, agent)``.

Lint
    ``lint_catalog(catalog, vocabularies=, observations=, registry_owners=, agent=) ->
    list[Problem]``; ``Problem``: ``agent``, ``tool``, ``problem`` (a key of
    ``PROBLEM_KINDS``), ``detail``, ``severity`` (``low``/``medium``/``high``),
    ``location``; ``Problem.to_json()`` is ``{agent, tool, problem, detail,
    severity}``. ``to_sarif(problems, catalog_path=)``. ``exercised_scopes(tool_use,
    vocabularies, tool=, provider=) -> {scope: calls}``.

Suggest
    ``suggest_catalog(observations, vocabularies=, registry_owners=) -> str`` (TOML).

Card and sign-off
    ``build_card(catalog, agent, observations=, since_signoff=, registry_owners=,
    findings=, signoff=) -> Card``; ``Card.status`` in ``STATUSES`` (``signed``,
    ``unsigned``, ``drifted``, ``none``); ``Card.to_json()``, ``card_markdown(card)``,
    ``card_a2a(card)``; ``card_hash(entry)`` / ``canonical_card(entry)`` (what a
    sign-off attests to). ``newest_signoff(source, agent) -> Signoff | None``;
    ``SignoffLog(store).record(...)`` (a store this process holds); through a running
    process: ``AdminClient.sign_card(...)`` (``POST /v1/cards/{agent}/signoffs``,
    responder token). ``verify_signoffs(source)``.

Enforcement (the broker and the detector, in a long-running process)
    ``CatalogFile(path)`` — loaded now (``CatalogError`` at start-up), re-read when the
    file changes, the last good version kept when an edit does not load;
    ``CatalogFile.current() -> Catalog``. ``CatalogScopePolicy(source)`` — the broker's
    ``ScopePolicy``: ``allowed_scopes(agent, tool)`` is the tool's ``min_scopes`` (None
    when the tool is not on the agent's card). The detector's rule ``off_card`` lives in
    :mod:`agentaudit.detector.card_rule`.

Importing this package loads neither a store driver nor the vocabularies: modules
load on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentaudit.catalog.card import (
        STATUSES,
        Card,
        CardTool,
        build_card,
        canonical_card,
        card_a2a,
        card_content,
        card_hash,
        card_markdown,
    )
    from agentaudit.catalog.enforcement import CatalogFile, CatalogScopePolicy
    from agentaudit.catalog.linter import (
        PROBLEM_KINDS,
        SEVERITIES,
        Problem,
        exercised_scopes,
        lint_catalog,
    )
    from agentaudit.catalog.loader import CatalogError, load_catalog, parse_catalog
    from agentaudit.catalog.model import AgentEntry, Catalog, Location, ToolEntry
    from agentaudit.catalog.observed import (
        ApiSource,
        Observations,
        Source,
        StoreSource,
        ToolUse,
        observe,
        open_findings,
        parse_since,
        registry_owners,
    )
    from agentaudit.catalog.sarif import to_sarif
    from agentaudit.catalog.signoffs import (
        Signoff,
        SignoffError,
        SignoffLog,
        newest_signoff,
        verify_signoffs,
    )
    from agentaudit.catalog.suggest import suggest_catalog
    from agentaudit.catalog.vocabulary import (
        Inference,
        Scope,
        Vocabularies,
        Vocabulary,
        load_vocabularies,
    )

__all__ = [
    "PROBLEM_KINDS",
    "SEVERITIES",
    "STATUSES",
    "AgentEntry",
    "ApiSource",
    "Card",
    "CardTool",
    "Catalog",
    "CatalogError",
    "CatalogFile",
    "CatalogScopePolicy",
    "Inference",
    "Location",
    "Observations",
    "Problem",
    "Scope",
    "Signoff",
    "SignoffError",
    "SignoffLog",
    "Source",
    "StoreSource",
    "ToolEntry",
    "ToolUse",
    "Vocabularies",
    "Vocabulary",
    "build_card",
    "canonical_card",
    "card_a2a",
    "card_content",
    "card_hash",
    "card_markdown",
    "exercised_scopes",
    "lint_catalog",
    "load_catalog",
    "load_vocabularies",
    "newest_signoff",
    "observe",
    "open_findings",
    "parse_catalog",
    "parse_since",
    "registry_owners",
    "suggest_catalog",
    "to_sarif",
    "verify_signoffs",
]

_HOMES = {
    "card": (
        "STATUSES", "Card", "CardTool", "build_card", "canonical_card", "card_a2a",
        "card_content", "card_hash", "card_markdown",
    ),
    "enforcement": ("CatalogFile", "CatalogScopePolicy"),
    "linter": ("PROBLEM_KINDS", "SEVERITIES", "Problem", "exercised_scopes", "lint_catalog"),
    "loader": ("CatalogError", "load_catalog", "parse_catalog"),
    "model": ("AgentEntry", "Catalog", "Location", "ToolEntry"),
    "observed": (
        "ApiSource", "Observations", "Source", "StoreSource", "ToolUse", "observe",
        "open_findings", "parse_since", "registry_owners",
    ),
    "sarif": ("to_sarif",),
    "signoffs": ("Signoff", "SignoffError", "SignoffLog", "newest_signoff", "verify_signoffs"),
    "suggest": ("suggest_catalog",),
    "vocabulary": ("Inference", "Scope", "Vocabularies", "Vocabulary", "load_vocabularies"),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'agentaudit.catalog' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentaudit.catalog.{module}"), name)
