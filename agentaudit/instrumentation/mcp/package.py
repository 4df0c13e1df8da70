"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("mcp >= 1.28, < 3",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("mcp", (1, 28), (3,))
"""What ``instrument()`` checks before patching: mcp 1.28 (the first 1.x release of the
last six months, 2026-06-16) up to 2.x; the seams differ by major version (see
:mod:`._install`)."""
