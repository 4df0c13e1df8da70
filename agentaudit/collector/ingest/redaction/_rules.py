"""Redaction rules as data: the packaged rule packs and the ``[redaction]`` config section.

A rule pack is a TOML file in ``rules/`` beside this module holding ``[[rule]]`` tables.
The config file's ``[redaction]`` section picks packs, disables or re-actions rules, adds
user rules and allow-lists. :func:`parse_policy` turns that section into a validated,
frozen :class:`Policy`; every mistake raises :class:`~agentaudit.errors.ConfigError`
naming the offending key.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from agentaudit.collector.ingest.redaction._validators import VALIDATORS
from agentaudit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ACTIONS",
    "DEFAULT_PACKS",
    "ENGINES",
    "Policy",
    "Rule",
    "available_packs",
    "compile_re2",
    "load_pack",
    "normalise_key",
    "parse_policy",
]

ACTIONS = ("mask", "hash", "drop")
ENGINES = ("auto", "hyperscan", "re2")
DEFAULT_PACKS = ("secrets", "pii")
SECTION = "[redaction]"
_SECTION_KEYS = frozenset(
    {
        "packs",
        "disable",
        "actions",
        "rules",
        "allow",
        "allow_patterns",
        "exempt_attributes",
        "engine",
        "key",
        "key_file",
    }
)
_RULE_KEYS = frozenset(
    {
        "name",
        "description",
        "pattern",
        "group",
        "keys",
        "action",
        "validator",
        "casefold",
        "scan_set",
    }
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_KEY_SEPARATORS = str.maketrans("", "", "_-. ")


def normalise_key(key: str) -> str:
    """A key as key rules see it: lowercased, without ``_ - .`` and spaces."""
    return key.lower().translate(_KEY_SEPARATORS)


@dataclass(frozen=True)
class Rule:
    """One redaction rule: a content rule (``pattern``) or a key rule (``keys``).

    Content rules search every string value with ``pattern`` (RE2 syntax) and replace
    capture ``group`` (0: the whole match) of each match that passes ``validator``.
    Key rules replace the whole value stored under any key whose normalised form ends
    with one of ``keys``. ``scan_set`` is a performance hint: patterns of one set are
    compiled into one Hyperscan database (patterns without a literal anchor, such as
    digit runs, scan faster in a set of their own).
    """

    name: str
    action: str
    pattern: str | None = None
    group: int = 0
    keys: tuple[str, ...] = ()
    validator: str | None = None
    casefold: bool = False
    description: str = ""
    scan_set: str = "default"
    origin: str = ""

    @property
    def is_key_rule(self) -> bool:
        return self.pattern is None


@dataclass(frozen=True)
class Policy:
    """The validated ``[redaction]`` section: rules in precedence order and allow-lists."""

    rules: tuple[Rule, ...]
    allow: frozenset[bytes] = frozenset()
    allow_patterns: tuple[str, ...] = ()
    exempt_attributes: frozenset[str] = frozenset()
    engine: str = "auto"
    key: str | None = None
    key_file: Path | None = None

    @property
    def content_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if not r.is_key_rule)

    @property
    def key_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.is_key_rule)

    @property
    def uses_hash(self) -> bool:
        return any(r.action == "hash" for r in self.rules)


def compile_re2(pattern: str, origin: str) -> Any:
    """Compile ``pattern`` with RE2 over bytes; ConfigError naming ``origin`` if invalid."""
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        compiled = re2.compile(pattern.encode(), options)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args else str(exc)
        raise ConfigError(
            f"{origin}: {pattern!r} is not a valid RE2 pattern ({detail}); "
            "backreferences and lookarounds are not supported"
        ) from None
    if compiled.search(b"") is not None:
        raise ConfigError(f"{origin}: {pattern!r} matches the empty string")
    return compiled


def available_packs() -> list[str]:
    """Names of the packaged rule packs."""
    folder = resources.files("agentaudit.collector.ingest.redaction") / "rules"
    return sorted(
        e.name.removesuffix(".toml") for e in folder.iterdir() if e.name.endswith(".toml")
    )


def _strings(value: Any, origin: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: expected a list of strings, got {value!r}")
    return tuple(value)


def _action(value: Any, origin: str) -> str:
    if value not in ACTIONS:
        raise ConfigError(f"{origin}: unknown action {value!r}; use one of {', '.join(ACTIONS)}")
    return str(value)


def _rule(table: Any, origin: str) -> Rule:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{origin}: a rule must be a table, got {table!r}")
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown rule field(s) {', '.join(unknown)}")
    name = table.get("name")
    if not isinstance(name, str) or not name or not set(name) <= _NAME_CHARS:
        raise ConfigError(f"{origin}: rule name {name!r} must be lowercase letters, digits, _")
    origin = f"{origin} ({name})"
    pattern = table.get("pattern")
    keys = table.get("keys")
    if (pattern is None) == (keys is None):
        raise ConfigError(f"{origin}: give exactly one of 'pattern' or 'keys'")
    group = table.get("group", 0)
    if not isinstance(group, int) or isinstance(group, bool) or group < 0:
        raise ConfigError(f"{origin}: group must be a non-negative integer, got {group!r}")
    validator = table.get("validator")
    if validator is not None and validator not in VALIDATORS:
        raise ConfigError(
            f"{origin}: unknown validator {validator!r}; use one of {', '.join(VALIDATORS)}"
        )
    casefold = table.get("casefold", False)
    if not isinstance(casefold, bool):
        raise ConfigError(f"{origin}: casefold must be true or false")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{origin}: description must be a string")
    scan_set = table.get("scan_set", "default")
    if not isinstance(scan_set, str) or not scan_set:
        raise ConfigError(f"{origin}: scan_set must be a non-empty string")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise ConfigError(f"{origin}: pattern must be a string")
        compiled = compile_re2(pattern, f"{origin} pattern")
        if group > compiled.groups:
            raise ConfigError(f"{origin}: group {group} but the pattern has {compiled.groups}")
        normalised: tuple[str, ...] = ()
    else:
        normalised = tuple(normalise_key(k) for k in _strings(keys, f"{origin} keys"))
        if not normalised or not all(normalised):
            raise ConfigError(f"{origin}: keys must be non-empty words")
    return Rule(
        name=name,
        action=_action(table.get("action", "mask"), f"{origin} action"),
        pattern=pattern,
        group=group,
        keys=normalised,
        validator=validator,
        casefold=casefold,
        description=description,
        scan_set=scan_set,
        origin=origin,
    )


def load_pack(name: str) -> list[Rule]:
    """The rules of the packaged pack ``name`` (``rules/<name>.toml`` beside this module)."""
    if name not in available_packs():
        raise ConfigError(
            f"{SECTION} packs: unknown rule pack {name!r}; have {', '.join(available_packs())}"
        )
    text = (
        resources.files("agentaudit.collector.ingest.redaction") / "rules" / f"{name}.toml"
    ).read_text()
    data = tomllib.loads(text)
    return [_rule(t, f"rule pack {name} rule #{i + 1}") for i, t in enumerate(data["rule"])]


def parse_policy(section: Mapping[str, Any]) -> Policy:
    """Validate the ``[redaction]`` section (a plain dict) into a Policy."""
    unknown = sorted(set(section) - _SECTION_KEYS)
    if unknown:
        raise ConfigError(
            f"{SECTION}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_SECTION_KEYS))}"
        )
    packs = _strings(section.get("packs", list(DEFAULT_PACKS)), f"{SECTION} packs")
    builtin: list[Rule] = [rule for pack in packs for rule in load_pack(pack)]
    user = section.get("rules", [])
    if not isinstance(user, list):
        raise ConfigError(f"{SECTION} rules: expected [[redaction.rules]] tables")
    user_rules = [_rule(t, f"[[redaction.rules]] #{i + 1}") for i, t in enumerate(user)]
    names = [r.name for r in builtin]
    for rule in user_rules:
        if rule.name in names:
            raise ConfigError(
                f"{rule.origin}: a rule named {rule.name!r} already exists; "
                "change a built-in rule with [redaction] actions or disable it with disable"
            )
        names.append(rule.name)
    # User rules come first: they describe formats the packs do not know, so they win
    # where matches overlap.
    rules = user_rules + builtin

    disabled = _strings(section.get("disable", []), f"{SECTION} disable")
    _known_names(disabled, names, f"{SECTION} disable")
    actions = section.get("actions", {})
    if not isinstance(actions, Mapping):
        raise ConfigError(f"{SECTION} actions: expected a table of rule = action")
    _known_names(list(actions), names, f"{SECTION} actions")
    final = tuple(
        _replace_action(r, _action(actions[r.name], f"{SECTION} actions.{r.name}"))
        if r.name in actions
        else r
        for r in rules
        if r.name not in disabled
    )

    allow_patterns = _strings(section.get("allow_patterns", []), f"{SECTION} allow_patterns")
    for index, pattern in enumerate(allow_patterns):
        compile_re2(pattern, f"{SECTION} allow_patterns[{index}]")
    engine = section.get("engine", "auto")
    if engine not in ENGINES:
        raise ConfigError(f"{SECTION} engine: {engine!r} is not one of {', '.join(ENGINES)}")
    key = section.get("key")
    if key is not None and not isinstance(key, str):
        raise ConfigError(f"{SECTION} key: expected a string")
    key_file = section.get("key_file")
    if key_file is not None and not isinstance(key_file, str):
        raise ConfigError(f"{SECTION} key_file: expected a path string")
    if key is not None and key_file is not None:
        raise ConfigError(f"{SECTION}: give either key or key_file, not both")
    return Policy(
        rules=final,
        allow=frozenset(a.encode() for a in _strings(section.get("allow", []), f"{SECTION} allow")),
        allow_patterns=allow_patterns,
        exempt_attributes=frozenset(
            _strings(section.get("exempt_attributes", []), f"{SECTION} exempt_attributes")
        ),
        engine=str(engine),
        key=key,
        key_file=Path(key_file).expanduser() if key_file else None,
    )


def _known_names(given: Sequence[str], names: Sequence[str], origin: str) -> None:
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(f"{origin}: unknown rule(s) {', '.join(unknown)}")


def _replace_action(rule: Rule, action: str) -> Rule:
    from dataclasses import replace

    return replace(rule, action=action)
