"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("openai-agents >= 0.17, < 1",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("openai-agents", (0, 17), (1,))
"""What ``instrument()`` checks before installing anything (tested: 0.17.0 and 0.24.0)."""
