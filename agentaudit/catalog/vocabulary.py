"""Scope vocabularies: what each provider's scopes allow, and the narrowest scope per action.

An *action* is ``AREA.VERB`` (``mail.send``, ``calendar.create``, ``code.read``). Each
provider file in ``vocabularies/`` (package data) maps its scopes to the actions they
allow and names the narrowest scope per action; ``_terms.toml`` holds the words that
tell an action from a tool's name and the resources it touched. Scopes unknown to every
vocabulary are *unknown*: the linter then relies on the catalog's own ``min_scopes``.

Resolution of a written scope (:meth:`Vocabularies.resolve`):

* with a provider (the catalog's ``provider`` key): that vocabulary only; Google scopes
  may be written short (``gmail.send``) or in full
  (``https://www.googleapis.com/auth/gmail.send``); Microsoft Graph names match
  case-insensitively;
* without one: the scope as written (case-sensitive) in every vocabulary; it resolves
  when exactly one knows it (``Mail.Send`` is Graph, ``mail.send`` the broker's).

Pure data and functions; standard library only.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "REACHES",
    "VERBS",
    "Inference",
    "Scope",
    "Terms",
    "Vocabularies",
    "Vocabulary",
    "VocabularyError",
    "action_area",
    "action_verb",
    "load_vocabularies",
    "name_words",
]

VERBS: Final = ("read", "create", "update", "delete", "send", "share", "export", "admin")
"""The kinds of action, in the order they are shown."""
REACHES: Final = ("app", "owned", "user", "private", "shared", "public", "all")
"""How far a scope reaches; ``user`` (what the user owns or can access) by default."""

_WORD: Final = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


class VocabularyError(ValueError):
    """A vocabulary file is malformed (the message names the file and the key)."""


def name_words(text: str) -> list[str]:
    """The lower-case words of a tool name or resource type (``sendEmail``,
    ``send_email``, ``calendar.events`` -> ``send``, ``email`` / ...)."""
    return [w.lower() for w in _WORD.findall(text)]


def action_verb(action: str) -> str:
    """``mail.send`` -> ``send``."""
    return action.rpartition(".")[2]


def action_area(action: str) -> str:
    """``mail.send`` -> ``mail``."""
    return action.rpartition(".")[0]


@dataclass(frozen=True)
class Scope:
    """One scope of one provider, named as its vocabulary writes it."""

    name: str
    provider: str
    allows: frozenset[str]
    description: str = ""
    reach: str = "user"

    @property
    def verbs(self) -> frozenset[str]:
        return frozenset(action_verb(a) for a in self.allows)

    @property
    def areas(self) -> frozenset[str]:
        return frozenset(action_area(a) for a in self.allows)


@dataclass(frozen=True)
class Vocabulary:
    """One provider's scopes (``scopes``: name -> Scope) and narrowest scope per action."""

    id: str
    name: str
    reference: str
    scopes: Mapping[str, Scope]
    narrowest: Mapping[str, str]
    scope_prefix: str = ""
    case_sensitive: bool = True
    _folded: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def scope(self, written: str, *, exact: bool = False) -> Scope | None:
        """The scope ``written`` names here, or None. ``exact``: as written, case included
        (the full Google form still matches its short name)."""
        name = written.strip()
        if self.scope_prefix and name.startswith(self.scope_prefix):
            short = name[len(self.scope_prefix) :]
            if short in self.scopes:
                name = short
        found = self.scopes.get(name)
        if found is None and not self.case_sensitive and not exact:
            canonical = self._folded.get(name.casefold())
            found = self.scopes.get(canonical) if canonical else None
        return found

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(a for s in self.scopes.values() for a in s.allows)

    def narrowest_scope(self, action: str) -> Scope | None:
        name = self.narrowest.get(action)
        return self.scopes.get(name) if name else None

    def allowing(self, action: str) -> list[Scope]:
        return [s for s in self.scopes.values() if action in s.allows]


@dataclass(frozen=True)
class Terms:
    """Words that name verbs and areas (``_terms.toml``), and verbs that imply others."""

    verbs: Mapping[str, str]
    areas: Mapping[str, str]
    implies: Mapping[str, frozenset[str]]

    def verbs_in(self, words: Iterable[str]) -> set[str]:
        return {self.verbs[w] for w in words if w in self.verbs}

    def areas_in(self, words: Iterable[str]) -> set[str]:
        return {self.areas[w] for w in words if w in self.areas}

    def with_implied(self, verbs: Iterable[str]) -> set[str]:
        out = set(verbs)
        for verb in list(out):
            out |= self.implies.get(verb, frozenset())
        return out


