"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("strands-agents >= 1.40, < 2",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("strands-agents", (1, 40), (2,))
"""What ``instrument()`` checks before adding the hooks."""
