"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("autogen-agentchat >= 0.7, < 0.8",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("autogen-agentchat", (0, 7), (0, 8))
"""What ``instrument()`` checks before wrapping anything."""
