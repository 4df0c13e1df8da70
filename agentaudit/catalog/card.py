"""The identity card: one document joining an agent's catalog entry, observed use,
lint problems, open findings and sign-off.

* :func:`card_content` is what a sign-off attests to: the catalog's declared join
  (agent, owner, description, audit destination, revocation path, and per tool the
  action, credential, granted and minimum scopes, lifetime, resource argument).
  :func:`card_hash` is ``sha256:`` over its RFC 8785 canonical JSON. Observed figures
  (exercised scopes), problems and findings change by the minute and are not hashed.
* Status: ``none`` (not in the catalog), ``unsigned`` (never signed), ``drifted`` (the
  card's hash is not the signed one, or calls since the sign-off went outside it: a
  tool it does not list, a scope it does not grant, a credential that outlived its
  lifetime or does not match its pattern), ``signed``.
* Renderings: :meth:`Card.to_json` (the keys of issue 13), :func:`card_markdown` (every
  recorded or catalogued value in a code span, so nothing in it is Markdown), and
  :func:`card_a2a` (an A2A AgentCard, the join in a data-only extension).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import rfc8785

from agentaudit.catalog.linter import (
    HIGH,
    Problem,
    exercised_scopes,
    lint_catalog,
    tool_inference,
    tool_provider,
)
from agentaudit.catalog.model import AgentEntry, Catalog
from agentaudit.catalog.observed import Observations
from agentaudit.catalog.signoffs import Signoff
from agentaudit.catalog.vocabulary import Vocabularies, load_vocabularies
from agentaudit.schema.identifiers import canonical_id

__all__ = [
    "A2A_EXTENSION_URI",
    "A2A_PROTOCOL_VERSION",
    "DRIFT_KINDS",
    "STATUSES",
    "Card",
    "CardTool",
    "build_card",
    "canonical_card",
    "card_a2a",
    "card_content",
    "card_hash",
    "card_markdown",
]

STATUSES: Final = ("signed", "unsigned", "drifted", "none")
DRIFT_KINDS: Final = frozenset(
    {"unlisted_tool", "scope_not_allowed", "lifetime_exceeded", "credential_mismatch"}
)
"""Observed problems that, seen after a sign-off, make the card ``drifted``."""
A2A_PROTOCOL_VERSION: Final = "0.3.0"
A2A_EXTENSION_URI: Final = (
    "https://github.com/agentaudit/agentaudit/blob/main/docs/catalog.md#a2a-extension-v1"
)


@dataclass(frozen=True)
class CardTool:
    """One tool on the card: the catalog's declaration and what was exercised."""

    name: str
    action: str
    credential: str
    granted_scopes: tuple[str, ...] | None
    min_scopes: tuple[str, ...] | None
    exercised_scopes: tuple[str, ...]
    lifetime_s: int | None
    resource_argument: str
    actions: tuple[str, ...] = ()
    calls: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "credential": self.credential,
            "granted_scopes": list(self.granted_scopes)
            if self.granted_scopes is not None
            else None,
            "min_scopes": list(self.min_scopes) if self.min_scopes is not None else None,
            "exercised_scopes": list(self.exercised_scopes),
            "lifetime_s": self.lifetime_s,
            "resource_argument": self.resource_argument,
            "actions": list(self.actions),
            "calls": self.calls,
        }