@dataclass(frozen=True)
class Inference:
    """What a tool does, as far as it can be told: ``actions`` and how it was told
    (``basis``: ``catalog``, ``name``, ``min_scopes``, or ``unknown``)."""

    actions: frozenset[str]
    basis: str

    @property
    def verbs(self) -> frozenset[str]:
        return frozenset(action_verb(a) for a in self.actions)


class Vocabularies:
    """Every loaded vocabulary, and the questions the linter asks of them."""

    def __init__(self, vocabularies: Sequence[Vocabulary], terms: Terms) -> None:
        self._by_id = {v.id: v for v in vocabularies}
        self.terms = terms

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def get(self, provider: str) -> Vocabulary | None:
        return self._by_id.get(provider)

    def __iter__(self) -> Any:
        return iter(self._by_id.values())

    def resolve(self, scope: str, provider: str | None = None) -> Scope | None:
        """The scope ``scope`` names (see the module docstring), or None when unknown
        or ambiguous."""
        if provider is not None:
            vocabulary = self._by_id.get(provider)
            return vocabulary.scope(scope) if vocabulary else None
        found = [s for v in self._by_id.values() if (s := v.scope(scope, exact=True))]
        return found[0] if len(found) == 1 else None

    def provider_of(self, scopes: Iterable[str]) -> str | None:
        """The one provider whose vocabulary knows the scopes that resolve, or None."""
        providers = {s.provider for s in (self.resolve(x) for x in scopes) if s is not None}
        return providers.pop() if len(providers) == 1 else None

    def allows(self, scope: str, provider: str | None = None) -> frozenset[str] | None:
        """The actions ``scope`` allows, or None when it is unknown."""
        found = self.resolve(scope, provider)
        return found.allows if found else None

    def narrowest(self, action: str, provider: str | None) -> Scope | None:
        """The narrowest scope for ``action`` at ``provider``; without a provider, the one
        vocabulary that has the action (None when none or several have it)."""
        if provider is not None:
            vocabulary = self._by_id.get(provider)
            return vocabulary.narrowest_scope(action) if vocabulary else None
        found = [s for v in self._by_id.values() if (s := v.narrowest_scope(action))]
        return found[0] if len(found) == 1 else None

    def infer_actions(
        self,
        tool: str,
        scopes: Iterable[str],
        *,
        resource_types: Iterable[str] = (),
        provider: str | None = None,
        declared: Iterable[str] = (),
        min_scopes: Iterable[str] | None = None,
    ) -> Inference:
        """What ``tool`` does.

        ``declared`` (the catalog's ``actions``) wins. Otherwise the verbs of the tool's
        name in the areas its name and resource types name (narrowed to the areas of
        ``scopes`` when both say something), kept when a vocabulary knows the action.
        Failing that, what ``min_scopes`` allow. Else unknown (empty).
        """
        declared = frozenset(declared)
        if declared:
            return Inference(declared, "catalog")
        resolved = [s for s in (self.resolve(x, provider) for x in scopes) if s is not None]
        scope_areas = {a for s in resolved for a in s.areas}
        words = name_words(tool)
        verbs = self.terms.verbs_in(words)
        noun_areas = self.terms.areas_in(
            [*words, *(w for t in resource_types for w in name_words(t))]
        )
        if noun_areas and scope_areas and noun_areas & scope_areas:
            areas = noun_areas & scope_areas
        else:
            areas = noun_areas or scope_areas
        known = self._known_actions(provider)
        actions = frozenset(f"{a}.{v}" for a in areas for v in verbs) & known
        if actions:
            return Inference(actions, "name")
        if min_scopes is not None:
            allowed = [self.allows(s, provider) for s in min_scopes]
            union = frozenset(a for got in allowed if got for a in got)
            if union:
                return Inference(union, "min_scopes")
        return Inference(frozenset(), "unknown")

    def exercised(
        self, actions: Iterable[str], presented: Iterable[str], provider: str | None = None
    ) -> tuple[str, ...]:
        """Of the ``presented`` scopes, the ones a call doing ``actions`` used: per action,
        the presented scope that allows it and allows the fewest other actions."""
        presented = list(dict.fromkeys(presented))
        used: list[str] = []
        for action in sorted(set(actions)):
            candidates = [
                (len(found.allows), REACHES.index(found.reach) if found.reach in REACHES else 2, s)
                for s in presented
                if (found := self.resolve(s, provider)) is not None and action in found.allows
            ]
            if candidates:
                used.append(min(candidates)[2])
        return tuple(dict.fromkeys(used))

    def related(self, scopes: Iterable[str], words: Iterable[str]) -> tuple[str, ...]:
        """The ``scopes`` that concern what ``words`` (a tool name's words, resource
        types) name: their area is named, or their first word is one of ``words``. The
        guess of exercised scopes when a call's action cannot be told."""
        words = set(words)
        areas = self.terms.areas_in(words) | words
        out = []
        for scope in scopes:
            found = self.resolve(scope)
            first = name_words(scope)[:1]
            if (found is not None and found.areas & areas) or (first and first[0] in areas):
                out.append(scope)
        return tuple(out)

    def _known_actions(self, provider: str | None) -> frozenset[str]:
        if provider is not None and provider in self._by_id:
            return self._by_id[provider].actions
        return frozenset(a for v in self._by_id.values() for a in v.actions)


