"""Installed-version checks for framework integrations.

An integration declares the tested range of its framework in its ``package.py`` as
``(distribution, lower inclusive, upper exclusive)``; :func:`check_supported` compares the
installed version against it before anything is patched. An unsupported or missing
version logs one warning per distribution and returns False, so the integration stays off
instead of breaking the agent.
"""

from __future__ import annotations

import logging
import re
from importlib import metadata

__all__ = [
    "VersionRange",
    "check_supported",
    "describe",
    "parse_version",
    "reset_warnings",
]

log = logging.getLogger("agentaudit.instrumentation")

VersionRange = tuple[str, tuple[int, ...], tuple[int, ...]]
"""(distribution name, lowest supported version, first unsupported version)."""

_LEADING = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")
_warned: set[str] = set()


def parse_version(text: str) -> tuple[int, ...]:
    """The leading release numbers of ``text`` (``"2.3.0rc1"`` -> ``(2, 3, 0)``).

    Raises ValueError when ``text`` does not start with a number.
    """
    found = _LEADING.match(text)
    if found is None:
        raise ValueError(f"agentaudit: cannot read a version number from {text!r}")
    return tuple(int(part) for part in found.group(1).split("."))


def _pad(version: tuple[int, ...], width: int) -> tuple[int, ...]:
    return version + (0,) * (width - len(version))


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def check_supported(spec: VersionRange, installed: str | None = None) -> bool:
    """True when the installed ``spec[0]`` lies in ``[spec[1], spec[2])``.

    ``installed`` overrides the version read from the distribution metadata (tests).
    Otherwise logs one warning (once per distribution) and returns False.
    """
    name, lower, upper = spec
    try:
        text = installed if installed is not None else metadata.version(name)
        version = parse_version(text)
    except (metadata.PackageNotFoundError, ValueError) as exc:
        _warn_once(
            name,
            f"agentaudit: cannot determine the version of {name} ({exc}); "
            "its integration stays off",
        )
        return False
    width = max(len(version), len(lower), len(upper))
    if _pad(lower, width) <= _pad(version, width) < _pad(upper, width):
        return True
    _warn_once(
        name,
        f"agentaudit: {name} {text} is outside the supported range "
        f">={_dotted(lower)},<{_dotted(upper)}; its integration stays off",
    )
    return False


def describe(spec: VersionRange, installed: str | None = None) -> tuple[bool, str]:
    """(in range, what to say) for the startup line, from the distribution metadata only
    (the framework is not imported): ``"langchain-core 1.8.3"``, ``"not installed"`` or
    ``"crewai 1.2.0 outside >=1.14.1,<2"``. Logs nothing."""
    name, lower, upper = spec
    try:
        text = installed if installed is not None else metadata.version(name)
    except metadata.PackageNotFoundError:
        return False, "not installed"
    try:
        version = parse_version(text)
    except ValueError:
        return False, f"{name} {text}: unreadable version"
    width = max(len(version), len(lower), len(upper))
    if _pad(lower, width) <= _pad(version, width) < _pad(upper, width):
        return True, f"{name} {text}"
    return False, f"{name} {text} outside >={_dotted(lower)},<{_dotted(upper)}"


def _warn_once(name: str, message: str) -> None:
    if name in _warned:
        return
    _warned.add(name)
    log.warning("%s", message)


def reset_warnings() -> None:
    """Forget which distributions were warned about (tests)."""
    _warned.clear()
