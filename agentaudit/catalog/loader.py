"""Loading a catalog file: TOML -> validated :class:`~agentaudit.catalog.model.Catalog`.

Every problem is reported at once, each naming the file, the line and the dotted key
(``agents.mail-assistant.tools.send_email.min_scopes``): unknown keys, wrong types,
agent names that are not canonical ids or that collide after canonicalisation, text
with control or invisible formatting characters. Lines come from
:mod:`~agentaudit.catalog._toml_lines`.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from agentaudit.catalog._toml_lines import KeyLines, key_lines
from agentaudit.catalog.model import AGENT_KEYS, TOOL_KEYS, AgentEntry, Catalog, Location, ToolEntry
from agentaudit.catalog.vocabulary import VERBS, action_verb
from agentaudit.errors import ConfigError
from agentaudit.schema.identifiers import canonical_id

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["CatalogError", "load_catalog", "parse_catalog"]

MAX_TEXT: Final = 2000
_TOKEN = re.compile(r"^[^\s]+$")
_TOML_AT = re.compile(r"\(at line (\d+), column \d+\)")


class CatalogError(ConfigError):
    """The catalog file cannot be used; ``problems`` holds every (location, message)."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        self.problems = problems
        lines = [f"{where}: {message}" for where, message in problems]
        if len(lines) == 1:
            super().__init__(f"catalog {lines[0]}")
        else:
            head = f"catalog {problems[0][0].path}: {len(lines)} problems"
            super().__init__("\n  ".join([head, *lines]))

    def report(self) -> str:
        """Every problem, one per line."""
        return "\n".join(f"{where}: {message}" for where, message in self.problems)


class _Checker:
    def __init__(self, path: str, lines: KeyLines) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[tuple[Location, str]] = []

    def fail(self, keys: list[str], message: str) -> None:
        from agentaudit.catalog.model import _dotted

        self.problems.append((Location(self.path, self.lines.line(*keys), _dotted(keys)), message))

    def text(self, keys: list[str], value: Any, *, token: bool = False) -> str:
        if not isinstance(value, str):
            self.fail(keys, f"must be a string, not {_kind(value)}")
            return ""
        bad = next(
            (c for c in value if unicodedata.category(c) in ("Cc", "Cf") and c not in "\t"), None
        )
        if bad is not None:
            self.fail(keys, f"contains the control or invisible character U+{ord(bad):04X}")
            return ""
        if len(value) > MAX_TEXT:
            self.fail(keys, f"is longer than {MAX_TEXT} characters")
            return ""
        if token and value and not _TOKEN.match(value):
            self.fail(keys, "must not contain whitespace")
            return ""
        return value.strip()

    def strings(self, keys: list[str], value: Any) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.fail(keys, f"must be a list of strings, not {_kind(value)}")
            return None
        out: list[str] = []
        for item in value:
            text = self.text(keys, item, token=True)
            if isinstance(item, str) and not item.strip():
                self.fail(keys, "holds an empty string")
            elif text and text in out:
                self.fail(keys, f"lists {text!r} twice")
            elif text:
                out.append(text)
        return tuple(out)

    def unknown(self, keys: list[str], table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.fail([*keys, key], f"unknown key (allowed: {', '.join(allowed)})")


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _tool(check: _Checker, keys: list[str], name: str, table: Any) -> ToolEntry | None:
    if not isinstance(table, dict):
        check.fail(keys, "must be a table ([agents.NAME.tools.TOOL])")
        return None
    tool_name = name if check.text(keys, name) else ""
    if not tool_name:
        check.fail(keys, "a tool needs a non-empty name")
        return None
    check.unknown(keys, table, TOOL_KEYS)
    values: dict[str, Any] = {"name": tool_name}
    for key in ("action", "credential", "resource_argument"):
        if key in table:
            values[key] = check.text([*keys, key], table[key], token=key == "resource_argument")
    if "provider" in table:
        values["provider"] = check.text([*keys, "provider"], table["provider"], token=True) or None
    for key in ("min_scopes", "granted_scopes"):
        if key in table:
            values[key] = check.strings([*keys, key], table[key])
    if "actions" in table:
        actions = check.strings([*keys, "actions"], table["actions"]) or ()
        bad = [a for a in actions if "." not in a or action_verb(a) not in VERBS]
        if bad:
            check.fail(
                [*keys, "actions"], f"{bad[0]!r} is not AREA.VERB (verbs: {', '.join(VERBS)})"
            )
        values["actions"] = actions
    if "lifetime_s" in table:
        lifetime = table["lifetime_s"]
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            check.fail([*keys, "lifetime_s"], "must be a whole number of seconds > 0")
        else:
            values["lifetime_s"] = lifetime
    return ToolEntry(**values)


def _agent(check: _Checker, key: str, table: Any) -> AgentEntry | None:
    keys = ["agents", key]
    if not isinstance(table, dict):
        check.fail(keys, "must be a table ([agents.NAME])")
        return None
    name = canonical_id(key)
    if name is None:
        check.fail(
            keys, "the agent name must be printable ASCII, 1-256 characters (a canonical agent id)"
        )
        return None
    check.unknown(keys, table, AGENT_KEYS)
    values: dict[str, Any] = {"name": name, "key": key}
    for field in ("owner", "description", "audit_destination", "revocation_path", "url", "version"):
        if field in table:
            values[field] = check.text([*keys, field], table[field])
    if "provider" in table:
        values["provider"] = check.text([*keys, "provider"], table["provider"], token=True) or None
    tools = table.get("tools", {})
    if not isinstance(tools, dict):
        check.fail([*keys, "tools"], "must be a table of tools ([agents.NAME.tools.TOOL])")
        tools = {}
    entries = [_tool(check, [*keys, "tools", n], n, t) for n, t in tools.items()]
    values["tools"] = tuple(t for t in entries if t is not None)
    return AgentEntry(**values)


def parse_catalog(text: str, path: str = "<catalog>") -> Catalog:
    """Validate catalog ``text``; ``path`` names it in errors. Raises CatalogError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_AT.search(str(exc))
        line = int(found.group(1)) if found else 1
        message = _TOML_AT.sub("", str(exc)).strip()
        raise CatalogError([(Location(path, line, ""), f"not valid TOML: {message}")]) from None
    check = _Checker(path, key_lines(text))
    check.unknown([], data, ("agents",))
    agents_table = data.get("agents", {})
    if not isinstance(agents_table, dict):
        check.fail(["agents"], "must be a table of agents ([agents.NAME])")
        agents_table = {}
    agents: list[AgentEntry] = []
    for key, table in agents_table.items():
        entry = _agent(check, key, table)
        if entry is None:
            continue
        twin = next((a for a in agents if a.name == entry.name), None)
        if twin is not None:
            check.fail(
                ["agents", key],
                f"names the same agent as [agents.{twin.key}] (ids compare case-folded)",
            )
            continue
        agents.append(entry)
    if check.problems:
        raise CatalogError(sorted(check.problems, key=lambda p: p[0].line))
    return Catalog(path, tuple(agents), check.lines)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate the catalog at ``path``. Raises CatalogError (a ConfigError:
    exit code 2) naming the file, line and key of every problem."""
    shown = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogError(
            [(Location(shown, 0, ""), f"cannot read the catalog: {exc.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogError([(Location(shown, line, ""), "is not UTF-8 text")]) from None
    return parse_catalog(text, shown)
