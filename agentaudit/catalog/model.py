"""The catalog's value types: agents, their tools, and where each key is written.

Frozen dataclasses with no behaviour beyond lookups, so every consumer (linter, card,
broker, detector, dashboards) can import them without loading a store or a vocabulary.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Final

from agentaudit.catalog._toml_lines import KeyLines
from agentaudit.schema.identifiers import canonical_id

__all__ = [
    "AGENT_KEYS",
    "TOOL_KEYS",
    "AgentEntry",
    "Catalog",
    "Location",
    "ToolEntry",
]

AGENT_KEYS: Final = (
    "owner", "description", "audit_destination", "revocation_path", "provider", "url",
    "version", "tools",
)  # fmt: skip
"""The keys of ``[agents.NAME]`` (docs/catalog.md)."""
TOOL_KEYS: Final = (
    "action", "actions", "min_scopes", "credential", "granted_scopes", "lifetime_s",
    "resource_argument", "provider",
)  # fmt: skip
"""The keys of ``[agents.NAME.tools.TOOL]`` (docs/catalog.md)."""


@dataclass(frozen=True)
class Location:
    """Where something is written: file, 1-based line, and the dotted key."""

    path: str
    line: int
    key: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.key}" if self.key else f"{self.path}:{self.line}"


@dataclass(frozen=True)
class ToolEntry:
    """``[agents.NAME.tools.TOOL]``: one tool the agent can call.

    ``min_scopes`` / ``granted_scopes`` / ``lifetime_s`` are None when not written down
    (which the linter reports); ``actions`` are vocabulary actions (``mail.send``) when the
    catalog states them, ``action`` is the action in words.
    """

    name: str
    action: str = ""
    actions: tuple[str, ...] = ()
    min_scopes: tuple[str, ...] | None = None
    credential: str = ""
    granted_scopes: tuple[str, ...] | None = None
    lifetime_s: int | None = None
    resource_argument: str = ""
    provider: str | None = None

    def credential_matches(self, credential_id: str, issuer: str = "") -> bool:
        """Whether an observed credential is the one this tool resolves to: ``credential``
        is a glob over the credential id (``cred-mail-*``) or equals its issuer. True when
        the catalog names no credential (nothing to contradict)."""
        if not self.credential:
            return True
        return fnmatch.fnmatchcase(credential_id, self.credential) or (
            bool(issuer) and issuer == self.credential
        )


@dataclass(frozen=True)
class AgentEntry:
    """``[agents.NAME]``: one agent's identity card as written.

    ``name`` is the canonical agent id (:func:`agentaudit.schema.identifiers.canonical_id`);
    ``key`` is the section name as written in the file.
    """

    name: str
    key: str
    owner: str = ""
    description: str = ""
    audit_destination: str = ""
    revocation_path: str = ""
    provider: str | None = None
    url: str = ""
    version: str = ""
    tools: tuple[ToolEntry, ...] = ()

    def tool(self, name: str) -> ToolEntry | None:
        return next((t for t in self.tools if t.name == name), None)

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tools)


@dataclass(frozen=True)
class Catalog:
    """A loaded, validated catalog (:func:`agentaudit.catalog.load_catalog`)."""

    path: str
    agents: tuple[AgentEntry, ...] = ()
    lines: KeyLines = field(default_factory=lambda: KeyLines({}), repr=False, compare=False)

    def agent(self, name: str) -> AgentEntry | None:
        """The agent whose canonical id equals ``name``'s (``Mail-Assistant`` finds
        ``mail-assistant``); None for an unknown or non-canonical name."""
        wanted = canonical_id(name)
        return next((a for a in self.agents if a.name == wanted), None) if wanted else None

    @property
    def agent_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.agents)

    def locate(self, agent: str | None = None, tool: str | None = None, key: str = "") -> Location:
        """Where ``agents.AGENT[.tools.TOOL][.KEY]`` is written (its nearest written
        ancestor when the key itself is not)."""
        entry = self.agent(agent) if agent else None
        path: list[str] = ["agents"]
        if agent:
            path.append(entry.key if entry else agent)
        if agent and tool:
            path += ["tools", tool]
        if key:
            path.append(key)
        return Location(self.path, self.lines.line(*path), _dotted(path))


def _dotted(path: list[str]) -> str:
    parts = []
    for part in path:
        bare = part and all(c.isascii() and (c.isalnum() or c in "-_") for c in part)
        parts.append(part if bare else '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ".".join(parts)
