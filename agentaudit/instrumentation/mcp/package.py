"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("mcp >= 2, < 3",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("mcp", (2,), (3,))
"""What ``instrument()`` checks before patching: the 2.x SDK (server middleware seam)."""