@dataclass(frozen=True)
class Card:
    """An agent's identity card (:func:`build_card`)."""

    agent: str
    owner: str
    description: str
    audit_destination: str
    revocation_path: str
    tools: tuple[CardTool, ...]
    problems: tuple[Problem, ...]
    findings: tuple[Mapping[str, Any], ...]
    status: str
    card_hash: str
    signoff: Signoff | None = None
    drift: tuple[str, ...] = ()
    registry_owner: str = ""
    window: str = ""
    url: str = ""
    version: str = ""
    catalog: str = ""
    content: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def signed_by(self) -> str:
        return self.signoff.signed_by if self.signoff else ""

    @property
    def signed_at(self) -> str:
        return self.signoff.signed_at if self.signoff else ""

    @property
    def has_high_problem(self) -> bool:
        return any(p.severity == HIGH for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        """The card with the keys of issue 13, plus ``status``, ``drift``,
        ``open_findings``, ``registry_owner`` and ``exercised_window``."""
        return {
            "agent": self.agent,
            "owner": self.owner,
            "description": self.description,
            "audit_destination": self.audit_destination,
            "revocation_path": self.revocation_path,
            "tools": [t.to_json() for t in self.tools],
            "problems": [p.to_json() for p in self.problems],
            "open_findings": [dict(f) for f in self.findings],
            "signed_by": self.signed_by or None,
            "signed_at": self.signed_at or None,
            "card_hash": self.card_hash,
            "status": self.status,
            "drift": list(self.drift),
            "registry_owner": self.registry_owner or None,
            "exercised_window": self.window,
        }


def card_content(entry: AgentEntry) -> dict[str, Any]:
    """What a sign-off attests to (hashed by :func:`card_hash`): the declared join."""
    return {
        "agent": entry.name,
        "owner": entry.owner,
        "description": entry.description,
        "audit_destination": entry.audit_destination,
        "revocation_path": entry.revocation_path,
        "tools": [
            {
                "name": t.name,
                "action": t.action,
                "actions": sorted(t.actions),
                "credential": t.credential,
                "granted_scopes": sorted(t.granted_scopes)
                if t.granted_scopes is not None
                else None,
                "min_scopes": sorted(t.min_scopes) if t.min_scopes is not None else None,
                "lifetime_s": t.lifetime_s,
                "resource_argument": t.resource_argument,
                "provider": t.provider or entry.provider,
            }
            for t in sorted(entry.tools, key=lambda t: t.name)
        ],
    }


def canonical_card(entry: AgentEntry) -> str:
    """The RFC 8785 canonical JSON of :func:`card_content` (what is signed)."""
    return bytes(rfc8785.dumps(card_content(entry))).decode()


def card_hash(entry: AgentEntry) -> str:
    """``sha256:<hex>`` of :func:`canonical_card`."""
    import hashlib

    return "sha256:" + hashlib.sha256(canonical_card(entry).encode()).hexdigest()


def _status(
    entry: AgentEntry | None,
    digest: str,
    signoff: Signoff | None,
    drift_problems: Sequence[Problem],
) -> tuple[str, tuple[str, ...]]:
    if entry is None:
        return "none", ()
    if signoff is None:
        return "unsigned", ()
    drift: list[str] = []
    if signoff.card_hash != digest:
        drift.append(
            f"the card changed since {signoff.signed_by} signed it at {signoff.signed_at} "
            f"(signed {signoff.card_hash[:19]}…, now {digest[:19]}…)"
        )
    for problem in drift_problems:
        if problem.problem in DRIFT_KINDS:
            tool = f" {problem.tool}" if problem.tool else ""
            drift.append(f"since the sign-off:{tool} {problem.problem}: {problem.detail}")
    return ("drifted" if drift else "signed"), tuple(drift)


def build_card(
    catalog: Catalog,
    agent: str,
    *,
    vocabularies: Vocabularies | None = None,
    observations: Observations | None = None,
    since_signoff: Observations | None = None,
    registry_owners: Mapping[str, str] | None = None,
    findings: Iterable[Mapping[str, Any]] = (),
    signoff: Signoff | None = None,
    window: str = "30d",
) -> Card:
    """The card of ``agent``: its catalog entry (``none`` status when absent), the
    scopes ``observations`` show exercised (the window ``window``), lint problems (of
    the catalog and of ``observations``), open ``findings``, and its status against
    ``signoff`` and the calls made ``since_signoff``."""
    vocab = vocabularies or load_vocabularies()
    entry = catalog.agent(agent)
    name = entry.name if entry else (canonical_id(agent) or agent)
    owners = {canonical_id(k) or k: v for k, v in (registry_owners or {}).items()}
    problems = lint_catalog(
        catalog, vocabularies=vocab, observations=observations, registry_owners=owners, agent=name
    )
    uses = {u.tool: u for u in (observations.for_agent(name) if observations else [])}
    tools: list[CardTool] = []
    for tool in entry.tools if entry else ():
        use = uses.get(tool.name)
        provider = tool_provider(entry, tool, vocab, use.presented if use else ())
        exercised = exercised_scopes(use, vocab, tool=tool, provider=provider) if use else {}
        inference = tool_inference(tool, vocab, provider)
        tools.append(
            CardTool(
                name=tool.name,
                action=tool.action,
                credential=tool.credential,
                granted_scopes=tool.granted_scopes,
                min_scopes=tool.min_scopes,
                exercised_scopes=tuple(sorted(exercised, key=lambda s: (-exercised[s], s))),
                lifetime_s=tool.lifetime_s,
                resource_argument=tool.resource_argument,
                actions=tuple(sorted(inference.actions)),
                calls=use.calls if use else 0,
            )
        )
    digest = card_hash(entry) if entry else ""
    drift_problems: list[Problem] = []
    if entry is not None and signoff is not None and since_signoff is not None:
        drift_problems = lint_catalog(
            catalog, vocabularies=vocab, observations=since_signoff, agent=name
        )
    status, drift = _status(entry, digest, signoff, drift_problems)
    return Card(
        agent=name,
        owner=entry.owner if entry else "",
        description=entry.description if entry else "",
        audit_destination=entry.audit_destination if entry else "",
        revocation_path=entry.revocation_path if entry else "",
        tools=tuple(tools),
        problems=tuple(problems),
        findings=tuple(findings),
        status=status,
        card_hash=digest,
        signoff=signoff if entry else None,
        drift=drift,
        registry_owner=owners.get(name, ""),
        window=window,
        url=entry.url if entry else "",
        version=entry.version if entry else "",
        catalog=catalog.path,
        content=card_content(entry) if entry else {},
    )


# -- Markdown ------------------------------------------------------------------------------

_INVISIBLE: Final = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A)) | {
    0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x2060, 0xFEFF,
}  # fmt: skip
_BACKTICKS: Final = re.compile("`+")