# -- loading ------------------------------------------------------------------------------


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise VocabularyError(f"{where}: must be a list of non-empty strings")
    return list(value)


def _parse_vocabulary(data: Mapping[str, Any], origin: str) -> Vocabulary:
    known = {"id", "name", "reference", "scope_prefix", "case_sensitive", "scopes", "narrowest"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise VocabularyError(f"{origin}: unknown key {unknown[0]!r}")
    provider = data.get("id")
    if not isinstance(provider, str) or not provider:
        raise VocabularyError(f"{origin}: 'id' must be a non-empty string")
    scopes: dict[str, Scope] = {}
    for name, entry in dict(data.get("scopes", {})).items():
        where = f"{origin}: scopes.{name!r}"
        if not isinstance(entry, dict) or set(entry) - {"allows", "description", "reach"}:
            raise VocabularyError(f"{where}: keys are allows, description, reach")
        allows = _strings(entry.get("allows"), f"{where}.allows")
        bad = [a for a in allows if action_verb(a) not in VERBS or not action_area(a)]
        if bad:
            raise VocabularyError(
                f"{where}.allows: {bad[0]!r} is not AREA.VERB ({', '.join(VERBS)})"
            )
        reach = entry.get("reach", "user")
        if reach not in REACHES:
            raise VocabularyError(f"{where}.reach: one of {', '.join(REACHES)}")
        scopes[name] = Scope(
            name, provider, frozenset(allows), str(entry.get("description", "")), reach
        )
    narrowest = dict(data.get("narrowest", {}))
    for action, scope in narrowest.items():
        if scope not in scopes or action not in scopes[scope].allows:
            raise VocabularyError(f"{origin}: narrowest.{action!r} = {scope!r} does not allow it")
    case_sensitive = bool(data.get("case_sensitive", True))
    return Vocabulary(
        id=provider,
        name=str(data.get("name", provider)),
        reference=str(data.get("reference", "")),
        scopes=scopes,
        narrowest=narrowest,
        scope_prefix=str(data.get("scope_prefix", "")),
        case_sensitive=case_sensitive,
        _folded={} if case_sensitive else {n.casefold(): n for n in scopes},
    )


def _parse_terms(data: Mapping[str, Any]) -> Terms:
    verbs = {w: verb for verb, words in data.get("verbs", {}).items() for w in words}
    areas = {w: area for area, words in data.get("areas", {}).items() for w in words}
    implies = {v: frozenset(o) for v, o in data.get("implies", {}).items()}
    unknown = sorted({*verbs.values(), *implies} - set(VERBS))
    if unknown:
        raise VocabularyError(f"_terms.toml: {unknown[0]!r} is not one of {', '.join(VERBS)}")
    return Terms(verbs, areas, implies)


def _read(text: str, origin: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise VocabularyError(f"{origin}: {exc}") from None
    return data


@functools.lru_cache(maxsize=1)
def _packaged() -> Vocabularies:
    folder = resources.files("agentaudit.catalog") / "vocabularies"
    terms = _parse_terms(_read((folder / "_terms.toml").read_text(), "_terms.toml"))
    files = sorted(
        (e for e in folder.iterdir() if e.name.endswith(".toml") and not e.name.startswith("_")),
        key=lambda e: e.name,
    )
    return Vocabularies(
        [_parse_vocabulary(_read(e.read_text(), e.name), e.name) for e in files], terms
    )


def load_vocabularies(extra: Sequence[Path] = ()) -> Vocabularies:
    """The packaged vocabularies (Google, Microsoft, GitHub, Slack, agentaudit's broker),
    plus provider files ``extra`` in the same format (an id of the same name replaces)."""
    packaged = _packaged()
    if not extra:
        return packaged
    added = [_parse_vocabulary(_read(p.read_text(), str(p)), str(p)) for p in extra]
    ids = {v.id for v in added}
    return Vocabularies([*(v for v in packaged if v.id not in ids), *added], packaged.terms)
