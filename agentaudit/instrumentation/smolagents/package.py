"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("smolagents >= 1.24, < 2",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("smolagents", (1, 24), (2,))
"""What ``instrument()`` checks before wrapping anything."""
