"""Least privilege from observed use: a draft catalog written from the store.

Per observed agent and tool: the scopes presented (``granted_scopes``), the scopes the
calls exercised and, from the vocabularies, the narrowest scope per inferred action
(``min_scopes``), the credentials seen (a ``credential`` pattern), the longest observed
credential lifetime (``lifetime_s``), the argument whose value names the resource
(``resource_argument``) and the resource types touched. What only a human can say
(owner, description, the action in words, audit destination, revocation path) is left
empty with a ``TODO`` comment, so ``agentaudit lint`` flags it until someone decides.

Loading the draft gives a catalog that lists every tool observed (no ``unlisted_tool``
problem); names the loader refuses (ids that are not canonical, control characters) are
left out with a comment, and stay ``unlisted`` for the linter.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from agentaudit.catalog import _toml_text as t
from agentaudit.catalog.linter import exercised_scopes
from agentaudit.catalog.observed import Observations, ToolUse
from agentaudit.catalog.vocabulary import Vocabularies, load_vocabularies
from agentaudit.schema.identifiers import canonical_id

__all__ = ["suggest_catalog"]

_COLUMN = 44


@dataclass(frozen=True)
class _Tool:
    name: str
    uses: tuple[ToolUse, ...]


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(assignment: str, note: str = "") -> str:
    if not note:
        return assignment
    pad = " " * max(1, _COLUMN - len(assignment))
    return f"{assignment}{pad}# {t.comment(note)}"


def _cataloguable(name: str) -> bool:
    return bool(name.strip()) and not any(unicodedata.category(c) in ("Cc", "Cf") for c in name)


def _credential_pattern(ids: tuple[str, ...], issuers: tuple[str, ...], count: int) -> str:
    if count == 1 and ids:
        return ids[0]
    if ids:
        prefix = ids[0]
        for other in ids[1:]:
            while not other.startswith(prefix):
                prefix = prefix[:-1]
        if len(prefix) >= 3:
            return prefix.replace("*", "?").replace("[", "?") + "*"
    if len(issuers) == 1:
        return issuers[0]
    return ""


def _tool_lines(tool: _Tool, vocab: Vocabularies) -> list[str]:  # noqa: PLR0915 - one draft, top to bottom
    uses = tool.uses
    calls = sum(u.calls for u in uses)
    presented: dict[str, int] = {}
    types: dict[str, int] = {}
    for use in uses:
        for scope_use in use.uses:
            for scope in scope_use.scopes:
                presented[scope] = presented.get(scope, 0) + scope_use.calls
            for kind in scope_use.resource_types:
                types[kind or "(no type)"] = types.get(kind or "(no type)", 0) + scope_use.calls
    ordered = [s for s, _ in sorted(presented.items(), key=lambda kv: (-kv[1], kv[0]))]
    provider = vocab.provider_of(ordered)
    exercised: dict[str, int] = {}
    for use in uses:
        for scope, count in exercised_scopes(use, vocab, provider=provider).items():
            exercised[scope] = exercised.get(scope, 0) + count
    resource_types = [k for k, _ in sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))]
    inference = vocab.infer_actions(
        tool.name, ordered, resource_types=resource_types, provider=provider
    )
    lines = [f"# {t.comment(f'{calls} call(s) observed')}"]
    lines.append(_line('action = ""', f"TODO: what {tool.name} does, in words"))
    if inference.actions:
        lines.append(
            _line(
                f"actions = {t.strings(sorted(inference.actions))}",
                "inferred from the tool's name and scopes: check",
            )
        )
    minimum: list[str] = []
    notes: list[str] = []
    for action in sorted(inference.actions):
        narrowest = vocab.narrowest(action, provider)
        if narrowest is not None:
            minimum.append(narrowest.name)
            notes.append(f"{action}: {narrowest.name}")
    if not minimum:
        minimum = [s for s, _ in sorted(exercised.items(), key=lambda kv: (-kv[1], kv[0]))]
        notes = ["the scopes the calls exercised"] if minimum else []
    used = ", ".join(f"{s} ({n} call(s))" for s, n in sorted(exercised.items())) or "none inferred"
    if minimum:
        minimum = list(dict.fromkeys(minimum))
        lines.append(
            _line(f"min_scopes = {t.strings(minimum)}", "narrowest per action: " + "; ".join(notes))
        )
        lines.append(f"# {t.comment('exercised: ' + used)}")
    else:
        lines.append(
            f"# {t.comment('TODO min_scopes: no action could be inferred; exercised: ' + used)}"
        )
    count = sum(u.credentials.count for u in uses)
    sample = tuple(sorted({c for u in uses for c in u.credentials.sample}))
    issuers = tuple(sorted({i for u in uses for i in u.credentials.issuers}))
    pattern = _credential_pattern(sample, issuers, count)
    seen = f"{count} credential(s) seen" + (f", e.g. {sample[0]}" if sample else "")
    if pattern:
        lines.append(_line(f"credential = {t.string(pattern)}", seen))
    else:
        lines.append(f"# {t.comment('TODO credential: ' + seen)}")
    if ordered:
        lines.append(_line(f"granted_scopes = {t.strings(ordered)}", "presented on the calls"))
    lifetimes = [u.credentials.max_lifetime_s for u in uses if u.credentials.max_lifetime_s]
    if lifetimes:
        longest = max(lifetimes)
        lines.append(_line(f"lifetime_s = {longest}", "the longest observed lifetime"))
    else:
        lines.append("# TODO lifetime_s: no credential lifetime observed")
    argument = next((u.resource_argument() for u in uses if u.resource_argument()), "")
    if argument and _cataloguable(argument) and " " not in argument:
        lines.append(
            _line(f"resource_argument = {t.string(argument)}", "its value named the resource")
        )
    else:
        keys = sorted({k for u in uses for k in u.argument_keys})
        lines.append(
            "# "
            + t.comment("TODO resource_argument: arguments seen: " + (", ".join(keys) or "none"))
        )
    if resource_types:
        lines.append(f"# {t.comment('resource types touched: ' + ', '.join(resource_types))}")
    return lines


def suggest_catalog(
    observations: Observations,
    *,
    vocabularies: Vocabularies | None = None,
    registry_owners: Mapping[str, str] | None = None,
    source: str = "",
) -> str:
    """The draft catalog (TOML text) of ``observations``. ``registry_owners`` (canonical
    agent id -> owner) go into comments, for the human who fills in ``owner``."""
    vocab = vocabularies or load_vocabularies()
    owners = {canonical_id(k) or k: v for k, v in (registry_owners or {}).items()}
    header = [
        "# Draft identity-card catalog written by `agentaudit catalog suggest`",
        f"# from {sum(u.calls for u in observations.tools)} tool call(s) between "
        f"{_iso(observations.since_ns)} and {_iso(observations.until_ns)}"
        + (f" ({t.comment(source)})" if source else "")
        + ".",
        "# An owner edits it, fills in every TODO, runs `agentaudit lint`, and commits it.",
        "# min_scopes is the narrowest scope per inferred action (vocabularies), not what was",
        "# granted; lint reports every granted scope beyond it. docs/catalog.md says how.",
    ]
    agents: dict[str, dict[str, list[ToolUse]]] = {}
    refused: list[str] = []
    for use in observations.tools:
        canonical = canonical_id(use.agent)
        if canonical is None:
            refused.append(f"agent {use.agent!r}: not a canonical id (printable ASCII)")
            continue
        if not _cataloguable(use.tool):
            refused.append(f"tool {use.tool!r} of {canonical}: control characters in its name")
            continue
        agents.setdefault(canonical, {}).setdefault(use.tool, []).append(use)
    lines = header
    for name in refused:
        lines.append(f"# left out (cannot have a card): {t.comment(name)}")
    for agent, tools in sorted(agents.items()):
        registry = owners.get(agent)
        lines += ["", f"[agents.{t.key(agent)}]"]
        owner_note = (
            f"TODO: the agent registry says {registry!r}; confirm or correct"
            if registry
            else "TODO: the person or team answerable for this agent"
        )
        lines.append(_line('owner = ""', owner_note))
        lines.append(_line('description = ""', "TODO: what the agent does, for whom"))
        lines.append(_line('audit_destination = ""', "TODO: where its audit spans go"))
        lines.append(
            _line(
                'revocation_path = ""', "TODO: how to quarantine it, who can, which backends fire"
            )
        )
        for tool_name, uses in sorted(tools.items()):
            lines += ["", f"[agents.{t.key(agent)}.tools.{t.key(tool_name)}]"]
            lines += _tool_lines(_Tool(tool_name, tuple(uses)), vocab)
    return "\n".join(lines) + "\n"