def _visible(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\u2421")
        elif 0x80 <= code < 0xA0 or code in _INVISIBLE:
            out.append(f"⟨U+{code:04X}⟩")
        else:
            out.append(char)
    return "".join(out)


def _code(value: object, *, cell: bool = False) -> str:
    """``value`` as a Markdown code span: shown as its text, never as markup."""
    text = _visible(str(value))
    if not text:
        return "—"
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text.startswith(" ") else ""
    span = f"{fence}{pad}{text}{pad}{fence}"
    return span.replace("|", "\\|") if cell else span


def _codes(values: Iterable[str] | None, *, cell: bool = False) -> str:
    if values is None:
        return "(not written down)"
    items = list(values)
    return ", ".join(_code(v, cell=cell) for v in items) if items else "(none)"


def card_markdown(card: Card) -> str:
    """The card for a human: every value in a code span (inert whatever it holds)."""
    status = {
        "signed": "signed",
        "unsigned": "UNSIGNED",
        "drifted": "DRIFTED",
        "none": "NOT IN THE CATALOG",
    }
    lines = [f"# Identity card: {_code(card.agent)}", ""]
    lines.append(f"**Status:** {status[card.status]}")
    if card.signoff is not None:
        lines.append(
            f"— signed by {_code(card.signed_by)} at {_code(card.signed_at)} "
            f"(hash {_code(card.signoff.card_hash)})"
        )
    lines += ["", f"**Card hash:** {_code(card.card_hash)}", ""]
    for reason in card.drift:
        lines.append(f"- drift: {_code(reason)}")
    if card.drift:
        lines.append("")
    owner = _code(card.owner, cell=True) if card.owner else "(no owner)"
    registry = (
        f" (agent registry: {_code(card.registry_owner, cell=True)})"
        if card.registry_owner and card.registry_owner != card.owner
        else ""
    )
    lines += [
        "| | |",
        "|---|---|",
        f"| Owner | {owner}{registry} |",
        f"| Description | {_code(card.description, cell=True)} |",
        f"| Audit destination | {_code(card.audit_destination, cell=True)} |",
        f"| Revocation path | {_code(card.revocation_path, cell=True)} |",
        "",
        f"## Tools ({len(card.tools)})",
        "",
        f"Exercised scopes are inferred from the calls of the last {_code(card.window)}.",
        "",
        "| Tool | Action | Credential | Granted | Minimum | Exercised | Lifetime | Resource "
        "argument |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tool in card.tools:
        lifetime = f"{tool.lifetime_s} s" if tool.lifetime_s is not None else "(not written down)"
        lines.append(
            f"| {_code(tool.name, cell=True)} | {_code(tool.action, cell=True)} | "
            f"{_code(tool.credential, cell=True)} | {_codes(tool.granted_scopes, cell=True)} | "
            f"{_codes(tool.min_scopes, cell=True)} | {_codes(tool.exercised_scopes, cell=True)} | "
            f"{lifetime} | {_code(tool.resource_argument, cell=True)} |"
        )
    lines += ["", f"## Problems ({len(card.problems)})", ""]
    for problem in card.problems:
        on = f" {_code(problem.tool)}" if problem.tool else ""
        lines.append(
            f"- **{problem.severity}** {_code(problem.problem)}{on}: {_code(problem.detail)}"
        )
    if not card.problems:
        lines.append("None.")
    lines += ["", f"## Open findings ({len(card.findings)})", ""]
    for finding in card.findings:
        lines.append(
            f"- **{_code(finding.get('severity', ''))}** {_code(finding.get('rule', ''))} "
            f"{_code(finding.get('ts', ''))}: {_code(finding.get('summary', ''))} "
            f"({_code(finding.get('finding_id', ''))})"
        )
    if not card.findings:
        lines.append("None.")
    return "\n".join(lines) + "\n"


# -- A2A -------------------------------------------------------------------------------------


def _mailto(owner: str) -> str:
    match = re.search(r"<([^<>\s@]+@[^<>\s@]+)>\s*$", owner)
    return f"mailto:{match.group(1)}" if match else ""


def card_a2a(card: Card) -> dict[str, Any]:
    """An A2A AgentCard (protocol 0.3.0) of the card: the agent, its skills (one per
    tool), its owner as provider (when the owner has an address); the whole join in the
    data-only extension :data:`A2A_EXTENSION_URI` under ``capabilities.extensions``.
    ``url`` is the catalog's ``url`` (else a ``urn:agentaudit:agent:`` name: agentaudit
    does not know the agent's endpoint); ``version`` the catalog's, else the card hash's
    first 12 hex digits."""
    join = card.to_json()
    version = card.version or (card.card_hash.removeprefix("sha256:")[:12] or "0")
    a2a: dict[str, Any] = {
        "protocolVersion": A2A_PROTOCOL_VERSION,
        "name": card.agent,
        "description": card.description or f"agent {card.agent}",
        "url": card.url or f"urn:agentaudit:agent:{card.agent}",
        "version": version,
        "capabilities": {
            "streaming": False,
            "pushNotifications": False,
            "extensions": [
                {
                    "uri": A2A_EXTENSION_URI,
                    "description": "agentaudit identity card: owner, per-tool credentials and "
                    "scopes (granted, minimum, exercised), lifetimes, audit destination, "
                    "revocation path, lint problems, open findings, sign-off",
                    "required": False,
                    "params": join,
                }
            ],
        },
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [
            {
                "id": tool.name,
                "name": tool.name,
                "description": tool.action or f"calls {tool.name}",
                "tags": ["agentaudit", *tool.actions],
            }
            for tool in card.tools
        ],
    }
    mailto = _mailto(card.owner)
    if card.owner and mailto:
        a2a["provider"] = {"organization": card.owner, "url": mailto}
    return a2a
