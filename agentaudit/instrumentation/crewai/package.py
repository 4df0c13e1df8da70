"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("crewai >= 1.14.1, < 2",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("crewai", (1, 14, 1), (2,))
"""What ``instrument()`` checks before registering hooks and wrapping tools."""
