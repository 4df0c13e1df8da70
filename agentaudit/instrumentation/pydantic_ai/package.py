"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("pydantic-ai-slim >= 1.107, < 3",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("pydantic-ai-slim", (1, 107), (3,))
"""What ``instrument()`` checks before adding the capability to agent runs."""
